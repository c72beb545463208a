"""2. Site rerun: how much cheaper is the idempotent second run of playbooks/site.yml than the first?

Two pairs of runs, each pair on a fresh namespace and a fresh, empty Ollama of its own (so the
first run really deploys and pulls): without the drill (--skip-tags scale,validate) and with it.
The whole ansible-playbook process is timed; changed tasks come from the ansible.posix.json callback.

Deviations from inventories/local, and why: the namespace is ours (bench-site-*); the models are
pulled into our own extra Ollama (the stack's shared one already has them, which would make the
first run a rerun); storage is emptyDir, because the stack's 12 static PersistentVolumes are
shared with other scenarios and a deleted claim leaves its volume Released; the drill's probes
and request loop still go to the stack's Ollama, whose log the kwok pods serve (the drill reads it).
"""

from __future__ import annotations

import datetime
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .common import REPO, BenchResult, ExtraOllama, Row, delete_namespaces, log, run_timed, stack_env, tool_env

NAME = "site"
DRILL_TAGS = ("scale", "validate")
DRILL_ROLE = "mlops.ollama.scale_validate : "
SLOWEST = 12
PAIRS = (("without the drill", ["--skip-tags", ",".join(DRILL_TAGS)]), ("with the drill", []))


def site_run(extra_vars: Path, args: list[str]) -> dict[str, Any]:
    env = tool_env({"ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_NOCOLOR": "1", "ANSIBLE_SHOW_CUSTOM_STATS": "false"})
    argv = ["ansible-playbook", "-i", str(REPO / "inventories" / "local"), str(REPO / "playbooks" / "site.yml"), "-e", f"@{extra_vars}", *args]
    timed = run_timed(argv, env=env, check=False, timeout=900)
    try:
        report = json.loads(timed.stdout)
    except ValueError:
        raise RuntimeError(f"ansible-playbook {' '.join(args)} printed no report (rc {timed.rc}): {timed.stderr[-1500:]}") from None
    changed, failed = [], []
    durations: dict[str, float] = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            name, took = task["task"]["name"], task["task"].get("duration") or {}
            if took.get("start") and took.get("end"):
                seconds = (_parse(took["end"]) - _parse(took["start"])).total_seconds()
                durations[name] = durations.get(name, 0.0) + seconds
            for host in task["hosts"].values():
                if host.get("changed"):
                    changed.append(task["task"]["name"])
                if host.get("failed") and not host.get("ignore_errors"):
                    failed.append(f"{task['task']['name']}: {str(host.get('msg'))[:500]}")
    if timed.rc != 0:
        raise RuntimeError(f"ansible-playbook {' '.join(args)} failed (rc {timed.rc}): {failed or timed.stderr[-1500:]}")
    stats = report["stats"]["localhost"]
    return {
        "wall_s": timed.wall,
        "changed": stats["changed"],
        "ok": stats["ok"],
        "changed_tasks": changed,
        "tasks": sum(len(p["tasks"]) for p in report["plays"]),
        "tasks_s": round(sum(durations.values()), 1),
        "slowest_tasks_s": {name: round(took, 2) for name, took in sorted(durations.items(), key=lambda kv: -kv[1])[:SLOWEST]},
    }


def _parse(stamp: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def run(rounds: int) -> BenchResult:
    del rounds  # one pair of runs per variant: each first run needs a fresh namespace and Ollama
    result = BenchResult(NAME, rounds=1)
    reports = Path(tempfile.mkdtemp(prefix="bench-site-"))
    try:
        for index, (label, args) in enumerate(PAIRS):
            ns = f"bench-site-{index}"
            server = ExtraOllama(ns)
            try:
                server.wipe()
                extra_vars = reports / f"{ns}.json"
                extra_vars.write_text(
                    json.dumps(
                        {
                            "k3s_ml_namespace_name": ns,
                            "ollama_deploy_storage": "emptydir",
                            "model_sync_url": server.url,
                            "scale_validate_url": stack_env()["MLOPS_OLLAMA_URL"],
                            "scale_validate_report_dir": str(reports / ns),
                        }
                    )
                )
                first = site_run(extra_vars, args)
                second = site_run(extra_vars, args)
            finally:
                server.stop()
                delete_namespaces([ns])
            log(f"site {label}: first {first['wall_s']:.1f} s ({first['changed']} changed), second {second['wall_s']:.1f} s ({second['changed']} changed)")
            result.details[label] = {"first": first, "second": second}
            drill_changes = [t.replace(str(reports), "<reports>") for t in second["changed_tasks"] if t.startswith(DRILL_ROLE)]
            result.rows += [
                Row.make(NAME, f"first run, {label}", first["wall_s"]),
                Row.make(NAME, f"second run, {label}", second["wall_s"], baseline="first run", baseline_value=first["wall_s"], max_ratio=0.6),
                Row.make(
                    NAME,
                    f"changed= in the second run, {label}",
                    second["changed"],
                    unit="",
                    equals=0,
                    note=f"{len(drill_changes)} of them in the drill: {', '.join(sorted(set(drill_changes)))}" if drill_changes else "",
                ),
            ]
    finally:
        shutil.rmtree(reports, ignore_errors=True)
    return result
