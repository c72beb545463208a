"""The per-pod timeline: each phase once, server times for what came before, the live pods."""

from __future__ import annotations

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_timeline import PodTimeline

from _pods import pod as _pod


def test_timeline_records_each_phase_once_and_keeps_the_first_grace_period() -> None:
    tl = PodTimeline()
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
    tl = PodTimeline()
    pod = _pod("web-2")
    tl.apply(pod, "ADDED", 10.0)
    pod["metadata"].update(deletionTimestamp="2026-01-06T10:00:00Z", deletionGracePeriodSeconds=0)
    tl.apply(pod, "DELETED", 10.2)
    (rec,) = tl.report()
    assert rec["forced"] is True


def test_timeline_sync_marks_unlisted_pods_gone() -> None:
    tl = PodTimeline()
    tl.apply(_pod("a"), "ADDED", 1.0)
    tl.apply(_pod("b"), "ADDED", 1.0)
    tl.sync([_pod("a")], 5.0)
    recs = {r["name"]: r for r in tl.report()}
    assert recs["b"]["gone_t"] == 5.0
    assert recs["b"]["sources"]["gone"] == "relist"
    assert recs["a"]["gone_t"] is None


def test_seeded_pods_use_server_times() -> None:
    tl = PodTimeline()
    pod = _pod("old", [{"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-01-06T10:00:01Z"}])
    pod["spec"]["nodeName"] = "n"
    tl.apply(pod, "ADDED", 9999999999.0, seed=True)
    (rec,) = tl.report()
    assert rec["pre_existing"] is True
    assert rec["created_t"] == 1767693600.0
    assert rec["scheduled_t"] == 1767693601.0
    assert rec["sources"]["created"] == "server"


def test_live_pods_are_the_live_ones_sorted_by_name_with_ready_times() -> None:
    tl = PodTimeline()
    old = _pod("web-b", [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-06T10:00:04Z"}])
    old["spec"]["nodeName"] = "node-1"
    old["status"].update(phase="Running", podIP="10.0.0.2")
    tl.apply(old, "ADDED", 500.0, seed=True)
    new = _pod("web-a")
    tl.apply(new, "ADDED", 600.0)
    new["status"]["phase"] = "Running"
    new["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    tl.apply(new, "MODIFIED", 602.5)
    leaving = _pod("web-c", deletionTimestamp="2026-01-06T10:01:00Z")
    tl.apply(leaving, "ADDED", 601.0)
    assert tl.live_pods() == [
        {
            "name": "web-a",
            "node": None,
            "phase": "Running",
            "ip": None,
            "ready": True,
            "created": "1970-01-01T00:10:00.000Z",
            "ready_time": "1970-01-01T00:10:02.500Z",
            "seconds_to_ready": 2.5,
        },
        {
            "name": "web-b",
            "node": "node-1",
            "phase": "Running",
            "ip": "10.0.0.2",
            "ready": True,
            "created": "2026-01-06T10:00:00.000Z",
            "ready_time": "2026-01-06T10:00:04.000Z",
            "seconds_to_ready": 4.0,
        },
    ]


def test_a_pod_not_ready_any_more_has_no_ready_time() -> None:
    tl = PodTimeline()
    pod = _pod("web-a", [{"type": "Ready", "status": "True"}])
    tl.apply(pod, "ADDED", 10.0)
    pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
    tl.apply(pod, "MODIFIED", 11.0)
    (live,) = tl.live_pods()
    assert live["ready"] is False and live["ready_time"] is None and live["seconds_to_ready"] is None
