# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A resumable Kubernetes watch in a thread, with bounded, jittered reconnects.

PRIVATE: this file may change at any time; the public surface is the modules
k8s_scale_watch, k8s_pod_logs and k8s_events.

Nothing here sleeps to poll: every wait blocks on a watch stream and returns on the
event that satisfies it. A watch that drops (the connection is cut, the server ends it,
a read times out) is re-opened from the last resourceVersion seen (bookmarks included),
so no transition is missed; if the server has compacted that version away (HTTP 410
Gone) the collection is listed again at once and the difference applied.

A watch that keeps failing (connection refused, HTTP 5xx, an ERROR event other than
410) waits before each reconnect - exponentially longer, with full jitter, reset by a
healthy event - and gives up after a bounded number of consecutive failures, so an
unhealthy API server sees a handful of requests, not thousands a second.
"""

from __future__ import annotations

import json
import queue
import random
import threading
from typing import Any, Callable, Mapping

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import (
    K8sApiError,
    K8sClient,
    K8sWatchError,
    close_stream,
    iter_lines,
)
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_objects import iso, now

# Statuses a reconnect cannot fix: bad request, no credentials, no permission, no such resource, bad selector.
FATAL_STATUSES = (400, 401, 403, 404, 422)


class Backoff:
    """Delays before a reconnect: exponential from ``base`` up to ``cap`` with full jitter; bounded attempts.

    ``failed()`` records one more consecutive failure and returns how long to wait, or None once
    ``max_failures`` consecutive failures have happened (give up). ``reset()`` after a healthy event.
    """

    def __init__(self, base: float = 0.1, cap: float = 4.0, max_failures: int = 10, rand: Callable[[], float] = random.random) -> None:
        self.base, self.cap, self.max_failures, self.rand = base, cap, max_failures, rand
        self.failures = 0

    def failed(self) -> float | None:
        self.failures += 1
        if self.failures >= self.max_failures:
            return None
        return self.rand() * min(self.cap, self.base * 2 ** (self.failures - 1))

    def reset(self) -> None:
        self.failures = 0


class Watch(threading.Thread):
    """Watch a collection from a resourceVersion, in a thread, putting what it sees on ``sink``.

    Items put: ``("event", kind, type, object, observed_at)`` for ADDED/MODIFIED/DELETED,
    ``("sync", kind, items, observed_at)`` after a re-list (410 Gone), ``("error", kind, exc, observed_at)``
    for an error a retry cannot fix (403, 404, bad selector) or after too many consecutive failures.
    """

    # A stream open this long without an error was healthy even if it carried no event (a quiet watch timing out).
    healthy_after_s = 1.0

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
        backoff: Backoff | None = None,
    ) -> None:
        super().__init__(name=f"watch-{kind}", daemon=True)
        self.client, self.kind, self.path, self.resource_version, self.sink = client, kind, path, resource_version, sink
        self.query = dict(query or {})
        self.read_timeout, self.server_timeout = read_timeout, server_timeout
        self.backoff = backoff or Backoff()
        self.stats: dict[str, Any] = {"connections": 0, "reconnects": 0, "relists": 0, "events": 0, "bookmarks": 0, "backoff_s": 0.0, "errors": []}
        self.last_error = ""
        self._relisted_since_healthy = False
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._resp: Any = None

    @property
    def what(self) -> str:
        selectors = ", ".join(f"{k}={v}" for k, v in sorted(self.query.items()) if v)
        return f"{self.kind}s at {self.path}" + (f" ({selectors})" if selectors else "")

    def stop(self) -> None:
        self._stop_event.set()
        with self._lock:
            resp = self._resp
        if resp is not None:
            close_stream(resp)

    # -- the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        first = True
        while not self._stop_event.is_set():
            if not first:
                self.stats["reconnects"] += 1
            first = False
            if not self._connect_and_read():
                return

    def _connect_and_read(self) -> bool:
        """One connection: open, read until it ends; False when the watch is over (stopped, fatal, gave up)."""
        query = dict(self.query, watch="true", resourceVersion=self.resource_version, allowWatchBookmarks="true", timeoutSeconds=self.server_timeout)
        try:
            resp = self.client.stream(self.path, f"watch {self.kind}", query, self.read_timeout)
        except K8sApiError as exc:
            if exc.status == 410:
                return self._gone(str(exc))
            if exc.status in FATAL_STATUSES:
                self.sink.put(("error", self.kind, exc, now()))
                return False
            return self._failed(str(exc))
        except Exception as exc:  # noqa: BLE001 - connection refused/reset: retry from the last version
            return self._failed(f"{type(exc).__name__}: {exc}")
        with self._lock:
            self._resp = resp
        if self._stop_event.is_set():
            close_stream(resp)
            return False
        self.stats["connections"] += 1
        try:
            return self._read(resp)
        finally:
            with self._lock:
                self._resp = None
            close_stream(resp)

    def _read(self, resp: Any) -> bool:
        opened, healthy, ended = now(), False, "the server ended the watch at once without an event"
        try:
            for line in iter_lines(resp):
                if not line.strip():
                    continue
                event = json.loads(line)
                obj = event.get("object") or {}
                if event.get("type") == "ERROR":
                    if obj.get("code") == 410:
                        return self._gone(f"watch error: {obj.get('message')}")
                    return self._failed(f"watch error: HTTP {obj.get('code')} {obj.get('message')}")
                healthy = True
                self._healthy()
                self._deliver(event.get("type"), obj)
        except Exception as exc:  # noqa: BLE001 - dropped connection or read timeout: resume from resource_version
            if self._stop_event.is_set():
                return False
            ended = f"stream ended: {type(exc).__name__}: {exc}"
            if healthy or now() - opened >= self.healthy_after_s:
                self._note_error(ended)
                return True
        if not healthy and now() - opened < self.healthy_after_s:
            # Opened and closed at once with nothing delivered: as bad as a refused connection.
            return self._failed(ended)
        return True

    def _deliver(self, etype: str | None, obj: Mapping[str, Any]) -> None:
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.resource_version = rv
        if etype == "BOOKMARK":
            self.stats["bookmarks"] += 1
            return
        self.stats["events"] += 1
        self.sink.put(("event", self.kind, etype, obj, now()))

    # -- failures --------------------------------------------------------------------------------
    def _healthy(self) -> None:
        self.backoff.reset()
        self._relisted_since_healthy = False

    def _failed(self, text: str) -> bool:
        """Count a failure and wait before the next attempt; False (after reporting) once the budget is spent."""
        self._note_error(text)
        delay = self.backoff.failed()
        if delay is None:
            msg = f"Watching {self.what} gave up after {self.backoff.failures} consecutive failures; the API's last message: {text}"
            self.sink.put(("error", self.kind, K8sWatchError(msg), now()))
            return False
        self.stats["backoff_s"] = round(self.stats["backoff_s"] + delay, 3)
        return not self._stop_event.wait(delay)

    def _gone(self, text: str) -> bool:
        """410 Gone: re-list at once; only a 410 again right after a re-list counts as a failure."""
        if self._relisted_since_healthy and not self._failed(f"{text} (again, right after a re-list)"):
            return False
        try:
            self._relist()
        except Exception as exc:  # noqa: BLE001 - retried by the run loop
            return self._failed(f"relist failed: {exc}")
        self._relisted_since_healthy = True
        return True

    def _relist(self) -> None:
        data = self.client.get(self.path, f"{self.kind} list", {k: v for k, v in self.query.items() if k != "watch"})
        self.resource_version = (data.get("metadata") or {}).get("resourceVersion") or ""
        self.stats["relists"] += 1
        self.sink.put(("sync", self.kind, data.get("items") or [], now()))

    def _note_error(self, text: str) -> None:
        self.last_error = text
        errors = self.stats["errors"]
        if len(errors) < 20:
            errors.append(f"{iso(now())} {text}")


def next_before(sink: "queue.Queue[Any]", deadline: float) -> Any:
    """The next item the watch threads delivered, or None once ``deadline`` (a ``now()`` time) has passed."""
    remaining = deadline - now()
    if remaining <= 0:
        return None
    try:
        return sink.get(timeout=remaining)
    except queue.Empty:
        return None
