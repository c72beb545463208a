# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Namespace events: listed, filtered, sorted by when they last happened, expected reasons waited for on a watch.

PRIVATE: this file may change at any time; the public surface is the module k8s_events.
"""

from __future__ import annotations

import queue
import re
from typing import Any, Callable, Mapping

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import K8sClient, K8sTimeout, K8sWatchError, check_input
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_objects import check_regex, iso, now, parse_time
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_watch import Watch, next_before
from ansible_collections.mlops.ollama.plugins.module_utils._values import check_duration, check_k8s_name

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

# A day: longer waits belong to a job runner, not a task.
MAX_WAIT_S = 86400.0
_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,62}$")
# Involved objects are of any kind (RBAC names may hold ':'), so only what would break the field selector is refused.
_INVOLVED_NAME = re.compile(r"^[^\s,=!\\]{1,253}$")


def check_events_params(params: Mapping[str, Any]) -> None:
    """Every parameter that can be judged without the cluster; ValueError naming the parameter."""
    check_k8s_name(params.get("namespace"), "namespace", label=True)
    for kind in params.get("involved_kind") or []:
        if not isinstance(kind, str) or not _KIND.match(kind):
            raise ValueError(f"involved_kind={kind!r} is not a kind: give a name such as Pod, ReplicaSet or Deployment")
    for name in params.get("involved_name") or []:
        if not isinstance(name, str) or not _INVOLVED_NAME.match(name):
            raise ValueError(f"involved_name={name!r} is not an object name: give the exact name, without spaces, ',', '=' or '!'")
    check_regex(params.get("involved_name_regex"), "involved_name_regex")
    if params.get("since_time") and parse_time(params["since_time"]) is None:
        raise ValueError(f"since_time must be an RFC 3339 time such as 2026-01-06T10:00:00Z (got {params['since_time']!r}).")
    if params.get("since_time") and params.get("since_seconds") is not None:
        raise ValueError("since_seconds and since_time are mutually exclusive; set one of them.")
    if params.get("since_seconds") is not None and int(params["since_seconds"]) < 1:
        raise ValueError(f"since_seconds must be 1 or more (got {params['since_seconds']}).")
    check_duration(params.get("wait_timeout") or 0, "wait_timeout", allow_zero=True, maximum=MAX_WAIT_S)
    if params.get("limit") is not None and int(params["limit"]) < 0:
        raise ValueError(f"limit must be 0 (no limit) or more (got {params['limit']}).")


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
    name_re = check_regex(params.get("involved_name_regex"), "involved_name_regex")
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
        return since is None or ev["t"] >= since

    return keep


def _field_selector(params: Mapping[str, Any]) -> str | None:
    """What the server can filter itself: one kind, one name."""
    field: list[str] = []
    if len(params.get("involved_kind") or []) == 1:
        field.append(f"involvedObject.kind={params['involved_kind'][0]}")
    if len(params.get("involved_name") or []) == 1:
        field.append(f"involvedObject.name={params['involved_name'][0]}")
    return ",".join(field) or None


class EventSet:
    """The events seen so far, by uid, and which expected reasons are still missing among the kept ones."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.keep = _event_filter(params)
        self.expected = list(dict.fromkeys(params.get("expect_reasons") or []))
        self.by_uid: dict[str, dict[str, Any]] = {}

    def add(self, raw: Mapping[str, Any]) -> None:
        ev = normalise_event(raw)
        self.by_uid[ev["uid"] or str(len(self.by_uid))] = ev

    def missing(self) -> list[str]:
        present = {e["reason"] for e in self.by_uid.values() if self.keep(e)}
        return [r for r in self.expected if r not in present]


def _wait_for_reasons(
    client: K8sClient, namespace: str, found: EventSet, listing: Mapping[str, Any], field_selector: str | None, deadline: float
) -> dict[str, Any]:
    """Watch the events from the list's version until no expected reason is missing or ``deadline``; the watch's figures."""
    sink: "queue.Queue[tuple[Any, ...]]" = queue.Queue()
    query = {"fieldSelector": field_selector} if field_selector else {}
    watch = Watch(client, "event", client.events_path(namespace), (listing.get("metadata") or {}).get("resourceVersion", ""), sink, query)
    watch.start()
    try:
        while found.missing():
            item = next_before(sink, deadline)
            if item is None:
                break
            if item[0] == "event" and item[2] != "DELETED":
                found.add(item[3])
            elif item[0] == "sync":
                for raw in item[2]:
                    found.add(raw)
            elif item[0] == "error":
                raise K8sWatchError(f"Watching events in {namespace} failed: {item[2]}")
    finally:
        watch.stop()
    return dict(watch.stats)


def _table(events: list[dict[str, Any]]) -> list[str]:
    return [f"{'TIME':24} {'TYPE':7} {'REASON':18} {'OBJECT':45} MESSAGE"] + [
        f"{e['time'] or '-':24} {e['type'] or '-':7} {e['reason'] or '-':18} {e['object']:45} {e['message']}" for e in events
    ]


def _result(params: Mapping[str, Any], found: EventSet, started: float, client: K8sClient) -> dict[str, Any]:
    events = [e for e in found.by_uid.values() if found.keep(e)]
    events.sort(key=lambda e: (e["t"], e["first_time"] or "", e["reason"] or ""), reverse=params.get("order") == "desc")
    if params.get("limit"):
        events = events[: int(params["limit"])]
    reasons: dict[str, int] = {}
    for ev in events:
        reasons[ev["reason"]] = reasons.get(ev["reason"], 0) + ev["count"]
    miss = found.missing()
    return {
        "changed": False,
        "namespace": params["namespace"],
        "events": events,
        "count": len(events),
        "reasons": reasons,
        "expected_reasons": found.expected,
        "missing_reasons": miss,
        "found_reasons": [r for r in found.expected if r not in miss],
        "table": _table(events),
        "elapsed_s": round(now() - started, 3),
        "api_calls": client.api_calls,
    }


def collect_events(client: K8sClient, params: Mapping[str, Any]) -> dict[str, Any]:
    check_input(check_events_params, params)
    namespace, started = params["namespace"], now()
    field_selector = _field_selector(params)
    listing = client.list_events(namespace, field_selector)
    found = EventSet(params)
    for raw in listing.get("items") or []:
        found.add(raw)
    wait_timeout = float(params.get("wait_timeout") or 0)
    watch_stats: dict[str, Any] = {}
    if found.expected and found.missing() and wait_timeout > 0:
        watch_stats = _wait_for_reasons(client, namespace, found, listing, field_selector, started + wait_timeout)
    result = _result(params, found, started, client)
    if watch_stats:
        result["watch"] = watch_stats
    if result["missing_reasons"] and params.get("fail_on_missing", True):
        raise K8sTimeout(
            f"Expected event reasons missing in namespace {namespace}: {', '.join(result['missing_reasons'])}"
            + (f" (waited {wait_timeout:g} s)" if wait_timeout else "")
            + f"; found: {', '.join(sorted(result['reasons'])) or 'none'}.",
            **result,
        )
    return result
