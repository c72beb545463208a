# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Watch-based Kubernetes helpers: scale-and-watch with a per-pod timeline, pod logs (follow until a
pattern), namespace events sorted and filtered.

PRIVATE: this file may change at any time; the public surface is the modules
k8s_scale_watch, k8s_pod_logs and k8s_events.

Nothing here sleeps to poll: every wait blocks on a watch stream (or a log stream) and
returns on the event that satisfies it. A watch that drops (the connection is cut, the
server ends it, a read times out) is re-opened from the last resourceVersion seen
(bookmarks included), so no transition is missed; if the server has compacted that
version away (HTTP 410 Gone) the collection is listed again and the difference applied.
"""

from __future__ import annotations

import copy
import datetime
import json
import queue
import re
import threading
import time
from typing import Any, Callable, Iterable, Mapping

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import (
    K8sApiError,
    K8sClient,
    K8sInputError,
    K8sTimeout,
    K8sWatchError,
    close_stream,
    iter_lines,
)

# Phases of a pod's life, in order, as the timeline records them.
POD_PHASES = ("created", "scheduled", "running", "ready", "deletion_requested", "gone")


# ------------------------------------------------------------------------------------------------
# time and selectors
# ------------------------------------------------------------------------------------------------
def now() -> float:
    return time.time()


def iso(ts: float | None) -> str | None:
    """UTC ISO 8601 with milliseconds (``2026-01-06T10:00:00.123Z``)."""
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(ts, tz=datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_time(value: Any) -> float | None:
    """A Kubernetes timestamp (RFC 3339, with or without fractions) as epoch seconds."""
    if not value or not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    match = re.match(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?([+-]\d\d:\d\d)?$", text)
    if not match:
        return None
    base = datetime.datetime.fromisoformat(match.group(1) + (match.group(3) or "+00:00"))
    frac = float("0" + match.group(2)) if match.group(2) else 0.0
    return base.timestamp() + frac


def label_selector(selector: Mapping[str, Any] | None) -> str:
    """A LabelSelector (matchLabels + matchExpressions) as the ``labelSelector`` query string."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(values)})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(values)})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise K8sInputError(f"Unsupported label selector operator {op!r} for key {key!r}")
    return ",".join(parts)


def conditions(obj: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in (obj.get("status") or {}).get("conditions") or []}


def pod_ready(pod: Mapping[str, Any]) -> bool:
    return conditions(pod).get("Ready", {}).get("status") == "True"


def pod_terminating(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def pod_live(pod: Mapping[str, Any]) -> bool:
    """Counts towards the replicas: not being deleted and not finished."""
    return not pod_terminating(pod) and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def last_condition(pod: Mapping[str, Any]) -> dict[str, Any]:
    """The condition that best explains why a pod is not Ready: the latest one that is not True, else Ready."""
    conds = list(conditions(pod).values())
    if not conds:
        return {}
    failing = [c for c in conds if c.get("status") != "True"]
    pool = failing or [c for c in conds if c.get("type") == "Ready"] or conds
    # Stable order: PodScheduled first (it blocks everything else), then the latest transition.
    order = {"PodScheduled": 0, "Initialized": 1, "ContainersReady": 2, "Ready": 3}
    pool.sort(key=lambda c: (order.get(c.get("type", ""), 9), -(parse_time(c.get("lastTransitionTime")) or 0)))
    chosen = pool[0]
    return {k: chosen.get(k) for k in ("type", "status", "reason", "message", "lastTransitionTime") if chosen.get(k) is not None}


def describe_condition(cond: Mapping[str, Any]) -> str:
    if not cond:
        return "no conditions yet (not scheduled)"
    text = f"{cond.get('type')}={cond.get('status')}"
    if cond.get("reason"):
        text += f" ({cond['reason']})"
    if cond.get("message"):
        text += f": {cond['message']}"
    return text


# ------------------------------------------------------------------------------------------------
# a resumable watch
# ------------------------------------------------------------------------------------------------
class Watch(threading.Thread):
    """Watch a collection from a resourceVersion, in a thread, putting what it sees on ``sink``.

    Items put: ``("event", kind, type, object, observed_at)`` for ADDED/MODIFIED/DELETED,
    ``("sync", kind, items, observed_at)`` after a re-list (410 Gone), ``("error", kind, exc, observed_at)``
    for an error a retry cannot fix (403, 404, bad selector).
    """

    def __init__(
        self,
        client: K8sClient,
        kind: str,
        path: str,
        resource_version: str,
        sink: "queue.Queue[tuple[Any, ...]]",
        query: Mapping[str, Any] | None = None,
        read_timeout: float = 30.0,
        server_timeout: int = 240,
    ) -> None:
        super().__init__(name=f"watch-{kind}", daemon=True)
        self.client = client
        self.kind = kind
        self.path = path
        self.resource_version = resource_version
        self.sink = sink
        self.query = dict(query or {})
        self.read_timeout = read_timeout
        self.server_timeout = server_timeout
        self.stats = {"connections": 0, "reconnects": 0, "relists": 0, "events": 0, "bookmarks": 0, "errors": []}
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._resp: Any = None

    def stop(self) -> None:
        self._stop_event.set()
        with self._lock:
            resp = self._resp
        if resp is not None:
            close_stream(resp)

    def _relist(self) -> None:
        data = self.client.get(self.path, f"{self.kind} list", {k: v for k, v in self.query.items() if k != "watch"})
        self.resource_version = (data.get("metadata") or {}).get("resourceVersion") or ""
        self.stats["relists"] += 1
        self.sink.put(("sync", self.kind, data.get("items") or [], now()))

    def _note_error(self, text: str) -> None:
        errors = self.stats["errors"]
        if len(errors) < 20:
            errors.append(f"{iso(now())} {text}")

    def run(self) -> None:
        backoff = 0.05
        first = True
        while not self._stop_event.is_set():
            if not first:
                self.stats["reconnects"] += 1
            first = False
            query = dict(self.query)
            query.update({"watch": "true", "resourceVersion": self.resource_version, "allowWatchBookmarks": "true", "timeoutSeconds": self.server_timeout})
            try:
                resp = self.client.stream(self.path, f"watch {self.kind}", query, self.read_timeout)
            except K8sApiError as exc:
                if exc.status == 410:
                    self._safe_relist()
                    continue
                if exc.status in (400, 401, 403, 404, 422):
                    self.sink.put(("error", self.kind, exc, now()))
                    return
                self._note_error(str(exc))
                self._stop_event.wait(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            except Exception as exc:  # noqa: BLE001 - connection refused/reset: retry from the last version
                self._note_error(f"{type(exc).__name__}: {exc}")
                self._stop_event.wait(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            with self._lock:
                self._resp = resp
            if self._stop_event.is_set():
                close_stream(resp)
                return
            self.stats["connections"] += 1
            try:
                for line in iter_lines(resp):
                    if not line.strip():
                        continue
                    backoff = 0.05
                    event = json.loads(line)
                    etype = event.get("type")
                    obj = event.get("object") or {}
                    if etype == "ERROR":
                        if obj.get("code") == 410:
                            self._safe_relist()
                            break
                        self._note_error(f"watch error: {obj.get('message')}")
                        break
                    rv = (obj.get("metadata") or {}).get("resourceVersion")
                    if rv:
                        self.resource_version = rv
                    if etype == "BOOKMARK":
                        self.stats["bookmarks"] += 1
                        continue
                    self.stats["events"] += 1
                    self.sink.put(("event", self.kind, etype, obj, now()))
            except Exception as exc:  # noqa: BLE001 - dropped connection or read timeout: resume from resource_version
                if not self._stop_event.is_set():
                    self._note_error(f"stream ended: {type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    self._resp = None
                close_stream(resp)

    def _safe_relist(self) -> None:
        try:
            self._relist()
        except Exception as exc:  # noqa: BLE001 - retried by the run loop
            self._note_error(f"relist failed: {exc}")
            self._stop_event.wait(0.2)


# ------------------------------------------------------------------------------------------------
# the per-pod timeline
# ------------------------------------------------------------------------------------------------
class PodTimeline:
    """What happened to each pod, when: from the watch (client clock) or, for what happened before
    the watch began, from the server's own timestamps."""

    def __init__(self) -> None:
        self.pods: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.last_change = 0.0

    def _record(self, rec: dict[str, Any], phase: str, t: float, source: str, **extra: Any) -> None:
        if rec["t"].get(phase) is None:
            rec["t"][phase] = t
            rec["sources"][phase] = source
            entry = {"pod": rec["name"], "phase": phase, "t": round(t, 3), "at": iso(t), "source": source}
            entry.update(extra)
            rec["history"].append(entry)
            self.last_change = t

    def apply(self, pod: Mapping[str, Any], etype: str, t: float, seed: bool = False) -> None:
        meta = pod.get("metadata") or {}
        name = meta.get("name", "")
        rec = self.pods.get(name)
        if rec is None or (meta.get("uid") and rec["uid"] != meta.get("uid")):
            rec = {
                "name": name,
                "uid": meta.get("uid"),
                "node": None,
                "pre_existing": seed,
                "grace_period_s": (pod.get("spec") or {}).get("terminationGracePeriodSeconds"),
                "t": {},
                "sources": {},
                "history": [],
                "not_ready_after_ready": None,
            }
            self.pods[name] = rec
            self.order.append(name)
            created = parse_time(meta.get("creationTimestamp"))
            if seed and created:
                self._record(rec, "created", created, "server")
            else:
                self._record(rec, "created", t, "watch")
        self.objects[name] = dict(pod)
        status = pod.get("status") or {}
        conds = conditions(pod)
        node = (pod.get("spec") or {}).get("nodeName")
        source = "server" if seed else "watch"
        if node or conds.get("PodScheduled", {}).get("status") == "True":
            rec["node"] = node
            when = parse_time(conds.get("PodScheduled", {}).get("lastTransitionTime")) if seed else t
            self._record(rec, "scheduled", when or t, source, node=node)
        if status.get("phase") == "Running":
            when = parse_time(status.get("startTime")) if seed else t
            self._record(rec, "running", when or t, source)
        if conds.get("Ready", {}).get("status") == "True":
            when = parse_time(conds["Ready"].get("lastTransitionTime")) if seed else t
            self._record(rec, "ready", when or t, source)
        elif rec["t"].get("ready") is not None and rec["not_ready_after_ready"] is None:
            rec["not_ready_after_ready"] = t
            rec["history"].append(
                {"pod": name, "phase": "not_ready", "t": round(t, 3), "at": iso(t), "source": source, "reason": conds.get("Ready", {}).get("reason")}
            )
        if meta.get("deletionTimestamp") and rec["t"].get("deletion_requested") is None:
            # The first sight counts: the kubelet's final delete (after the container stopped) sets the grace period to 0.
            rec["deletion_deadline"] = parse_time(meta.get("deletionTimestamp"))
            rec["deletion_grace_period_s"] = meta.get("deletionGracePeriodSeconds")
            self._record(rec, "deletion_requested", t, source, grace_period_s=meta.get("deletionGracePeriodSeconds"))
        if etype == "DELETED":
            self._record(rec, "gone", t, source)
            self.objects.pop(name, None)
        rec["phase"] = status.get("phase")
        rec["last_condition"] = last_condition(pod)

    def sync(self, items: Iterable[Mapping[str, Any]], t: float) -> None:
        """Apply a fresh list: pods we knew that are no longer listed are gone (seen at re-list time)."""
        seen = set()
        for pod in items:
            seen.add((pod.get("metadata") or {}).get("name"))
            self.apply(pod, "MODIFIED", t)
        for name in list(self.objects):
            if name not in seen:
                gone = dict(self.objects[name])
                self.apply(gone, "DELETED", t)
                self.pods[name]["sources"]["gone"] = "relist"

    def live(self) -> list[dict[str, Any]]:
        return [p for p in self.objects.values() if pod_live(p)]

    def terminating(self) -> list[dict[str, Any]]:
        return [p for p in self.objects.values() if pod_terminating(p)]

    def report(self) -> list[dict[str, Any]]:
        out = []
        for name in self.order:
            rec = self.pods[name]
            t = rec["t"]
            item: dict[str, Any] = {
                "name": name,
                "uid": rec["uid"],
                "node": rec["node"],
                "pre_existing": rec["pre_existing"],
                "phase": "Gone" if t.get("gone") is not None else rec.get("phase"),
                "ready_now": t.get("gone") is None and name in self.objects and pod_ready(self.objects[name]),
                "last_condition": rec.get("last_condition") or {},
                "grace_period_s": rec.get("grace_period_s"),
                "deletion_grace_period_s": rec.get("deletion_grace_period_s"),
                "sources": dict(rec["sources"]),
                "history": list(rec["history"]),
            }
            for phase in POD_PHASES:
                item[phase] = iso(t.get(phase))
                item[f"{phase}_t"] = round(t[phase], 3) if t.get(phase) is not None else None
            item["not_ready_t"] = round(rec["not_ready_after_ready"], 3) if rec["not_ready_after_ready"] else None
            if t.get("created") is not None and t.get("ready") is not None:
                item["ready_after_s"] = round(t["ready"] - t["created"], 3)
            if t.get("deletion_requested") is not None:
                grace = rec.get("deletion_grace_period_s")
                item["forced"] = grace == 0
                if t.get("gone") is not None:
                    took = t["gone"] - t["deletion_requested"]
                    item["termination_s"] = round(took, 3)
                    # One second of slack for the watch delivering the two events.
                    item["gone_within_grace"] = grace is not None and took <= float(grace) + 1.0
            out.append(item)
        return out


def next_before(sink: "queue.Queue[Any]", deadline: float) -> Any:
    """The next item the watch threads delivered, or None once ``deadline`` (a ``now()`` time) has passed."""
    remaining = deadline - now()
    if remaining <= 0:
        return None
    try:
        return sink.get(timeout=remaining)
    except queue.Empty:
        return None


# ------------------------------------------------------------------------------------------------
# scale and watch
# ------------------------------------------------------------------------------------------------
SCALE_ARGSPEC: dict[str, Any] = {
    "name": {"type": "str", "required": True},
    "namespace": {"type": "str", "required": True},
    "replicas": {"type": "int"},
    "direction": {"type": "str", "default": "any", "choices": ["any", "up", "down"]},
    "wait": {"type": "bool", "default": True},
    "wait_timeout": {"type": "float", "default": 300},
    "wait_for_termination": {"type": "bool", "default": True},
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

# The field manager the scale's own change is recorded under in the Deployment's managedFields.
SCALE_FIELD_MANAGER = "mlops.ollama.k8s_scale_watch"


def replicas_owner(deploy: Mapping[str, Any]) -> dict[str, str] | None:
    """The managedFields entry (manager, operation, subresource) that owns spec.replicas, if any does."""
    for entry in (deploy.get("metadata") or {}).get("managedFields") or []:
        if "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {}):
            return {"manager": entry.get("manager", ""), "operation": entry.get("operation", ""), "subresource": entry.get("subresource", "")}
    return None


def _owned_by(entry: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    return all(entry.get(key, "") == (owner.get(key) or "") for key in ("manager", "operation", "subresource"))


def managed_fields_with_replicas_owner(deploy: Mapping[str, Any], owner: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The Deployment's managedFields with spec.replicas owned by ``owner`` alone; None if nothing needs to move.

    None too when ``owner`` has no entry left (it gave up every field meanwhile): an entry is not made up.
    """
    entries = copy.deepcopy((deploy.get("metadata") or {}).get("managedFields") or [])
    if not any(_owned_by(e, owner) for e in entries):
        return None
    moved = False
    kept: list[dict[str, Any]] = []
    for entry in entries:
        spec = (entry.get("fieldsV1") or {}).get("f:spec")
        if _owned_by(entry, owner):
            if spec is None:
                spec = entry.setdefault("fieldsV1", {}).setdefault("f:spec", {})
            if "f:replicas" not in spec:
                spec["f:replicas"] = {}
                moved = True
        elif spec is not None and "f:replicas" in spec:
            del spec["f:replicas"]
            moved = True
            if not spec:
                del entry["fieldsV1"]["f:spec"]
            if not entry["fieldsV1"]:
                continue  # the server drops an entry that owns nothing; so do we
        kept.append(entry)
    return kept if moved else None


def hand_replicas_back(client: K8sClient, namespace: str, name: str, owner: Mapping[str, Any]) -> bool:
    """Make ``owner`` the owner of spec.replicas again; whether managedFields had to be rewritten.

    A scale records its manager as the owner of spec.replicas. After a drill that scales and restores, the count
    is as found but the ownership is not, so the owner's next server-side apply of the same manifest would take it
    back and report a change. Only managedFields are rewritten (a request that changes no field records no new
    owner); a test of the resourceVersion keeps a concurrent writer's change from being overwritten.
    """
    path, what = client.deployment_path(namespace, name), f"give spec.replicas of Deployment {namespace}/{name} back to {owner['manager']}"
    for _attempt in range(5):
        deploy = client.read_deployment(namespace, name)
        fields = managed_fields_with_replicas_owner(deploy, owner)
        if fields is None:
            return False
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": (deploy.get("metadata") or {}).get("resourceVersion")},
            {"op": "replace", "path": "/metadata/managedFields", "value": fields},
        ]
        try:
            client.patch(path, patch, what, patch_type="application/json-patch+json", field_manager=SCALE_FIELD_MANAGER)
            return True
        except K8sApiError as exc:
            if exc.status not in (409, 422):  # 422: the test failed, the Deployment changed since it was read
                raise
    raise K8sWatchError(f"Could not {what}: the Deployment kept changing while it was being rewritten (5 attempts).")


def _target_state(deploy: Mapping[str, Any], timeline: PodTimeline, target: int, generation: int, wait_for_termination: bool) -> tuple[bool, list[str]]:
    """Whether the Deployment and its pods have reached ``target``; else what is still missing."""
    waiting: list[str] = []
    status = deploy.get("status") or {}
    if int(status.get("observedGeneration") or 0) < generation:
        waiting.append(f"the Deployment controller has not observed generation {generation} yet")
    for field, label in (("replicas", "replicas"), ("updatedReplicas", "updated replicas"), ("readyReplicas", "ready replicas")):
        if int(status.get(field) or 0) != target:
            waiting.append(f"Deployment status has {int(status.get(field) or 0)} {label}, want {target}")
    live = timeline.live()
    if len(live) != target:
        waiting.append(f"{len(live)} live pods, want {target}")
    for pod in live:
        if not pod_ready(pod):
            meta = pod.get("metadata") or {}
            node = (pod.get("spec") or {}).get("nodeName") or "no node"
            phase = (pod.get("status") or {}).get("phase") or "Unknown"
            waiting.append(f"pod {meta.get('name')} ({phase}, {node}) is not Ready: {describe_condition(last_condition(pod))}")
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


def capacity_plan(client: K8sClient, deploy: Mapping[str, Any], extra: int) -> dict[str, Any]:
    """Can ``extra`` more pods of this Deployment be scheduled? A first-fit estimate of the scheduler's resource fit.

    Counts nodes that are Ready, schedulable, match the pod's nodeSelector and whose NoSchedule/NoExecute taints the
    pod tolerates; free room is allocatable minus the requests of the pods bound there. Affinity and topology spread
    are not evaluated (the wait reports what the scheduler decided).
    """
    spec = ((deploy.get("spec") or {}).get("template") or {}).get("spec") or {}
    need = pod_requests(spec)
    selector = spec.get("nodeSelector") or {}
    tolerations = spec.get("tolerations") or []
    nodes = client.get("/api/v1/nodes", "Nodes").get("items") or []
    running = {"fieldSelector": "status.phase!=Succeeded,status.phase!=Failed"}
    namespace = (deploy.get("metadata") or {}).get("namespace") or ""
    blind_spot = None
    try:
        pods = client.get("/api/v1/pods", "Pods in all namespaces", running).get("items") or []
    except K8sApiError as exc:
        if exc.status != 403:
            raise
        # A namespaced identity (the automation's ServiceAccount) may not read other namespaces' pods: estimate from
        # this namespace's pods and say that the estimate is optimistic, rather than fail the scale.
        pods = client.get(client.pods_path(namespace), f"Pods in {namespace}", running).get("items") or []
        blind_spot = (
            f"no permission to list pods in all namespaces, so only the pods of namespace {namespace} are counted as using the nodes; "
            "the estimate may be optimistic"
        )
    used: dict[str, dict[str, float]] = {}
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if not node:
            continue
        req = pod_requests(pod.get("spec") or {})
        slot = used.setdefault(node, {"cpu": 0.0, "memory": 0.0, "pods": 0.0})
        slot["cpu"] += req["cpu"]
        slot["memory"] += req["memory"]
        slot["pods"] += 1
    free: dict[str, dict[str, float]] = {}
    skipped: dict[str, str] = {}
    for node in nodes:
        name = node["metadata"]["name"]
        labels = node["metadata"].get("labels") or {}
        if conditions(node).get("Ready", {}).get("status") != "True":
            skipped[name] = "not Ready"
            continue
        if (node.get("spec") or {}).get("unschedulable"):
            skipped[name] = "cordoned"
            continue
        if any(labels.get(k) != v for k, v in selector.items()):
            skipped[name] = "does not match nodeSelector"
            continue
        taints = [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")]
        if any(not _tolerated(t, tolerations) for t in taints):
            skipped[name] = "has a taint the pod does not tolerate"
            continue
        alloc = (node.get("status") or {}).get("allocatable") or {}
        u = used.get(name, {"cpu": 0.0, "memory": 0.0, "pods": 0.0})
        free[name] = {
            "cpu": _quantity(alloc.get("cpu")) - u["cpu"],
            "memory": _quantity(alloc.get("memory")) - u["memory"],
            "pods": _quantity(alloc.get("pods") or 110) - u["pods"],
        }
    room = {n: dict(v) for n, v in free.items()}
    placed = 0
    for _slot in range(max(extra, 0)):
        fits = [n for n, v in room.items() if v["cpu"] >= need["cpu"] and v["memory"] >= need["memory"] and v["pods"] >= 1]
        if not fits:
            break
        best = max(fits, key=lambda n: (room[n]["cpu"] - need["cpu"], room[n]["memory"] - need["memory"]))
        room[best]["cpu"] -= need["cpu"]
        room[best]["memory"] -= need["memory"]
        room[best]["pods"] -= 1
        placed += 1
    short = max(extra, 0) - placed
    plan: dict[str, Any] = {
        "extra_pods": max(extra, 0),
        "fits": short == 0,
        "placeable": placed,
        "per_pod_requests": {"cpu": _fmt_cpu(need["cpu"]), "memory": _fmt_mem(need["memory"])},
        "extra_requests": {"cpu": _fmt_cpu(need["cpu"] * max(extra, 0)), "memory": _fmt_mem(need["memory"] * max(extra, 0))},
        "nodes": {
            n: {"free_cpu": _fmt_cpu(max(v["cpu"], 0)), "free_memory": _fmt_mem(max(v["memory"], 0)), "free_pods": int(v["pods"])} for n, v in free.items()
        },
        "skipped_nodes": skipped,
        "pods_counted": "all namespaces" if blind_spot is None else f"namespace {namespace} only",
    }
    if blind_spot:
        plan["warning"] = blind_spot
    if short:
        total_cpu = sum(max(v["cpu"], 0) for v in free.values())
        total_mem = sum(max(v["memory"], 0) for v in free.values())
        gaps = []
        if need["cpu"] * extra > total_cpu:
            gaps.append(f"cpu short by {_fmt_cpu(need['cpu'] * extra - total_cpu)}")
        if need["memory"] * extra > total_mem:
            gaps.append(f"memory short by {_fmt_mem(need['memory'] * extra - total_mem)}")
        plan["shortfall"] = {"pods": short, "detail": ", ".join(gaps) or "no single node has room for one more pod (fragmentation)"}
    return plan


def scale_and_watch(client: K8sClient, params: Mapping[str, Any], check_mode: bool = False) -> dict[str, Any]:
    namespace, name, wanted = params["namespace"], params["name"], params.get("replicas")
    timeout = float(params["wait_timeout"])
    if wanted is not None and int(wanted) < 0:
        raise K8sInputError(f"replicas must be 0 or more (got {wanted}).")
    if timeout <= 0:
        raise K8sInputError(f"wait_timeout must be more than 0 seconds (got {params['wait_timeout']}).")
    started = now()
    try:
        deploy = client.read_deployment(namespace, name)
    except K8sApiError as exc:
        if exc.status == 404:
            raise K8sInputError(
                f"Deployment {namespace}/{name} does not exist; check name and namespace (or deploy it first).", api_calls=client.api_calls
            ) from exc
        raise
    before = int((deploy.get("spec") or {}).get("replicas", 1))
    # Without replicas: wait for the Deployment as it is (a rollout, or an HPA's count); nothing is scaled.
    target = before if wanted is None else int(wanted)
    direction = params.get("direction") or "any"
    if direction == "up" and target < before:
        raise K8sInputError(
            f"replicas={target} is below the current {before} replicas of Deployment {namespace}/{name}, but direction=up; "
            f"choose {before} or more (or direction=any).",
            replicas_before=before,
        )
    if direction == "down" and target > before:
        raise K8sInputError(
            f"replicas={target} is above the current {before} replicas of Deployment {namespace}/{name}, but direction=down; "
            f"choose {before} or fewer (or direction=any).",
            replicas_before=before,
        )
    selector = label_selector((deploy.get("spec") or {}).get("selector"))
    changed = before != target
    capacity: dict[str, Any] | None = None
    if params.get("capacity_check", True) and target > before:
        capacity = capacity_plan(client, deploy, target - before)
        if not capacity["fits"]:
            short = capacity["shortfall"]
            nodes = "; ".join(f"{n} free cpu {v['free_cpu']} memory {v['free_memory']}" for n, v in capacity["nodes"].items()) or "no usable node"
            raise K8sCapacityError(
                f"Not enough room to scale Deployment {namespace}/{name} from {before} to {target}: {target - before} more pods need "
                f"{capacity['extra_requests']['cpu']} cpu and {capacity['extra_requests']['memory']} memory "
                f"({capacity['per_pod_requests']['cpu']} / {capacity['per_pod_requests']['memory']} each), only {capacity['placeable']} fit; "
                f"{short['detail']}. Nodes: {nodes}"
                + (f"; not usable: {', '.join(f'{n} ({why})' for n, why in capacity['skipped_nodes'].items())}" if capacity["skipped_nodes"] else "")
                + ". Nothing was changed.",
                capacity=capacity,
                replicas_before=before,
                api_calls=client.api_calls,
            )
    result: dict[str, Any] = {
        "changed": changed,
        "deployment": {"name": name, "namespace": namespace, "selector": selector, "replicas_before": before, "replicas": target},
        "replicas_owner": replicas_owner(deploy),
        "started_at": iso(started),
        "started_t": round(started, 3),
    }
    if capacity is not None:
        result["capacity"] = capacity
        if capacity.get("warning"):
            result["warnings"] = [f"Capacity check: {capacity['warning']}."]
    if check_mode:
        result.update(pods=[], events=[], waited=False, api_calls=client.api_calls)
        return result

    pods = client.list_pods(namespace, selector)
    timeline = PodTimeline()
    seeded = now()
    for pod in pods.get("items") or []:
        timeline.apply(pod, "ADDED", seeded, seed=True)
    sink: "queue.Queue[tuple[Any, ...]]" = queue.Queue()
    watches = [
        Watch(client, "pod", client.pods_path(namespace), (pods.get("metadata") or {}).get("resourceVersion", ""), sink, {"labelSelector": selector}),
        Watch(
            client,
            "deployment",
            client.deployment_path(namespace),
            (deploy.get("metadata") or {}).get("resourceVersion", ""),
            sink,
            {"fieldSelector": f"metadata.name={name}"},
        ),
    ]
    for w in watches:
        w.start()
    try:
        generation = int((deploy.get("metadata") or {}).get("generation") or 0)
        requested = now()
        if changed:
            what = f"scale Deployment {namespace}/{name}"
            patched = client.patch(client.deployment_path(namespace, name), {"spec": {"replicas": target}}, what, field_manager=SCALE_FIELD_MANAGER)
            generation = int((patched.get("metadata") or {}).get("generation") or generation)
            deploy = patched
        result.update(requested_at=iso(requested), requested_t=round(requested, 3))
        if not params.get("wait", True):
            result.update(waited=False)
            return _finish(result, timeline, watches, client, deploy)

        deadline = requested + timeout
        done, waiting = _target_state(deploy, timeline, target, generation, params["wait_for_termination"])
        trigger = requested
        while not done:
            item = next_before(sink, deadline)
            if item is None:
                break
            kind, t = item[1], item[-1]
            if item[0] == "error":
                raise K8sWatchError(f"Watching {kind}s of {namespace}/{name} failed: {item[2]}")
            if item[0] == "sync":
                if kind == "pod":
                    timeline.sync(item[2], t)
                elif item[2]:
                    deploy = item[2][0]
            else:
                if kind == "pod":
                    timeline.apply(item[3], item[2], t)
                elif item[2] != "DELETED":
                    deploy = item[3]
                else:
                    raise K8sWatchError(f"Deployment {namespace}/{name} was deleted during the wait.")
            trigger = t
            # Drain what already arrived before judging, so a burst is judged once.
            if sink.empty():
                done, waiting = _target_state(deploy, timeline, target, generation, params["wait_for_termination"])
        detected = now()
        if not done:
            done, waiting = _target_state(deploy, timeline, target, generation, params["wait_for_termination"])
        result.update(waited=True)
        _finish(result, timeline, watches, client, deploy)
        if not done:
            problems = waiting + _deployment_problems(deploy)
            raise K8sTimeout(
                f"Timed out after {timeout:g} s waiting for Deployment {namespace}/{name} to reach {target} Ready replicas"
                + (" with the surplus pods gone" if params["wait_for_termination"] else "")
                + ": "
                + "; ".join(problems),
                **result,
            )
        phases = list(result["pods"])
        last_ready = max((p["ready_t"] for p in phases if p["ready_t"] is not None and p["ready_t"] >= requested), default=None)
        last_gone = max((p["gone_t"] for p in phases if p["gone_t"] is not None and p["gone_t"] >= requested), default=None)
        result.update(
            detected_at=iso(detected),
            detected_t=round(detected, 3),
            elapsed_s=round(detected - requested, 3),
            last_ready_t=last_ready,
            last_gone_t=last_gone,
            # Time from the event that completed the target to this module noticing it.
            detection_lag_s=round(max(0.0, detected - trigger), 4),
        )
        if params.get("replicas_owner"):
            result["replicas_owner_restored"] = hand_replicas_back(client, namespace, name, params["replicas_owner"])
            result["changed"] = result["changed"] or result["replicas_owner_restored"]
            result["api_calls"] = client.api_calls
        return result
    finally:
        for w in watches:
            w.stop()


def _finish(result: dict[str, Any], timeline: PodTimeline, watches: list[Watch], client: K8sClient, deploy: Mapping[str, Any]) -> dict[str, Any]:
    status = deploy.get("status") or {}
    result["deployment"].update(
        generation=(deploy.get("metadata") or {}).get("generation"),
        observed_generation=status.get("observedGeneration"),
        status_replicas=int(status.get("replicas") or 0),
        ready_replicas=int(status.get("readyReplicas") or 0),
        available_replicas=int(status.get("availableReplicas") or 0),
    )
    result["pods"] = timeline.report()
    events = [e for p in result["pods"] for e in p["history"]]
    events.sort(key=lambda e: e["t"])
    result["events"] = events
    result["watch"] = {w.kind: dict(w.stats.items()) for w in watches}
    result["api_calls"] = client.api_calls
    return result


# ------------------------------------------------------------------------------------------------
# pods of a selector (logs)
# ------------------------------------------------------------------------------------------------
def select_pods(client: K8sClient, namespace: str, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Pods named by ``name``, ``label_selectors`` or ``deployment`` (its selector), sorted by creation then name."""
    if params.get("name"):
        try:
            return [client.get(client.pods_path(namespace, params["name"]), f"Pod {namespace}/{params['name']}")], f"pod {params['name']}"
        except K8sApiError as exc:
            if exc.status == 404:
                raise K8sInputError(f"Pod {namespace}/{params['name']} does not exist.") from exc
            raise
    if params.get("deployment"):
        try:
            deploy = client.read_deployment(namespace, params["deployment"])
        except K8sApiError as exc:
            if exc.status == 404:
                raise K8sInputError(f"Deployment {namespace}/{params['deployment']} does not exist; check deployment and namespace.") from exc
            raise
        selector = label_selector((deploy.get("spec") or {}).get("selector"))
    else:
        selector = ",".join(params.get("label_selectors") or [])
    items = client.list_pods(namespace, selector).get("items") or []
    if not params.get("include_terminating", False):
        items = [p for p in items if not pod_terminating(p)]
    items.sort(key=lambda p: ((p.get("metadata") or {}).get("creationTimestamp") or "", (p.get("metadata") or {}).get("name") or ""))
    return items, selector


def _container_of(pod: Mapping[str, Any], wanted: str | None) -> str:
    containers = [c.get("name") for c in (pod.get("spec") or {}).get("containers") or []]
    if wanted:
        if wanted not in containers:
            raise K8sInputError(f"Pod {pod['metadata']['name']} has no container {wanted!r} (containers: {', '.join(containers)}).")
        return wanted
    default = ((pod.get("metadata") or {}).get("annotations") or {}).get("kubectl.kubernetes.io/default-container")
    return default if default in containers else containers[0]


LOGS_ARGSPEC: dict[str, Any] = {
    "namespace": {"type": "str", "required": True},
    "name": {"type": "str"},
    "label_selectors": {"type": "list", "elements": "str", "default": []},
    "deployment": {"type": "str"},
    "container": {"type": "str"},
    "include_terminating": {"type": "bool", "default": False},
    "tail_lines": {"type": "int"},
    "since_seconds": {"type": "int"},
    "since_time": {"type": "str"},
    "timestamps": {"type": "bool", "default": False},
    "previous": {"type": "bool", "default": False},
    "follow": {"type": "bool", "default": False},
    "until_regex": {"type": "str"},
    "until": {"type": "str", "default": "any", "choices": ["any", "all"]},
    "timeout": {"type": "float", "default": 60},
    "fail_on_timeout": {"type": "bool", "default": True},
    "max_lines": {"type": "int", "default": 2000},
    "require_pods": {"type": "bool", "default": True},
}

_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (.*)$")


def collect_logs(client: K8sClient, params: Mapping[str, Any]) -> dict[str, Any]:
    namespace = params["namespace"]
    for key in ("tail_lines", "since_seconds", "max_lines"):
        if params.get(key) is not None and int(params[key]) < (1 if key != "tail_lines" else 0):
            raise K8sInputError(f"{key} must be {'0' if key == 'tail_lines' else '1'} or more (got {params[key]}).")
    if params.get("since_seconds") is not None and params.get("since_time"):
        raise K8sInputError("since_seconds and since_time are mutually exclusive; set one of them.")
    if params.get("since_time") and parse_time(params["since_time"]) is None:
        raise K8sInputError(f"since_time must be an RFC 3339 time such as 2026-01-06T10:00:00Z (got {params['since_time']!r}).")
    pattern = None
    if params.get("until_regex"):
        try:
            pattern = re.compile(params["until_regex"])
        except re.error as exc:
            raise K8sInputError(f"until_regex is not a valid regular expression: {exc}") from exc
    follow = bool(params.get("follow"))
    timeout = float(params.get("timeout") or 60)
    max_lines = int(params.get("max_lines") or 2000)
    started = now()
    pods, selector = select_pods(client, namespace, params)
    if not pods and params.get("require_pods", True):
        raise K8sInputError(f"No pods in namespace {namespace} match {selector or 'the selection'}; nothing to read logs from.")
    query_base: dict[str, Any] = {
        "tailLines": params.get("tail_lines"),
        "sinceSeconds": params.get("since_seconds"),
        "sinceTime": params.get("since_time"),
        "timestamps": "true" if params.get("timestamps") else None,
        "previous": "true" if params.get("previous") else None,
    }
    states: dict[str, dict[str, Any]] = {}
    for pod in pods:
        pname = pod["metadata"]["name"]
        container = _container_of(pod, params.get("container"))
        states[pname] = {
            "name": pname,
            "container": container,
            "node": (pod.get("spec") or {}).get("nodeName"),
            "prefix": f"[pod/{pname}/{container}]",
            "lines": [],
            "line_count": 0,
            "truncated": False,
            "matched": False,
            "match_line": None,
            "match_at": None,
            "ended": False,
            "error": None,
        }
    merged: list[tuple[float, int, str, str]] = []
    seq = [0]

    def take(pname: str, line: str, t: float) -> bool:
        st = states[pname]
        st["line_count"] += 1
        if len(st["lines"]) < max_lines:
            st["lines"].append(line)
        else:
            st["truncated"] = True
        ts_match = _TS.match(line) if params.get("timestamps") else None
        sort_t = (parse_time(ts_match.group(1)) or t) if ts_match else t
        seq[0] += 1
        if len(merged) < max_lines * max(1, len(states)):
            merged.append((sort_t, seq[0], pname, line))
        if pattern is not None and not st["matched"] and pattern.search(line):
            st.update(matched=True, match_line=line, match_at=iso(t))
            return True
        return False

    def satisfied() -> bool:
        if pattern is None:
            return False
        hits = [s["matched"] for s in states.values()]
        return any(hits) if params.get("until", "any") == "any" else all(hits)

    def path(pname: str) -> str:
        return client.pods_path(namespace, pname) + "/log"

    timed_out = False
    if not follow:
        for pname, st in states.items():
            query = dict(query_base, container=st["container"])
            try:
                resp = client._call("GET", path(pname), f"logs of {pname}", query, stream=True)
                data = resp.data.decode("utf-8", errors="replace")
                resp.release_conn()
            except K8sApiError as exc:
                st["error"] = str(exc)
                continue
            t = now()
            for line in data.splitlines():
                take(pname, line, t)
            st["ended"] = True
    else:
        sink: "queue.Queue[tuple[str, str | None, float, str | None]]" = queue.Queue()
        streams: dict[str, Any] = {}
        stop = threading.Event()

        def reader(pname: str) -> None:
            st = states[pname]
            query = dict(query_base, container=st["container"], follow="true")
            try:
                resp = client._call("GET", path(pname), f"logs of {pname}", query, stream=True, timeout=(10.0, timeout + 5))
            except Exception as exc:  # noqa: BLE001 - reported per pod
                sink.put((pname, None, now(), str(exc)))
                return
            streams[pname] = resp
            try:
                for line in iter_lines(resp):
                    sink.put((pname, line, now(), None))
            except Exception as exc:  # noqa: BLE001 - closed by us at the end, or dropped
                if not stop.is_set():
                    sink.put((pname, None, now(), f"stream ended: {type(exc).__name__}: {exc}"))
                    return
            sink.put((pname, None, now(), None))

        threads = [threading.Thread(target=reader, args=(pname,), daemon=True) for pname in states]
        for th in threads:
            th.start()
        deadline = started + timeout
        open_streams = len(states)
        try:
            while open_streams and not satisfied():
                item = next_before(sink, deadline)
                if item is None:
                    timed_out = True
                    break
                pname, line, t, err = item
                if line is None:
                    open_streams -= 1
                    states[pname]["ended"] = True
                    states[pname]["error"] = err
                    continue
                take(pname, line, t)
        finally:
            stop.set()
            for resp in list(streams.values()):
                close_stream(resp)
    finished = now()
    pod_results = list(states.values())
    for st in pod_results:
        st.pop("ended", None)
    if params.get("timestamps"):
        merged.sort(key=lambda m: (m[0], m[1]))
    else:
        merged.sort(key=lambda m: m[1])
    lines = [f"{states[p]['prefix']} {text}" for _when, _order, p, text in merged]
    matched_pods = [s["name"] for s in pod_results if s["matched"]]
    result: dict[str, Any] = {
        "changed": False,
        "namespace": namespace,
        "selector": selector,
        "pods": pod_results,
        "lines": lines,
        "line_count": sum(s["line_count"] for s in pod_results),
        "followed": follow,
        "matched": satisfied() if pattern is not None else None,
        "matched_pods": matched_pods,
        "unmatched_pods": [s["name"] for s in pod_results if pattern is not None and not s["matched"]],
        "timed_out": timed_out,
        "started_at": iso(started),
        "elapsed_s": round(finished - started, 3),
        "api_calls": client.api_calls,
    }
    errors = [f"{s['name']}: {s['error']}" for s in pod_results if s["error"]]
    if pattern is not None and not result["matched"] and params.get("fail_on_timeout", True):
        why = f"after {timeout:g} s" if follow else "in the logs read (set follow=true to wait for it)"
        need = "every pod" if params.get("until") == "all" else "any pod"
        raise K8sTimeout(
            f"Pattern {params['until_regex']!r} did not appear in {need} {why}; "
            f"no match in: {', '.join(result['unmatched_pods']) or '-'}" + (f"; errors: {'; '.join(errors)}" if errors else ""),
            **result,
        )
    if errors and not follow:
        raise K8sApiError("Could not read the logs of " + "; ".join(errors), **result)
    return result


# ------------------------------------------------------------------------------------------------
# events
# ------------------------------------------------------------------------------------------------
EVENTS_ARGSPEC: dict[str, Any] = {
    "namespace": {"type": "str", "required": True},
    "involved_kind": {"type": "list", "elements": "str", "default": []},
    "involved_name": {"type": "list", "elements": "str", "default": []},
    "involved_name_regex": {"type": "str"},
    "reasons": {"type": "list", "elements": "str", "default": []},
    "types": {"type": "list", "elements": "str", "default": [], "choices": ["Normal", "Warning"]},
    "since_time": {"type": "str"},
    "since_seconds": {"type": "int"},
    "expect_reasons": {"type": "list", "elements": "str", "default": []},
    "fail_on_missing": {"type": "bool", "default": True},
    "wait_timeout": {"type": "float", "default": 0},
    "order": {"type": "str", "default": "asc", "choices": ["asc", "desc"]},
    "limit": {"type": "int"},
}


def event_time(ev: Mapping[str, Any]) -> float:
    """When an event last happened: series.lastObservedTime, lastTimestamp, eventTime, firstTimestamp, creation."""
    meta = ev.get("metadata") or {}
    for value in (
        (ev.get("series") or {}).get("lastObservedTime"),
        ev.get("lastTimestamp"),
        ev.get("eventTime"),
        ev.get("firstTimestamp"),
        meta.get("creationTimestamp"),
    ):
        t = parse_time(value)
        if t is not None:
            return t
    return 0.0


def normalise_event(ev: Mapping[str, Any]) -> dict[str, Any]:
    meta = ev.get("metadata") or {}
    inv = ev.get("involvedObject") or {}
    source = ev.get("source") or {}
    t = event_time(ev)
    return {
        "time": iso(t),
        "t": round(t, 3),
        "type": ev.get("type"),
        "reason": ev.get("reason"),
        "kind": inv.get("kind"),
        "name": inv.get("name"),
        "object": f"{inv.get('kind')}/{inv.get('name')}",
        "message": (ev.get("message") or "").strip(),
        "count": int(ev.get("count") or (ev.get("series") or {}).get("count") or 1),
        "component": source.get("component") or ev.get("reportingComponent") or "",
        "first_time": ev.get("firstTimestamp") or ev.get("eventTime"),
        "last_time": ev.get("lastTimestamp") or (ev.get("series") or {}).get("lastObservedTime") or ev.get("eventTime"),
        "uid": meta.get("uid"),
    }


def _event_filter(params: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    kinds = {k.lower() for k in params.get("involved_kind") or []}
    names = set(params.get("involved_name") or [])
    name_re = re.compile(params["involved_name_regex"]) if params.get("involved_name_regex") else None
    reasons = set(params.get("reasons") or [])
    types = set(params.get("types") or [])
    since = parse_time(params["since_time"]) if params.get("since_time") else None
    if params.get("since_seconds") is not None:
        since = now() - int(params["since_seconds"])
    # Server timestamps have one-second precision: keep the whole second `since` falls in.
    if since is not None:
        since = float(int(since))

    def keep(ev: Mapping[str, Any]) -> bool:
        if kinds and (ev.get("kind") or "").lower() not in kinds:
            return False
        if names and ev.get("name") not in names:
            return False
        if name_re is not None and not name_re.search(ev.get("name") or ""):
            return False
        if reasons and ev.get("reason") not in reasons:
            return False
        if types and ev.get("type") not in types:
            return False
        if since is not None and ev["t"] < since:
            return False
        return True

    return keep


def collect_events(client: K8sClient, params: Mapping[str, Any]) -> dict[str, Any]:
    namespace = params["namespace"]
    if params.get("since_time") and parse_time(params["since_time"]) is None:
        raise K8sInputError(f"since_time must be an RFC 3339 time such as 2026-01-06T10:00:00Z (got {params['since_time']!r}).")
    if params.get("since_time") and params.get("since_seconds") is not None:
        raise K8sInputError("since_seconds and since_time are mutually exclusive; set one of them.")
    if params.get("involved_name_regex"):
        try:
            re.compile(params["involved_name_regex"])
        except re.error as exc:
            raise K8sInputError(f"involved_name_regex is not a valid regular expression: {exc}") from exc
    if float(params.get("wait_timeout") or 0) < 0:
        raise K8sInputError(f"wait_timeout must be 0 or more (got {params['wait_timeout']}).")
    started = now()
    field: list[str] = []
    if len(params.get("involved_kind") or []) == 1:
        field.append(f"involvedObject.kind={params['involved_kind'][0]}")
    if len(params.get("involved_name") or []) == 1:
        field.append(f"involvedObject.name={params['involved_name'][0]}")
    field_selector = ",".join(field) or None
    listing = client.list_events(namespace, field_selector)
    keep = _event_filter(params)
    by_uid: dict[str, dict[str, Any]] = {}
    for raw in listing.get("items") or []:
        ev = normalise_event(raw)
        by_uid[ev["uid"] or str(len(by_uid))] = ev
    expected = list(dict.fromkeys(params.get("expect_reasons") or []))

    def missing() -> list[str]:
        present = {e["reason"] for e in by_uid.values() if keep(e)}
        return [r for r in expected if r not in present]

    watch_stats: dict[str, Any] = {}
    wait_timeout = float(params.get("wait_timeout") or 0)
    if expected and missing() and wait_timeout > 0:
        sink: "queue.Queue[tuple[Any, ...]]" = queue.Queue()
        query = {"fieldSelector": field_selector} if field_selector else {}
        watch = Watch(client, "event", client.events_path(namespace), (listing.get("metadata") or {}).get("resourceVersion", ""), sink, query)
        watch.start()
        deadline = started + wait_timeout
        try:
            while missing():
                item = next_before(sink, deadline)
                if item is None:
                    break
                if item[0] == "event" and item[2] != "DELETED":
                    ev = normalise_event(item[3])
                    by_uid[ev["uid"] or str(len(by_uid))] = ev
                elif item[0] == "sync":
                    for raw in item[2]:
                        ev = normalise_event(raw)
                        by_uid[ev["uid"] or str(len(by_uid))] = ev
                elif item[0] == "error":
                    raise K8sWatchError(f"Watching events in {namespace} failed: {item[2]}")
        finally:
            watch.stop()
        watch_stats = dict(watch.stats)
    events = [e for e in by_uid.values() if keep(e)]
    events.sort(key=lambda e: (e["t"], e["first_time"] or "", e["reason"] or ""), reverse=params.get("order") == "desc")
    if params.get("limit"):
        events = events[: int(params["limit"])]
    reasons: dict[str, int] = {}
    for ev in events:
        reasons[ev["reason"]] = reasons.get(ev["reason"], 0) + ev["count"]
    miss = missing()
    table = [f"{'TIME':24} {'TYPE':7} {'REASON':18} {'OBJECT':45} MESSAGE"] + [
        f"{e['time'] or '-':24} {e['type'] or '-':7} {e['reason'] or '-':18} {e['object']:45} {e['message']}" for e in events
    ]
    result = {
        "changed": False,
        "namespace": namespace,
        "events": events,
        "count": len(events),
        "reasons": reasons,
        "expected_reasons": expected,
        "missing_reasons": miss,
        "found_reasons": [r for r in expected if r not in miss],
        "table": table,
        "elapsed_s": round(now() - started, 3),
        "api_calls": client.api_calls,
    }
    if watch_stats:
        result["watch"] = watch_stats
    if miss and params.get("fail_on_missing", True):
        raise K8sTimeout(
            f"Expected event reasons missing in namespace {namespace}: {', '.join(miss)}"
            + (f" (waited {wait_timeout:g} s)" if wait_timeout else "")
            + f"; found: {', '.join(sorted(reasons)) or 'none'}.",
            **result,
        )
    return result
