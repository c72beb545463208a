"""When a scale's target is reached: Ready pods, or (for pods whose readiness waits on their models) started ones."""

from __future__ import annotations

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_objects import pod_started
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_scale import target_state
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_timeline import PodTimeline

from _pods import pod as _pod


def _running(name: str, started: bool, ready: bool) -> dict:
    pod = _pod(name, [{"type": "Ready", "status": "True" if ready else "False", "reason": "" if ready else "ContainersNotReady"}])
    pod["status"].update(phase="Running", containerStatuses=[{"name": "ollama", "started": started, "ready": ready, "state": {"running": {}}}])
    return pod


def _state(pods: list[dict], ready: bool, ready_replicas: int) -> tuple[bool, list[str]]:
    timeline = PodTimeline()
    for pod in pods:
        timeline.apply(pod, "ADDED", 0.0, seed=True)
    deploy = {"status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": ready_replicas}}
    return target_state(deploy, timeline, 2, 2, True, ready=ready)


def test_started_pods_reach_a_started_target_but_not_a_ready_one() -> None:
    pods = [_running("a", started=True, ready=False), _running("b", started=True, ready=False)]
    assert _state(pods, ready=False, ready_replicas=0) == (True, [])
    done, waiting = _state(pods, ready=True, ready_replicas=0)
    assert not done
    assert "Deployment status has 0 ready replicas, want 2" in waiting
    assert any(w.startswith("pod a (Running, no node) is not Ready") for w in waiting), waiting


def test_a_pod_still_in_its_startup_probe_is_not_started() -> None:
    pods = [_running("a", started=True, ready=False), _running("b", started=False, ready=False)]
    done, waiting = _state(pods, ready=False, ready_replicas=0)
    assert not done
    assert [w for w in waiting if w.startswith("pod ")] == ["pod b (Running, no node) is not started: Ready=False (ContainersNotReady)"], waiting


def test_pod_started_needs_every_container_running() -> None:
    pod = _running("a", started=True, ready=False)
    assert pod_started(pod)
    pod["status"]["containerStatuses"].append({"name": "side", "started": False, "state": {"waiting": {"reason": "ContainerCreating"}}})
    assert not pod_started(pod)
    assert not pod_started(_pod("pending"))
