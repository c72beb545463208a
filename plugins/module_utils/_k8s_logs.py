# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pod logs: read or follow every pod of a selection at once, until a pattern appears or a timeout passes.

PRIVATE: this file may change at any time; the public surface is the module k8s_pod_logs.

The steps: check the parameters (before any client exists), select the pods and their
containers, read each log once or open a follow stream per pod (a reader thread each),
take lines until the pattern matched (in any or every pod) or the timeout, assemble.
"""

from __future__ import annotations

import queue
import re
import threading
from typing import Any, Mapping

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import (
    K8sApiError,
    K8sClient,
    K8sInputError,
    K8sTimeout,
    check_input,
    close_stream,
    iter_lines,
)
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_objects import (
    check_label_selector,
    check_regex,
    container_waiting,
    iso,
    label_selector,
    now,
    parse_time,
    pod_terminating,
)
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_watch import next_before
from ansible_collections.mlops.ollama.plugins.module_utils._values import check_duration, check_k8s_name

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

# A day: longer follows belong to a log shipper, not a task.
MAX_FOLLOW_S = 86400.0

_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)) (.*)$")


def check_logs_params(params: Mapping[str, Any]) -> None:
    """Every parameter that can be judged without the cluster; ValueError naming the parameter."""
    check_k8s_name(params.get("namespace"), "namespace", label=True)
    for key in ("name", "deployment"):
        if params.get(key) is not None:
            check_k8s_name(params[key], key)
    if params.get("container") is not None:
        check_k8s_name(params["container"], "container", label=True)
    for selector in params.get("label_selectors") or []:
        check_label_selector(selector, "label_selectors")
    for key, least in (("tail_lines", 0), ("since_seconds", 1), ("max_lines", 1)):
        if params.get(key) is not None and int(params[key]) < least:
            raise ValueError(f"{key} must be {least} or more (got {params[key]}).")
    if params.get("since_seconds") is not None and params.get("since_time"):
        raise ValueError("since_seconds and since_time are mutually exclusive; set one of them.")
    if params.get("since_time") and parse_time(params["since_time"]) is None:
        raise ValueError(f"since_time must be an RFC 3339 time such as 2026-01-06T10:00:00Z (got {params['since_time']!r}).")
    check_regex(params.get("until_regex"), "until_regex")
    check_duration(60 if params.get("timeout") is None else params["timeout"], "timeout", maximum=MAX_FOLLOW_S)


# ------------------------------------------------------------------------------------------------
# select pods and containers
# ------------------------------------------------------------------------------------------------
def _selector_of(client: K8sClient, namespace: str, params: Mapping[str, Any]) -> str:
    if not params.get("deployment"):
        return ",".join(params.get("label_selectors") or [])
    try:
        deploy = client.read_deployment(namespace, params["deployment"])
    except K8sApiError as exc:
        if exc.status == 404:
            raise K8sInputError(f"Deployment {namespace}/{params['deployment']} does not exist; check deployment and namespace.") from exc
        raise
    return label_selector((deploy.get("spec") or {}).get("selector"))


def select_pods(client: K8sClient, namespace: str, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Pods named by ``name``, ``label_selectors`` or ``deployment`` (its selector), sorted by creation then name."""
    if params.get("name"):
        try:
            return [client.get(client.pods_path(namespace, params["name"]), f"Pod {namespace}/{params['name']}")], f"pod {params['name']}"
        except K8sApiError as exc:
            if exc.status == 404:
                raise K8sInputError(f"Pod {namespace}/{params['name']} does not exist.") from exc
            raise
    selector = _selector_of(client, namespace, params)
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


def _pod_state(pod: Mapping[str, Any], container: str) -> dict[str, Any]:
    name = pod["metadata"]["name"]
    return {
        "name": name,
        "container": container,
        "node": (pod.get("spec") or {}).get("nodeName"),
        "prefix": f"[pod/{name}/{container}]",
        "lines": [],
        "line_count": 0,
        "truncated": False,
        "matched": False,
        "match_line": None,
        "match_at": None,
        "ended": False,
        "error": None,
    }


def _log_query(params: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "tailLines": params.get("tail_lines"),
        "sinceSeconds": params.get("since_seconds"),
        "sinceTime": params.get("since_time"),
        "timestamps": "true" if params.get("timestamps") else None,
        "previous": "true" if params.get("previous") else None,
    }


# ------------------------------------------------------------------------------------------------
# read, follow, assemble
# ------------------------------------------------------------------------------------------------
class LogRun:
    """The lines of every selected pod, merged, and whether the pattern matched where it had to."""

    def __init__(self, client: K8sClient, namespace: str, params: Mapping[str, Any], pods: list[dict[str, Any]]) -> None:
        self.client, self.namespace, self.params = client, namespace, params
        self.pattern = check_regex(params.get("until_regex"), "until_regex")
        self.max_lines = int(params.get("max_lines") or 2000)
        self.timeout = float(params.get("timeout") or 60)
        self.query = _log_query(params)
        self.states = {p["metadata"]["name"]: _pod_state(p, _container_of(p, params.get("container"))) for p in pods}
        self.merged: list[tuple[float, int, str, str]] = []
        self.timed_out = False

    def _path(self, pod: str) -> str:
        return self.client.pods_path(self.namespace, pod) + "/log"

    def take(self, pod: str, line: str, t: float) -> None:
        st = self.states[pod]
        st["line_count"] += 1
        if len(st["lines"]) < self.max_lines:
            st["lines"].append(line)
        else:
            st["truncated"] = True
        ts_match = _TS.match(line) if self.params.get("timestamps") else None
        sort_t = (parse_time(ts_match.group(1)) or t) if ts_match else t
        if len(self.merged) < self.max_lines * max(1, len(self.states)):
            self.merged.append((sort_t, len(self.merged), pod, line))
        if self.pattern is not None and not st["matched"] and self.pattern.search(line):
            st.update(matched=True, match_line=line, match_at=iso(t))

    def satisfied(self) -> bool:
        if self.pattern is None:
            return False
        hits = [s["matched"] for s in self.states.values()]
        return any(hits) if self.params.get("until", "any") == "any" else all(hits)

    def read_once(self) -> None:
        for pod, st in self.states.items():
            try:
                resp = self.client._call("GET", self._path(pod), f"logs of {pod}", dict(self.query, container=st["container"]), stream=True)
                data = resp.data.decode("utf-8", errors="replace")
                resp.release_conn()
            except K8sApiError as exc:
                st["error"] = str(exc)
                continue
            t = now()
            for line in data.splitlines():
                self.take(pod, line, t)
            st["ended"] = True

    def follow(self, started: float) -> None:
        """A stream per pod, read in threads; take lines until satisfied, every stream ended, or the timeout."""
        sink: "queue.Queue[tuple[str, str | None, float, str | None]]" = queue.Queue()
        streams: dict[str, Any] = {}
        stop = threading.Event()
        for pod in self.states:
            threading.Thread(target=self._reader, args=(pod, sink, streams, stop), daemon=True).start()
        deadline, open_streams = started + self.timeout, len(self.states)
        try:
            while open_streams and not self.satisfied():
                item = next_before(sink, deadline)
                if item is None:
                    self.timed_out = True
                    break
                pod, line, t, err = item
                if line is None:
                    open_streams -= 1
                    self.states[pod].update(ended=True, error=err)
                else:
                    self.take(pod, line, t)
        finally:
            stop.set()
            for resp in list(streams.values()):
                close_stream(resp)

    def _not_started(self, pod: str) -> str | None:
        """Why the pod's container has no log yet (its waiting reason), or None once it has run or the pod is gone."""
        try:
            current = self.client.get(self.client.pods_path(self.namespace, pod), f"Pod {self.namespace}/{pod}")
        except K8sApiError:
            return None
        return container_waiting(current, self.states[pod]["container"])

    def _open_stream(self, pod: str, stop: threading.Event) -> Any:
        """The follow stream of one pod; a container that has not started yet is waited for (the API answers 400 until
        it runs), so a follow begun right after a rollout sees the first lines instead of failing at once."""
        query = dict(self.query, container=self.states[pod]["container"], follow="true")
        delay = 0.25
        while True:
            try:
                return self.client.stream(self._path(pod), f"logs of {pod}", query, self.timeout + 5)
            except K8sApiError as exc:
                waiting = self._not_started(pod) if exc.status == 400 else None
                if waiting is None:
                    raise
                self.states[pod]["error"] = f"container {self.states[pod]['container']} has not started ({waiting})"
                if stop.wait(delay):
                    raise
                delay = min(delay * 2, 2.0)

    def _reader(self, pod: str, sink: "queue.Queue[Any]", streams: dict[str, Any], stop: threading.Event) -> None:
        try:
            resp = self._open_stream(pod, stop)
        except Exception as exc:  # noqa: BLE001 - reported per pod
            sink.put((pod, None, now(), self.states[pod]["error"] if stop.is_set() and self.states[pod]["error"] else str(exc)))
            return
        self.states[pod]["error"] = None
        streams[pod] = resp
        try:
            for line in iter_lines(resp):
                sink.put((pod, line, now(), None))
        except Exception as exc:  # noqa: BLE001 - closed by us at the end, or dropped
            if not stop.is_set():
                sink.put((pod, None, now(), f"stream ended: {type(exc).__name__}: {exc}"))
                return
        sink.put((pod, None, now(), None))

    def result(self, selector: str, started: float) -> dict[str, Any]:
        pods = list(self.states.values())
        for st in pods:
            st.pop("ended", None)
        self.merged.sort(key=(lambda m: (m[0], m[1])) if self.params.get("timestamps") else (lambda m: m[1]))
        return {
            "changed": False,
            "namespace": self.namespace,
            "selector": selector,
            "pods": pods,
            "lines": [f"{self.states[p]['prefix']} {text}" for _when, _order, p, text in self.merged],
            "line_count": sum(s["line_count"] for s in pods),
            "followed": bool(self.params.get("follow")),
            "matched": self.satisfied() if self.pattern is not None else None,
            "matched_pods": [s["name"] for s in pods if s["matched"]],
            "unmatched_pods": [s["name"] for s in pods if self.pattern is not None and not s["matched"]],
            "timed_out": self.timed_out,
            "started_at": iso(started),
            "elapsed_s": round(now() - started, 3),
            "api_calls": self.client.api_calls,
        }

    def check_outcome(self, result: dict[str, Any]) -> None:
        """Fail when the pattern did not appear where it had to (unless told not to), or a log could not be read."""
        errors = [f"{s['name']}: {s['error']}" for s in result["pods"] if s["error"]]
        follow = result["followed"]
        if self.pattern is not None and not result["matched"] and self.params.get("fail_on_timeout", True):
            why = f"after {self.timeout:g} s" if follow else "in the logs read (set follow=true to wait for it)"
            need = "every pod" if self.params.get("until") == "all" else "any pod"
            raise K8sTimeout(
                f"Pattern {self.params['until_regex']!r} did not appear in {need} {why}; "
                f"no match in: {', '.join(result['unmatched_pods']) or '-'}" + (f"; errors: {'; '.join(errors)}" if errors else ""),
                **result,
            )
        if errors and not follow:
            raise K8sApiError("Could not read the logs of " + "; ".join(errors), **result)


def collect_logs(client: K8sClient, params: Mapping[str, Any]) -> dict[str, Any]:
    check_input(check_logs_params, params)
    namespace, started = params["namespace"], now()
    pods, selector = select_pods(client, namespace, params)
    if not pods and params.get("require_pods", True):
        raise K8sInputError(f"No pods in namespace {namespace} match {selector or 'the selection'}; nothing to read logs from.")
    run = LogRun(client, namespace, params, pods)
    if params.get("follow"):
        run.follow(started)
    else:
        run.read_once()
    result = run.result(selector, started)
    run.check_outcome(result)
    return result
