"""Unit tests of the watch modules' pure logic, the report renderer, and the modules' input checks.

The input checks run the real modules (``patch_module_args``) against the local stack's real
kube-apiserver, which tells them whether a Deployment exists.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlops.ollama.plugins.module_utils import _drill_report as report
from ansible_collections.mlops.ollama.plugins.module_utils import _k8s_watch as kw


def run_module(name: str, args: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    import importlib

    module = importlib.import_module(f"ansible_collections.mlops.ollama.plugins.modules.{name}")
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    out = capsys.readouterr().out
    return json.loads(out)


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]}]}, "tier in (x,y)"),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]}, "tier notin (x)"),
        ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}, {"key": "old", "operator": "DoesNotExist"}]}, "gpu,!old"),
        ({}, ""),
        (None, ""),
    ],
)
def test_label_selector(selector: Any, expected: str) -> None:
    assert kw.label_selector(selector) == expected


def test_label_selector_rejects_unknown_operator() -> None:
    with pytest.raises(kw.K8sInputError, match="Unsupported label selector operator 'Gt'"):
        kw.label_selector({"matchExpressions": [{"key": "k", "operator": "Gt", "values": ["1"]}]})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-06T10:00:00Z", 1767693600.0),
        ("2026-01-06T10:00:00.250000Z", 1767693600.25),
        ("2026-01-06T11:00:00+01:00", 1767693600.0),
        ("", None),
        (None, None),
        ("yesterday", None),
    ],
)
def test_parse_time(value: Any, expected: float | None) -> None:
    assert kw.parse_time(value) == expected


def test_iso_round_trips_with_milliseconds() -> None:
    assert kw.iso(1767693600.25) == "2026-01-06T10:00:00.250Z"
    assert kw.parse_time(kw.iso(1767693600.25)) == 1767693600.25


def _pod(name: str, conds: list[dict[str, str]] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": "2026-01-06T10:00:00Z", **meta},
        "spec": {"terminationGracePeriodSeconds": 30},
        "status": {"phase": "Pending", "conditions": conds or []},
    }


def test_last_condition_prefers_scheduling_problems() -> None:
    pod = _pod(
        "p",
        [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
        ],
    )
    cond = kw.last_condition(pod)
    assert cond["type"] == "PodScheduled"
    assert kw.describe_condition(cond) == "PodScheduled=False (Unschedulable): 0/3 nodes are available"
    assert kw.describe_condition({}) == "no conditions yet (not scheduled)"


def test_timeline_records_each_phase_once_and_keeps_the_first_grace_period() -> None:
    tl = kw.PodTimeline()
    pod = _pod("web-1")
    tl.apply(pod, "ADDED", 100.0)
    pod["spec"]["nodeName"] = "node-a"
    pod["status"]["conditions"] = [{"type": "PodScheduled", "status": "True"}]
    tl.apply(pod, "MODIFIED", 100.5)
    pod["status"]["phase"] = "Running"
    pod["status"]["conditions"].append({"type": "Ready", "status": "True"})
    tl.apply(pod, "MODIFIED", 101.0)
    tl.apply(pod, "MODIFIED", 101.5)  # nothing new: no duplicate entries
    pod["metadata"].update(deletionTimestamp="2026-01-06T10:00:31Z", deletionGracePeriodSeconds=30)
    pod["status"]["conditions"][-1] = {"type": "Ready", "status": "False", "reason": "PodTerminating"}
    tl.apply(pod, "MODIFIED", 102.0)
    pod["metadata"]["deletionGracePeriodSeconds"] = 0  # the kubelet's final delete
    tl.apply(pod, "DELETED", 103.5)
    (rec,) = tl.report()
    assert [h["phase"] for h in rec["history"]] == ["created", "scheduled", "running", "ready", "not_ready", "deletion_requested", "gone"]
    assert rec["node"] == "node-a"
    assert rec["deletion_grace_period_s"] == 30
    assert rec["forced"] is False
    assert rec["termination_s"] == 1.5
    assert rec["gone_within_grace"] is True
    assert rec["phase"] == "Gone"
    assert rec["ready_after_s"] == 1.0


def test_timeline_flags_a_forced_delete() -> None:
    tl = kw.PodTimeline()
    pod = _pod("web-2")
    tl.apply(pod, "ADDED", 10.0)
    pod["metadata"].update(deletionTimestamp="2026-01-06T10:00:00Z", deletionGracePeriodSeconds=0)
    tl.apply(pod, "DELETED", 10.2)
    (rec,) = tl.report()
    assert rec["forced"] is True


def test_timeline_sync_marks_unlisted_pods_gone() -> None:
    tl = kw.PodTimeline()
    tl.apply(_pod("a"), "ADDED", 1.0)
    tl.apply(_pod("b"), "ADDED", 1.0)
    tl.sync([_pod("a")], 5.0)
    recs = {r["name"]: r for r in tl.report()}
    assert recs["b"]["gone_t"] == 5.0
    assert recs["b"]["sources"]["gone"] == "relist"
    assert recs["a"]["gone_t"] is None


def test_seeded_pods_use_server_times() -> None:
    tl = kw.PodTimeline()
    pod = _pod("old", [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-06T10:00:01Z"}])
    pod["spec"]["nodeName"] = "n"
    tl.apply(pod, "ADDED", 9999999999.0, seed=True)
    (rec,) = tl.report()
    assert rec["pre_existing"] is True
    assert rec["created_t"] == 1767693600.0
    assert rec["scheduled_t"] == 1767693601.0
    assert rec["sources"]["created"] == "server"


@pytest.mark.parametrize(
    ("containers", "init", "expected"),
    [
        ([{"resources": {"requests": {"cpu": "500m", "memory": "2Gi"}}}], [], {"cpu": 0.5, "memory": 2 * 2**30}),
        ([{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}], [], {"cpu": 1.0, "memory": 2**30}),
        ([{"resources": {"requests": {"cpu": "250m"}}}, {"resources": {"requests": {"cpu": "250m"}}}], [], {"cpu": 0.5, "memory": 0.0}),
        ([{"resources": {"requests": {"cpu": "100m"}}}], [{"resources": {"requests": {"cpu": "2"}}}], {"cpu": 2.0, "memory": 0.0}),
        ([{}], [], {"cpu": 0.0, "memory": 0.0}),
    ],
)
def test_pod_requests(containers: list[dict[str, Any]], init: list[dict[str, Any]], expected: dict[str, float]) -> None:
    assert kw.pod_requests({"containers": containers, "initContainers": init}) == expected


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"lastTimestamp": "2026-01-06T10:00:05Z", "eventTime": None, "firstTimestamp": "2026-01-06T10:00:00Z"}, 1767693605.0),
        ({"lastTimestamp": None, "eventTime": "2026-01-06T10:00:03.500000Z"}, 1767693603.5),
        ({"series": {"lastObservedTime": "2026-01-06T10:00:09.000000Z"}, "eventTime": "2026-01-06T10:00:03.000000Z"}, 1767693609.0),
        ({"metadata": {"creationTimestamp": "2026-01-06T10:00:01Z"}}, 1767693601.0),
    ],
)
def test_event_time(event: dict[str, Any], expected: float) -> None:
    assert kw.event_time(event) == expected


def _scale_result(start: float) -> dict[str, Any]:
    tl = kw.PodTimeline()
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


def test_report_module_check_mode_then_write_then_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = {"dest": str(tmp_path / "r"), "basename": "d", "drill": _scale_result(1767693600.0)}
    checked = run_module("scale_drill_report", dict(args, _ansible_check_mode=True), capsys)
    assert checked["changed"] is True
    assert not (tmp_path / "r").exists()
    first = run_module("scale_drill_report", args, capsys)
    assert first["changed"] is True
    assert sorted(os.listdir(tmp_path / "r")) == ["d.json", "d.md", "d.svg"]
    assert json.loads((tmp_path / "r" / "d.json").read_text())["summary"]["outcome"] == "passed"
    second = run_module("scale_drill_report", args, capsys)
    assert second["changed"] is False


def test_report_module_rejects_a_path_as_basename(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    res = run_module("scale_drill_report", {"dest": str(tmp_path), "basename": "../x", "drill": {}}, capsys)
    assert res["failed"] and "basename must be a plain file name" in res["msg"]


# -- handing spec.replicas back ----------------------------------------------------------------------
APPLIER = {"manager": "mlops.ollama", "operation": "Apply", "subresource": ""}


def _entry(manager: str, operation: str, fields: dict[str, Any], subresource: str = "") -> dict[str, Any]:
    entry: dict[str, Any] = {"manager": manager, "operation": operation, "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        entry["subresource"] = subresource
    return entry


def _deployment(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"managedFields": list(entries)}}


def test_replicas_move_back_and_the_scale_entry_that_owned_only_them_goes() -> None:
    deploy = _deployment(
        _entry("mlops.ollama", "Apply", {"f:spec": {"f:template": {}}}),
        _entry(kw.SCALE_FIELD_MANAGER, "Update", {"f:spec": {"f:replicas": {}}}),
        _entry("kube-controller-manager", "Update", {"f:status": {"f:replicas": {}}}, subresource="status"),
    )
    assert kw.replicas_owner(deploy)["manager"] == kw.SCALE_FIELD_MANAGER
    fields = kw.managed_fields_with_replicas_owner(deploy, APPLIER)
    assert [e["manager"] for e in fields] == ["mlops.ollama", "kube-controller-manager"]
    assert fields[0]["fieldsV1"]["f:spec"] == {"f:template": {}, "f:replicas": {}}
    assert kw.replicas_owner({"metadata": {"managedFields": fields}}) == APPLIER
    assert deploy["metadata"]["managedFields"][1]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}, "the input is not modified"


def test_a_scale_entry_that_owns_more_keeps_the_rest() -> None:
    deploy = _deployment(
        _entry("mlops.ollama", "Apply", {"f:metadata": {"f:labels": {}}}),
        _entry("kubectl-scale", "Update", {"f:metadata": {"f:annotations": {}}, "f:spec": {"f:replicas": {}}}),
    )
    fields = kw.managed_fields_with_replicas_owner(deploy, APPLIER)
    assert fields[1]["fieldsV1"] == {"f:metadata": {"f:annotations": {}}}
    assert fields[0]["fieldsV1"] == {"f:metadata": {"f:labels": {}}, "f:spec": {"f:replicas": {}}}


@pytest.mark.parametrize(
    "entries",
    [
        pytest.param([_entry("mlops.ollama", "Apply", {"f:spec": {"f:replicas": {}}})], id="owner-already-owns-it"),
        pytest.param([_entry(kw.SCALE_FIELD_MANAGER, "Update", {"f:spec": {"f:replicas": {}}})], id="owner-has-no-entry-left"),
        pytest.param([_entry("mlops.ollama", "Update", {"f:spec": {}}), _entry("x", "Update", {"f:spec": {"f:replicas": {}}})], id="same-name-other-operation"),
    ],
)
def test_nothing_to_hand_back(entries: list[dict[str, Any]]) -> None:
    assert kw.managed_fields_with_replicas_owner(_deployment(*entries), APPLIER) is None
