# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Capacity planning before a scale-up: do the extra pods' requests fit on the nodes?

PRIVATE: this file may change at any time; the public surface is the module k8s_scale_watch.

A first-fit estimate of the scheduler's resource fit: nodes that are Ready, schedulable,
match the pod's nodeSelector and whose NoSchedule/NoExecute taints the pod tolerates;
free room is allocatable minus the requests of the pods bound there. Affinity and
topology spread are not evaluated (the wait reports what the scheduler decided).
"""

from __future__ import annotations

from typing import Any, Mapping

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import K8sApiError, K8sClient, K8sInputError
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_objects import conditions

Room = dict[str, float]


class K8sCapacityError(K8sInputError):
    """The cluster has no room for the extra pods (checked before anything is changed)."""


def _quantity(value: Any) -> float:
    if value is None or value == "":
        return 0.0
    from kubernetes.utils import parse_quantity

    return float(parse_quantity(str(value)))


def pod_requests(spec: Mapping[str, Any]) -> dict[str, float]:
    """A pod's scheduling requests (cpu in cores, memory in bytes): containers summed, init containers' max, limits when no request."""

    def of(container: Mapping[str, Any]) -> dict[str, float]:
        res = container.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        return {r: _quantity(req.get(r, lim.get(r))) for r in ("cpu", "memory")}

    total = {"cpu": 0.0, "memory": 0.0}
    for c in spec.get("containers") or []:
        for r, v in of(c).items():
            total[r] += v
    for c in spec.get("initContainers") or []:
        for r, v in of(c).items():
            total[r] = max(total[r], v)
    for r, v in (spec.get("overhead") or {}).items():
        if r in total:
            total[r] += _quantity(v)
    return total


def _tolerated(taint: Mapping[str, Any], tolerations: list[Mapping[str, Any]]) -> bool:
    for tol in tolerations:
        if tol.get("effect") and tol.get("effect") != taint.get("effect"):
            continue
        if tol.get("operator") == "Exists" and (not tol.get("key") or tol.get("key") == taint.get("key")):
            return True
        if tol.get("key") == taint.get("key") and (tol.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _fmt_cpu(cores: float) -> str:
    return f"{cores * 1000:.0f}m" if cores < 1 or abs(cores * 1000 - round(cores) * 1000) >= 1 else f"{round(cores)}"


def _fmt_mem(b: float) -> str:
    return f"{b / 2**30:.2f}Gi" if b >= 2**30 else f"{b / 2**20:.0f}Mi"


def may_list_all_pods(client: K8sClient) -> bool:
    """Whether this identity may list pods in every namespace, asked with a SelfSubjectAccessReview (which any
    authenticated identity may create), so that a namespaced identity is never refused a request."""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {"verb": "list", "resource": "pods"}},
    }
    try:
        answer = client.post("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", review, "Access review: list pods in all namespaces")
    except K8sApiError:
        return True  # no review API: try the list itself, and fall back on a refusal
    return bool((answer.get("status") or {}).get("allowed"))


def _bound_pods(client: K8sClient, namespace: str) -> tuple[list[dict[str, Any]], str | None]:
    """The running pods that use the nodes, and what the estimate cannot see (None when it sees every namespace)."""
    running = {"fieldSelector": "status.phase!=Succeeded,status.phase!=Failed"}
    if may_list_all_pods(client):
        try:
            return client.get("/api/v1/pods", "Pods in all namespaces", running).get("items") or [], None
        except K8sApiError as exc:
            if exc.status != 403:
                raise
    # A namespaced identity (the automation's ServiceAccount) may not read other namespaces' pods: estimate from
    # this namespace's pods and say that the estimate is optimistic, rather than fail the scale.
    pods = client.get(client.pods_path(namespace), f"Pods in {namespace}", running).get("items") or []
    return pods, (
        f"no permission to list pods in all namespaces, so only the pods of namespace {namespace} are counted as using the nodes; "
        "the estimate may be optimistic"
    )


def _used_by_node(pods: list[dict[str, Any]]) -> dict[str, Room]:
    used: dict[str, Room] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            continue
        req = pod_requests(pod.get("spec") or {})
        slot = used.setdefault(node, {"cpu": 0.0, "memory": 0.0, "pods": 0.0})
        slot["cpu"] += req["cpu"]
        slot["memory"] += req["memory"]
        slot["pods"] += 1
    return used


def _unusable(node: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    """Why the pod cannot go to ``node`` (None when it can, as far as resources aside are concerned)."""
    labels = node["metadata"].get("labels") or {}
    if conditions(node).get("Ready", {}).get("status") != "True":
        return "not Ready"
    if (node.get("spec") or {}).get("unschedulable"):
        return "cordoned"
    if any(labels.get(k) != v for k, v in (spec.get("nodeSelector") or {}).items()):
        return "does not match nodeSelector"
    taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")]
    if any(not _tolerated(t, spec.get("tolerations") or []) for t in taints):
        return "has a taint the pod does not tolerate"
    return None


def _free_room(nodes: list[dict[str, Any]], spec: Mapping[str, Any], used: dict[str, Room]) -> tuple[dict[str, Room], dict[str, str]]:
    free: dict[str, Room] = {}
    skipped: dict[str, str] = {}
    for node in nodes:
        name = node["metadata"]["name"]
        why = _unusable(node, spec)
        if why:
            skipped[name] = why
            continue
        alloc = (node.get("status") or {}).get("allocatable") or {}
        u = used.get(name, {"cpu": 0.0, "memory": 0.0, "pods": 0.0})
        free[name] = {
            "cpu": _quantity(alloc.get("cpu")) - u["cpu"],
            "memory": _quantity(alloc.get("memory")) - u["memory"],
            "pods": _quantity(alloc.get("pods") or 110) - u["pods"],
        }
    return free, skipped


def _place(free: dict[str, Room], need: Room, extra: int) -> int:
    """How many of ``extra`` pods fit, placing each on the node with the most room left."""
    room = {n: dict(v) for n, v in free.items()}
    placed = 0
    for _slot in range(extra):
        fits = [n for n, v in room.items() if v["cpu"] >= need["cpu"] and v["memory"] >= need["memory"] and v["pods"] >= 1]
        if not fits:
            break
        best = max(fits, key=lambda n: (room[n]["cpu"] - need["cpu"], room[n]["memory"] - need["memory"]))
        room[best]["cpu"] -= need["cpu"]
        room[best]["memory"] -= need["memory"]
        room[best]["pods"] -= 1
        placed += 1
    return placed


def _shortfall(free: dict[str, Room], need: Room, extra: int, short: int) -> dict[str, Any]:
    total_cpu = sum(max(v["cpu"], 0) for v in free.values())
    total_mem = sum(max(v["memory"], 0) for v in free.values())
    gaps = []
    if need["cpu"] * extra > total_cpu:
        gaps.append(f"cpu short by {_fmt_cpu(need['cpu'] * extra - total_cpu)}")
    if need["memory"] * extra > total_mem:
        gaps.append(f"memory short by {_fmt_mem(need['memory'] * extra - total_mem)}")
    return {"pods": short, "detail": ", ".join(gaps) or "no single node has room for one more pod (fragmentation)"}


def capacity_plan(client: K8sClient, deploy: Mapping[str, Any], extra: int) -> dict[str, Any]:
    """Can ``extra`` more pods of this Deployment be scheduled? See the file's docstring for what is counted."""
    extra = max(extra, 0)
    spec = ((deploy.get("spec") or {}).get("template") or {}).get("spec") or {}
    need = pod_requests(spec)
    namespace = (deploy.get("metadata") or {}).get("namespace") or ""
    nodes = client.get("/api/v1/nodes", "Nodes").get("items") or []
    pods, blind_spot = _bound_pods(client, namespace)
    free, skipped = _free_room(nodes, spec, _used_by_node(pods))
    placed = _place(free, need, extra)
    plan: dict[str, Any] = {
        "extra_pods": extra,
        "fits": placed == extra,
        "placeable": placed,
        "per_pod_requests": {"cpu": _fmt_cpu(need["cpu"]), "memory": _fmt_mem(need["memory"])},
        "extra_requests": {"cpu": _fmt_cpu(need["cpu"] * extra), "memory": _fmt_mem(need["memory"] * extra)},
        "nodes": {
            n: {"free_cpu": _fmt_cpu(max(v["cpu"], 0)), "free_memory": _fmt_mem(max(v["memory"], 0)), "free_pods": int(v["pods"])} for n, v in free.items()
        },
        "skipped_nodes": skipped,
        "pods_counted": "all namespaces" if blind_spot is None else f"namespace {namespace} only",
    }
    if blind_spot:
        plan["warning"] = blind_spot
    if placed < extra:
        plan["shortfall"] = _shortfall(free, need, extra, extra - placed)
    return plan


def capacity_error(plan: Mapping[str, Any], deployment: str, before: int, target: int, **result: Any) -> K8sCapacityError:
    """The failure for a plan that does not fit: what is needed, what fits, each node's room; nothing was changed."""
    nodes = "; ".join(f"{n} free cpu {v['free_cpu']} memory {v['free_memory']}" for n, v in plan["nodes"].items()) or "no usable node"
    skipped = ", ".join(f"{n} ({why})" for n, why in plan["skipped_nodes"].items())
    return K8sCapacityError(
        f"Not enough room to scale Deployment {deployment} from {before} to {target}: {target - before} more pods need "
        f"{plan['extra_requests']['cpu']} cpu and {plan['extra_requests']['memory']} memory "
        f"({plan['per_pod_requests']['cpu']} / {plan['per_pod_requests']['memory']} each), only {plan['placeable']} fit; "
        f"{plan['shortfall']['detail']}. Nodes: {nodes}" + (f"; not usable: {skipped}" if skipped else "") + ". Nothing was changed.",
        capacity=plan,
        **result,
    )
