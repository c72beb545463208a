"""The scaling drill's report: private file modes and what the restore did (scale_drill_report module)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from ansible_collections.mlops.ollama.plugins.module_utils import _drill_report as report

FAILED_RESTORE = {
    "namespace": "ml",
    "deployment": "ollama",
    "replicas_before": 1,
    "replicas_target": 2,
    "outcome": "failed",
    "failed_step": "Scale back and watch the surplus pods leave, to 1",
    "failure_msg": "Deployment ml/ollama was not found",
    "restore": {
        "replicas": {"restored": False, "target": 1, "ready": None, "error": "Deployment ml/ollama was not found"},
        "hpa": {"name": "ollama", "pinned": True, "restored": True, "min_replicas": 1, "max_replicas": 3, "error": None},
    },
}


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_report_files_are_readable_by_the_owner_only(tmp_path: Path, run_module) -> None:
    # The report holds the endpoint, pod names, log lines and events: not for every local user.
    res = run_module("scale_drill_report", {"dest": str(tmp_path / "r"), "basename": "d", "drill": FAILED_RESTORE})
    assert res["changed"] is True
    assert sorted(os.listdir(tmp_path / "r")) == ["d.json", "d.md", "d.svg"]
    assert {name: _mode(tmp_path / "r" / name) for name in os.listdir(tmp_path / "r")} == {"d.json": 0o600, "d.md": 0o600, "d.svg": 0o600}


def test_a_report_left_readable_by_others_is_tightened_even_when_its_content_is_the_same(tmp_path: Path, run_module) -> None:
    args = {"dest": str(tmp_path), "basename": "d", "drill": FAILED_RESTORE, "formats": ["json"]}
    run_module("scale_drill_report", args)
    os.chmod(tmp_path / "d.json", 0o644)
    checked = run_module("scale_drill_report", args, check_mode=True)
    assert checked["changed"] is True and _mode(tmp_path / "d.json") == 0o644
    again = run_module("scale_drill_report", args)
    assert again["changed"] is True and _mode(tmp_path / "d.json") == 0o600
    assert run_module("scale_drill_report", args)["changed"] is False


def test_the_summary_says_which_parts_were_restored(tmp_path: Path, run_module) -> None:
    res = run_module("scale_drill_report", {"dest": str(tmp_path), "basename": "d", "drill": FAILED_RESTORE})
    assert res["summary"]["restored"] is False
    assert res["summary"]["replicas_restored"] is False
    assert res["summary"]["hpa_restored"] is True
    written = json.loads((tmp_path / "d.json").read_text())
    assert written["summary"]["replicas_restored"] is False
    assert written["drill"]["restore"]["hpa"]["restored"] is True


def test_the_markdown_has_a_restore_section_naming_what_was_not_restored() -> None:
    md = report.render_markdown(FAILED_RESTORE, report.summarise(FAILED_RESTORE), None)
    section = md.split("## Restore", 1)[1].split("\n## ", 1)[0]
    assert "| replicas | **no** | to 1: Deployment ml/ollama was not found |" in section
    assert "| HPA ollama | yes | minReplicas 1, maxReplicas 3 |" in section


def test_no_hpa_and_a_clean_restore() -> None:
    drill = dict(FAILED_RESTORE, restore={"replicas": {"restored": True, "target": 1, "ready": 1}, "hpa": {"name": None, "pinned": False}})
    summary = report.summarise(drill)
    assert summary["restored"] is True and summary["replicas_restored"] is True and summary["hpa_restored"] is None
    section = report.render_markdown(drill, summary, None).split("## Restore", 1)[1]
    assert "| replicas | yes | to 1, 1 Ready |" in section
    assert "| HPA | - | none targets the Deployment |" in section


def test_restored_given_without_parts_is_kept() -> None:
    # Older callers pass only the overall flag.
    assert report.summarise({"restored": True})["restored"] is True
    assert report.summarise({})["restored"] is None
