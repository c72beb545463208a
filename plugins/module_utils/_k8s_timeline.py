# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The per-pod timeline a scale-and-watch records: created, scheduled, running, ready, deletion requested, gone.

PRIVATE: this file may change at any time; the public surface is the module k8s_scale_watch.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_objects import (
    conditions,
    iso,
    last_condition,
    parse_time,
    pod_live,
    pod_ready,
    pod_terminating,
)

# Phases of a pod's life, in order, as the timeline records them.
POD_PHASES = ("created", "scheduled", "running", "ready", "deletion_requested", "gone")


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

    def _new_record(self, pod: Mapping[str, Any], t: float, seed: bool) -> dict[str, Any]:
        meta = pod.get("metadata") or {}
        rec: dict[str, Any] = {
            "name": meta.get("name", ""),
            "uid": meta.get("uid"),
            "node": None,
            "pre_existing": seed,
            "grace_period_s": (pod.get("spec") or {}).get("terminationGracePeriodSeconds"),
            "t": {},
            "sources": {},
            "history": [],
            "not_ready_after_ready": None,
        }
        self.pods[rec["name"]] = rec
        self.order.append(rec["name"])
        created = parse_time(meta.get("creationTimestamp"))
        if seed and created:
            self._record(rec, "created", created, "server")
        else:
            self._record(rec, "created", t, "watch")
        return rec

    def apply(self, pod: Mapping[str, Any], etype: str, t: float, seed: bool = False) -> None:
        meta = pod.get("metadata") or {}
        name = meta.get("name", "")
        rec = self.pods.get(name)
        if rec is None or (meta.get("uid") and rec["uid"] != meta.get("uid")):
            rec = self._new_record(pod, t, seed)
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

    def live_pods(self) -> list[dict[str, Any]]:
        """The live pods (not being deleted, not finished) as they are now, sorted by name, in a flat form a role can use."""
        out = []
        for name in sorted(n for n, pod in self.objects.items() if pod_live(pod)):
            pod, t = self.objects[name], self.pods[name]["t"]
            ready = pod_ready(pod)
            ready_t = t.get("ready") if ready else None
            created_t = t.get("created")
            out.append(
                {
                    "name": name,
                    "node": (pod.get("spec") or {}).get("nodeName"),
                    "phase": (pod.get("status") or {}).get("phase"),
                    "ip": (pod.get("status") or {}).get("podIP"),
                    "ready": ready,
                    "created": iso(created_t),
                    "ready_time": iso(ready_t),
                    "seconds_to_ready": round(ready_t - created_t, 3) if ready_t is not None and created_t is not None else None,
                }
            )
        return out
