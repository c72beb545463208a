"""The drill report built from scale-and-watch timelines: summary figures, the SVG, the Markdown, the module writing them."""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Callable

from ansible_collections.mlops.ollama.plugins.module_utils import _drill_report as report
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_timeline import PodTimeline

from _pods import pod as _pod


def _scale_result(start: float) -> dict[str, Any]:
    tl = PodTimeline()
    old = _pod("ollama-a", [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-06T09:00:00Z"}])
    old["status"]["phase"] = "Running"
    old["spec"]["nodeName"] = "node-0"
    tl.apply(old, "ADDED", start, seed=True)
    new = _pod("ollama-b")
    tl.apply(new, "ADDED", start + 0.1)
    new["spec"]["nodeName"] = "node-1"
    new["status"].update(phase="Running", conditions=[{"type": "PodScheduled", "status": "True"}, {"type": "Ready", "status": "True"}])
    tl.apply(new, "MODIFIED", start + 1.4)
    up = {"pods": tl.report(), "started_t": start, "requested_t": start + 0.05, "detected_t": start + 1.41, "elapsed_s": 1.36, "watch": {}}
    new["metadata"].update(deletionTimestamp="x", deletionGracePeriodSeconds=30)
    tl.apply(new, "MODIFIED", start + 5.0)
    tl.apply(new, "DELETED", start + 6.5)
    down = {"pods": tl.report(), "started_t": start + 4.9, "requested_t": start + 4.95, "detected_t": start + 6.51, "elapsed_s": 1.56, "watch": {}}
    return {
        "namespace": "ml",
        "deployment": "ollama",
        "replicas_before": 1,
        "replicas_target": 2,
        "replicas_after": 1,
        "outcome": "passed",
        "started_t": start,
        "finished_t": start + 8,
        "scale_up": up,
        "scale_down": down,
        "request_loop": {"checks": {"load": {"completed": 40, "failures": 0, "p50_s": 0.1, "p95_s": 0.2}}},
        "events": {
            "events": [{"time": "t", "type": "Normal", "reason": "Killing", "object": "Pod/ollama-b", "message": "Stopping | container"}],
            "missing_reasons": [],
        },
    }


def test_summary_figures() -> None:
    summary = report.summarise(_scale_result(1767693600.0))
    assert summary["new_pods"] == 1
    assert summary["ready_after_s_max"] == 1.3
    assert summary["pods_terminated"] == 1
    assert summary["terminations_graceful"] == 1
    assert summary["terminations_forced"] == 0
    assert summary["request_loop_failures"] == 0
    assert summary["scale_down_s"] == 1.56


def test_svg_is_well_formed_and_has_a_row_per_pod() -> None:
    drill = _scale_result(1767693600.0)
    svg = report.render_svg(drill, report.summarise(drill))
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert "ollama-a" in texts and "ollama-b" in texts
    assert "surplus gone" in texts and "all Ready" in texts
    # ollama-b: pending, starting... each segment is a rect with a title naming the phase.
    titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title") if t.text and t.text.startswith("ollama-b")]
    assert any("Ready from" in t for t in titles) and any("Terminating from" in t for t in titles)


def test_markdown_escapes_pipes_and_lists_pods() -> None:
    drill = _scale_result(1767693600.0)
    md = report.render_markdown(drill, report.summarise(drill), "x.svg")
    assert "Stopping \\| container" in md
    assert "| ollama-a (before) | node-0 |" in md
    assert "![pod timeline](x.svg)" in md
    assert "40 requests, 0 failures" in md


def test_report_module_check_mode_then_write_then_unchanged(tmp_path: Path, run_module: Callable[..., dict]) -> None:
    args = {"dest": str(tmp_path / "r"), "basename": "d", "drill": _scale_result(1767693600.0)}
    checked = run_module("scale_drill_report", args, check_mode=True)
    assert checked["changed"] is True
    assert not (tmp_path / "r").exists()
    first = run_module("scale_drill_report", args)
    assert first["changed"] is True
    assert sorted(os.listdir(tmp_path / "r")) == ["d.json", "d.md", "d.svg"]
    assert json.loads((tmp_path / "r" / "d.json").read_text())["summary"]["outcome"] == "passed"
    second = run_module("scale_drill_report", args)
    assert second["changed"] is False


def test_report_module_rejects_a_path_as_basename(tmp_path: Path, run_module: Callable[..., dict]) -> None:
    res = run_module("scale_drill_report", {"dest": str(tmp_path), "basename": "../x", "drill": {}})
    assert res["failed"] and "basename must be a plain file name" in res["msg"]
