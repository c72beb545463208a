# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reading Kubernetes objects: timestamps, label selectors, pod conditions.

PRIVATE: this file may change at any time; the public surface is the modules
k8s_scale_watch, k8s_pod_logs and k8s_events.

Pure functions over the JSON dicts the API returns; no requests are made here.
"""

from __future__ import annotations

import datetime
import re
import time
from typing import Any, Mapping

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import K8sInputError
from ansible_collections.mlops.ollama.plugins.module_utils._values import LABEL_NAME_PATTERN


# ------------------------------------------------------------------------------------------------
# time
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


# ------------------------------------------------------------------------------------------------
# label selectors
# ------------------------------------------------------------------------------------------------
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


# A label key (optional DNS-subdomain prefix, then a name of at most 63) and a label value (may be empty).
_LABEL_NAME = LABEL_NAME_PATTERN
_LABEL_KEY = rf"(?:[a-z0-9](?:[-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_LABEL_NAME}"
_LABEL_VALUE = rf"(?:{_LABEL_NAME})?"
_REQUIREMENT = re.compile(
    rf"^\s*(?:!\s*{_LABEL_KEY}|{_LABEL_KEY}\s*(?:(?:==|!=|=)\s*{_LABEL_VALUE}" rf"|\s(?:in|notin)\s*\(\s*{_LABEL_VALUE}(?:\s*,\s*{_LABEL_VALUE})*\s*\))?)\s*$"
)


def _requirements(selector: str) -> list[str]:
    """Split a selector at the commas that are not inside ``( )``."""
    parts, depth, current = [], 0, ""
    for char in selector:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return parts + [current]


def check_label_selector(value: Any, param: str) -> str:
    """A label selector as ``kubectl -l`` takes it (``app=x``, ``tier in (a,b)``, ``!old``); ValueError naming ``param``."""
    if not isinstance(value, str) or not value.strip() or any(not _REQUIREMENT.match(p) for p in _requirements(value)):
        raise ValueError(
            f"{param}={value!r} is not a label selector: give comma-separated requirements such as app=ollama, "
            "tier!=cache, 'env in (prod,staging)', gpu or !legacy"
        )
    return value


# ------------------------------------------------------------------------------------------------
# conditions
# ------------------------------------------------------------------------------------------------
def conditions(obj: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {c.get("type", ""): c for c in (obj.get("status") or {}).get("conditions") or []}


def pod_ready(pod: Mapping[str, Any]) -> bool:
    return conditions(pod).get("Ready", {}).get("status") == "True"


def pod_started(pod: Mapping[str, Any]) -> bool:
    """Every container runs and has passed its startup probe: the server answers, Ready or not."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return bool(statuses) and all(cs.get("started") is True and "running" in (cs.get("state") or {}) for cs in statuses)


def pod_terminating(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def container_waiting(pod: Mapping[str, Any], container: str) -> str | None:
    """The reason ``container`` has never run yet (ContainerCreating, ImagePullBackOff, the pod's phase before it has
    a status), or None once it has run: from then on the kubelet has a log to serve."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed"):
        return None
    for cs in status.get("containerStatuses") or []:
        if cs.get("name") == container:
            state, last = cs.get("state") or {}, cs.get("lastState") or {}
            if "waiting" not in state or last.get("terminated") or int(cs.get("restartCount") or 0):
                return None
            return str(state["waiting"].get("reason") or "waiting")
    return str(status.get("phase") or "Pending")


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


def check_regex(value: Any, param: str) -> re.Pattern[str] | None:
    """``value`` compiled (None when unset); ValueError naming ``param`` when it does not compile."""
    if value is None or value == "":
        return None
    try:
        return re.compile(value)
    except (re.error, TypeError) as exc:
        raise ValueError(f"{param} is not a valid Python regular expression ({exc}): {value!r}") from exc
