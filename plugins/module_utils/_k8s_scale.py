# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Scale a Deployment and watch its pods until the target is reached; hand spec.replicas back to its owner.

PRIVATE: this file may change at any time; the public surface is the module k8s_scale_watch.

The steps: check the parameters (before any client exists), plan (read the Deployment, derive
the target, refuse the wrong direction), check capacity, start the watches, patch, wait on the
watches, finish (the timeline and the Deployment's status), and hand spec.replicas back.
"""

from __future__ import annotations

import queue
from typing import Any, Mapping

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_capacity import capacity_error, capacity_plan
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import (
    K8sApiError,
    K8sClient,
    K8sInputError,
    K8sTimeout,
    K8sWatchError,
    check_input,
)
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_replicas_owner import SCALE_FIELD_MANAGER, hand_replicas_back, replicas_owner
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_objects import (
    conditions,
    describe_condition,
    iso,
    label_selector,
    last_condition,
    now,
    pod_ready,
    pod_started,
)
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_timeline import PodTimeline
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_watch import Watch, next_before
from ansible_collections.mlops.ollama.plugins.module_utils._values import check_duration, check_k8s_name

SCALE_ARGSPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "namespace": {"type": "str", "required": True},
    "replicas": {"type": "int"},
    "direction": {"type": "str", "default": "any", "choices": ["any", "up", "down"]},
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "float", "default": 300},
    "wait_for_termination": {"type": "bool", "default": True},
    "wait_for": {"type": "str", "default": "ready", "choices": ["ready", "started"]},
    "capacity_check": {"type": "bool", "default": True},
    "replicas_owner": {
        "type": "dict",
        "options": {
            "manager": {"type": "str", "required": True},
            "operation": {"type": "str", "required": True, "choices": ["Apply", "Update"]},
            "subresource": {"type": "str", "default": ""},
        },
    },
}

# More than this is a typo (or a unit mix-up), not an Ollama fleet; it would also flood the watch.
MAX_REPLICAS = 1000
# A day: longer waits belong to a job runner, not a task.
MAX_WAIT_S = 86400.0


def check_scale_params(params: Mapping[str, Any]) -> None:
    """Every parameter that can be judged without the cluster; ValueError naming the parameter."""
    check_k8s_name(params.get("name"), "name")
    check_k8s_name(params.get("namespace"), "namespace", label=True)
    replicas = params.get("replicas")
    if replicas is not None and (isinstance(replicas, bool) or not isinstance(replicas, int) or not 0 <= replicas <= MAX_REPLICAS):
        raise ValueError(f"replicas={replicas!r} is not a replica count: give a whole number from 0 to {MAX_REPLICAS}")
    check_duration(params.get("wait_timeout"), "wait_timeout", maximum=MAX_WAIT_S)
    owner = params.get("replicas_owner")
    if owner and not str(owner.get("manager") or "").strip():
        raise ValueError("replicas_owner.manager is empty: give the field manager returned as replicas_owner by the call that scaled")


# ------------------------------------------------------------------------------------------------
# plan and check
# ------------------------------------------------------------------------------------------------
def _read_deployment(client: K8sClient, namespace: str, name: str) -> dict[str, Any]:
    try:
        return client.read_deployment(namespace, name)
    except K8sApiError as exc:
        if exc.status == 404:
            raise K8sInputError(
                f"Deployment {namespace}/{name} does not exist; check name and namespace (or deploy it first).", api_calls=client.api_calls
            ) from exc
        raise


def _check_direction(direction: str, before: int, target: int, deployment: str) -> None:
    if direction == "up" and target < before:
        raise K8sInputError(
            f"replicas={target} is below the current {before} replicas of Deployment {deployment}, but direction=up; "
            f"choose {before} or more (or direction=any).",
            replicas_before=before,
        )
    if direction == "down" and target > before:
        raise K8sInputError(
            f"replicas={target} is above the current {before} replicas of Deployment {deployment}, but direction=down; "
            f"choose {before} or fewer (or direction=any).",
            replicas_before=before,
        )


def _plan(client: K8sClient, params: Mapping[str, Any]) -> tuple[dict[str, Any], int, int]:
    """The Deployment as read, its replicas now, and the target; refuses a target that goes the wrong way."""
    namespace, name, wanted = params["namespace"], params["name"], params.get("replicas")
    deploy = _read_deployment(client, namespace, name)
    before = int((deploy.get("spec") or {}).get("replicas", 1))
    # Without replicas: wait for the Deployment as it is (a rollout, or an HPA's count); nothing is scaled.
    target = before if wanted is None else int(wanted)
    _check_direction(params.get("direction") or "any", before, target, f"{namespace}/{name}")
    return deploy, before, target


def _check_capacity(client: K8sClient, params: Mapping[str, Any], deploy: Mapping[str, Any], before: int, target: int) -> dict[str, Any] | None:
    if not params.get("capacity_check", True) or target <= before:
        return None
    plan = capacity_plan(client, deploy, target - before)
    if not plan["fits"]:
        deployment = f"{params['namespace']}/{params['name']}"
        raise capacity_error(plan, deployment, before, target, replicas_before=before, api_calls=client.api_calls)
    return plan


def _first_result(params: Mapping[str, Any], deploy: Mapping[str, Any], before: int, target: int, capacity: dict[str, Any] | None) -> dict[str, Any]:
    selector = label_selector((deploy.get("spec") or {}).get("selector"))
    result: dict[str, Any] = {
        "changed": before != target,
        "deployment": {"name": params["name"], "namespace": params["namespace"], "selector": selector, "replicas_before": before, "replicas": target},
        "replicas_owner": replicas_owner(deploy),
    }
    if capacity is not None:
        result["capacity"] = capacity
        if capacity.get("warning"):
            result["warnings"] = [f"Capacity check: {capacity['warning']}."]
    return result


# ------------------------------------------------------------------------------------------------
# watch and wait
# ------------------------------------------------------------------------------------------------
def target_state(
    deploy: Mapping[str, Any], timeline: PodTimeline, target: int, generation: int, wait_for_termination: bool, ready: bool = True
) -> tuple[bool, list[str]]:
    """Whether the Deployment and its pods have reached ``target``; else what is still missing.

    Without ``ready`` the pods need only have started (each container runs and passed its startup probe): pods whose
    readiness waits for something the caller does next, such as their models."""
    waiting: list[str] = []
    status = deploy.get("status") or {}
    if int(status.get("observedGeneration") or 0) < generation:
        waiting.append(f"the Deployment controller has not observed generation {generation} yet")
    counts = (("replicas", "replicas"), ("updatedReplicas", "updated replicas")) + ((("readyReplicas", "ready replicas"),) if ready else ())
    for field, label in counts:
        if int(status.get(field) or 0) != target:
            waiting.append(f"Deployment status has {int(status.get(field) or 0)} {label}, want {target}")
    live = timeline.live()
    if len(live) != target:
        waiting.append(f"{len(live)} live pods, want {target}")
    for pod in live:
        if not (pod_ready(pod) if ready else pod_started(pod)):
            meta = pod.get("metadata") or {}
            node = (pod.get("spec") or {}).get("nodeName") or "no node"
            phase = (pod.get("status") or {}).get("phase") or "Unknown"
            state = "Ready" if ready else "started"
            waiting.append(f"pod {meta.get('name')} ({phase}, {node}) is not {state}: {describe_condition(last_condition(pod))}")
    if wait_for_termination:
        for pod in timeline.terminating():
            meta = pod.get("metadata") or {}
            waiting.append(f"pod {meta.get('name')} is still terminating (deletion requested {meta.get('deletionTimestamp')} deadline)")
    return (not waiting, waiting)


def _deployment_problems(deploy: Mapping[str, Any]) -> list[str]:
    out = []
    for cond in conditions(deploy).values():
        if cond.get("type") == "ReplicaFailure" and cond.get("status") == "True" or cond.get("status") == "False":
            out.append(f"Deployment condition {describe_condition(cond)}")
    return out


def seeded_timeline(pods: Mapping[str, Any]) -> PodTimeline:
    """A timeline of the pods a list returned, with the server's own timestamps for what happened before."""
    timeline = PodTimeline()
    seeded = now()
    for pod in pods.get("items") or []:
        timeline.apply(pod, "ADDED", seeded, seed=True)
    return timeline


def _resource_version(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


class ScaleRun:
    """One scale: the watches of the pods and of the Deployment, the timeline they feed, the patch and the wait."""

    def __init__(self, client: K8sClient, params: Mapping[str, Any], deploy: dict[str, Any], target: int) -> None:
        self.client, self.params, self.deploy, self.target = client, params, deploy, target
        # Whether the pods must be Ready, or need only have started (wait_for=started).
        self.ready = params.get("wait_for", "ready") == "ready"
        self.namespace, self.name = params["namespace"], params["name"]
        self.selector = label_selector((deploy.get("spec") or {}).get("selector"))
        self.generation = int((deploy.get("metadata") or {}).get("generation") or 0)
        self.sink: "queue.Queue[tuple[Any, ...]]" = queue.Queue()
        self.timeline = PodTimeline()
        self.watches: list[Watch] = []
        self.requested = self.trigger = self.detected = 0.0

    def start(self) -> None:
        """List the pods (the timeline's starting point) and watch pods and Deployment from the versions read."""
        client, ns = self.client, self.namespace
        pods = client.list_pods(ns, self.selector)
        self.timeline = seeded_timeline(pods)
        self.watches = [
            Watch(client, "pod", client.pods_path(ns), _resource_version(pods), self.sink, {"labelSelector": self.selector}),
            Watch(client, "deployment", client.deployment_path(ns), _resource_version(self.deploy), self.sink, {"fieldSelector": f"metadata.name={self.name}"}),
        ]
        for watch in self.watches:
            watch.start()

    def stop(self) -> None:
        for watch in self.watches:
            watch.stop()

    def patch(self, changed: bool) -> None:
        self.requested = now()
        if changed:
            what = f"scale Deployment {self.namespace}/{self.name}"
            path = self.client.deployment_path(self.namespace, self.name)
            self.deploy = self.client.patch(path, {"spec": {"replicas": self.target}}, what, field_manager=SCALE_FIELD_MANAGER)
            self.generation = int((self.deploy.get("metadata") or {}).get("generation") or self.generation)

    def state(self) -> tuple[bool, list[str]]:
        return target_state(self.deploy, self.timeline, self.target, self.generation, self.params["wait_for_termination"], self.ready)

    def wait(self, timeout: float) -> tuple[bool, list[str]]:
        """Apply what the watches deliver until the target is reached or ``timeout`` (from the patch) passes."""
        deadline = self.requested + timeout
        done, waiting = self.state()
        self.trigger = self.requested
        while not done:
            item = next_before(self.sink, deadline)
            if item is None:
                break
            self._apply(item)
            self.trigger = item[-1]
            # Drain what already arrived before judging, so a burst is judged once.
            if self.sink.empty():
                done, waiting = self.state()
        self.detected = now()
        return (done, waiting) if done else self.state()

    def _apply(self, item: tuple[Any, ...]) -> None:
        kind, t = item[1], item[-1]
        if item[0] == "error":
            raise K8sWatchError(f"Watching {kind}s of {self.namespace}/{self.name} failed: {item[2]}")
        if item[0] == "sync":
            if kind == "pod":
                self.timeline.sync(item[2], t)
            elif item[2]:
                self.deploy = item[2][0]
        elif kind == "pod":
            self.timeline.apply(item[3], item[2], t)
        elif item[2] != "DELETED":
            self.deploy = item[3]
        else:
            raise K8sWatchError(f"Deployment {self.namespace}/{self.name} was deleted during the wait.")

    def finish(self, result: dict[str, Any]) -> dict[str, Any]:
        """The Deployment's status, the timeline, the live pods, the watches' figures into ``result``."""
        status = self.deploy.get("status") or {}
        result["deployment"].update(
            generation=(self.deploy.get("metadata") or {}).get("generation"),
            observed_generation=status.get("observedGeneration"),
            status_replicas=int(status.get("replicas") or 0),
            ready_replicas=int(status.get("readyReplicas") or 0),
            available_replicas=int(status.get("availableReplicas") or 0),
        )
        result["pods"] = self.timeline.report()
        result["live_pods"] = self.timeline.live_pods()
        result["events"] = sorted((e for p in result["pods"] for e in p["history"]), key=lambda e: e["t"])
        result["watch"] = {w.kind: dict(w.stats.items()) for w in self.watches}
        result["api_calls"] = self.client.api_calls
        return result

    def detection(self, pods: list[dict[str, Any]]) -> dict[str, Any]:
        """When the target was seen, and when its last pod became Ready / its last surplus pod went."""
        requested = self.requested
        return {
            "detected_at": iso(self.detected),
            "detected_t": round(self.detected, 3),
            "elapsed_s": round(self.detected - requested, 3),
            "last_ready_t": max((p["ready_t"] for p in pods if p["ready_t"] is not None and p["ready_t"] >= requested), default=None),
            "last_gone_t": max((p["gone_t"] for p in pods if p["gone_t"] is not None and p["gone_t"] >= requested), default=None),
            # Time from the event that completed the target to this module noticing it.
            "detection_lag_s": round(max(0.0, self.detected - self.trigger), 4),
        }

    def timed_out(self, waiting: list[str], result: dict[str, Any]) -> K8sTimeout:
        timeout = float(self.params["wait_timeout"])
        state = "Ready" if self.ready else "started"
        return K8sTimeout(
            f"Timed out after {timeout:g} s waiting for Deployment {self.namespace}/{self.name} to reach {self.target} {state} replicas"
            + (" with the surplus pods gone" if self.params["wait_for_termination"] else "")
            + ": "
            + "; ".join(waiting + _deployment_problems(self.deploy)),
            **result,
        )


def _hand_back(client: K8sClient, params: Mapping[str, Any], result: dict[str, Any]) -> None:
    if params.get("replicas_owner"):
        result["replicas_owner_restored"] = hand_replicas_back(client, params["namespace"], params["name"], params["replicas_owner"])
        result["changed"] = result["changed"] or result["replicas_owner_restored"]
        result["api_calls"] = client.api_calls


def scale_and_watch(client: K8sClient, params: Mapping[str, Any], check_mode: bool = False) -> dict[str, Any]:
    check_input(check_scale_params, params)
    started = now()
    deploy, before, target = _plan(client, params)
    capacity = _check_capacity(client, params, deploy, before, target)
    result = _first_result(params, deploy, before, target, capacity)
    result.update(started_at=iso(started), started_t=round(started, 3))
    if check_mode:
        pods = client.list_pods(params["namespace"], result["deployment"]["selector"])
        result.update(pods=[], events=[], live_pods=seeded_timeline(pods).live_pods(), waited=False, api_calls=client.api_calls)
        return result
    run = ScaleRun(client, params, deploy, target)
    try:
        run.start()
        run.patch(result["changed"])
        result.update(requested_at=iso(run.requested), requested_t=round(run.requested, 3))
        if not params.get("wait", True):
            result.update(waited=False)
            return run.finish(result)
        done, waiting = run.wait(float(params["wait_timeout"]))
        result.update(waited=True)
        run.finish(result)
        if not done:
            raise run.timed_out(waiting, result)
        result.update(run.detection(result["pods"]))
        _hand_back(client, params, result)
        return result
    finally:
        run.stop()
