"""The resumable watch against a small local HTTP server that plays a failing or compacting API server.

The real kube-apiserver cannot be made to answer every watch with an error on demand, so these faults come
from a loopback server speaking the watch protocol (one JSON event per line) to the real client stack
(kubernetes ApiClient, urllib3). Assertions count requests, never time.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from kubernetes.client import ApiClient, Configuration

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import K8sClient, K8sWatchError
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_watch import Backoff, Watch

PATH = "/api/v1/namespaces/ml/pods"
# What to answer: (HTTP status, body lines) for the n-th request (0-based) and its query.
Script = Callable[[int, dict[str, str]], tuple[int, list[dict[str, Any]]]]


def error_event(code: int, message: str) -> dict[str, Any]:
    return {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": code, "message": message}}


def pod_event(name: str, rv: str) -> dict[str, Any]:
    return {"type": "ADDED", "object": {"kind": "Pod", "metadata": {"name": name, "resourceVersion": rv}}}


class FakeApiServer:
    """Loopback HTTP server answering each request from ``script``; records every request's query."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[dict[str, str]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
                with outer.lock:
                    n = len(outer.requests)
                    outer.requests.append(query)
                status, lines = outer.script(n, query)
                body = "".join(json.dumps(line) + "\n" for line in lines).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.client = K8sClient(ApiClient(Configuration(host=f"http://127.0.0.1:{self.httpd.server_address[1]}")))

    def watches(self) -> list[dict[str, str]]:
        with self.lock:
            return [q for q in self.requests if q.get("watch") == "true"]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def serve() -> Iterator[Callable[[Script], FakeApiServer]]:
    servers: list[FakeApiServer] = []

    def start(script: Script) -> FakeApiServer:
        servers.append(FakeApiServer(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def watch(client: K8sClient, backoff: Backoff | None = None) -> tuple[Watch, "queue.Queue[tuple[Any, ...]]"]:
    sink: "queue.Queue[tuple[Any, ...]]" = queue.Queue()
    w = Watch(client, "pod", PATH, "100", sink, {"labelSelector": "app=ollama"}, read_timeout=5, backoff=backoff)
    w.start()
    return w, sink


def fast() -> Backoff:
    return Backoff(base=0.001, cap=0.005, max_failures=5)


def items(sink: "queue.Queue[tuple[Any, ...]]") -> list[tuple[Any, ...]]:
    out = []
    while not sink.empty():
        out.append(sink.get())
    return out


# -- the backoff itself -------------------------------------------------------------------------------
def test_backoff_grows_to_the_cap_with_full_jitter_and_gives_up() -> None:
    top = Backoff(base=0.1, cap=4.0, max_failures=10, rand=lambda: 1.0)
    assert [top.failed() for _attempt in range(9)] == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 4.0, 4.0, 4.0]
    assert top.failed() is None, "the 10th consecutive failure gives up"
    bottom = Backoff(base=0.1, cap=4.0, rand=lambda: 0.0)
    assert bottom.failed() == 0.0, "full jitter: anything from 0 to the bound"


def test_backoff_starts_over_after_a_reset() -> None:
    b = Backoff(base=0.1, cap=4.0, max_failures=3, rand=lambda: 1.0)
    assert [b.failed(), b.failed()] == [0.1, 0.2]
    b.reset()
    assert [b.failed(), b.failed()] == [0.1, 0.2]


# -- persistent failures are bounded --------------------------------------------------------------------
def test_a_watch_that_always_gets_an_error_event_is_held_to_a_few_requests(serve: Callable[[Script], FakeApiServer]) -> None:
    server = serve(lambda n, q: (200, [error_event(500, "etcdserver: request timed out")]))
    w, _sink = watch(server.client)  # the default backoff
    time.sleep(1.5)
    w.stop()
    w.join(5)
    # Without a backoff this loop made thousands of requests a second; with it, at most the give-up budget.
    assert 1 <= len(server.watches()) <= 10, len(server.watches())


@pytest.mark.parametrize(
    ("script", "last_message"),
    [
        pytest.param(lambda n, q: (200, [error_event(500, "etcdserver: request timed out")]), "etcdserver: request timed out", id="error-event"),
        pytest.param(lambda n, q: (500, [{"kind": "Status", "message": "internal error", "code": 500}]), "internal error", id="http-500"),
        pytest.param(lambda n, q: (200, []), "ended the watch at once", id="empty-stream"),
    ],
)
def test_a_failing_watch_gives_up_naming_the_resource_and_the_last_message(serve: Callable[[Script], FakeApiServer], script: Script, last_message: str) -> None:
    server = serve(script)
    w, sink = watch(server.client, fast())
    w.join(10)
    assert not w.is_alive(), "the watch gives up on its own"
    assert len(server.watches()) == 5
    ((what, kind, exc, _t),) = items(sink)
    assert (what, kind) == ("error", "pod") and isinstance(exc, K8sWatchError)
    assert f"Watching pods at {PATH} (labelSelector=app=ollama) gave up after 5 consecutive failures" in str(exc)
    assert last_message in str(exc)


def test_a_refused_connection_backs_off_and_gives_up() -> None:
    client = K8sClient(ApiClient(Configuration(host="http://127.0.0.1:9")))  # discard port: nothing listens
    w, sink = watch(client, fast())
    w.join(30)
    assert not w.is_alive()
    ((what, _kind, exc, _t),) = items(sink)
    assert what == "error" and "gave up after 5 consecutive failures" in str(exc)
    assert w.stats["connections"] == 0 and len(w.stats["errors"]) == 5


def test_a_healthy_event_resets_the_failure_count(serve: Callable[[Script], FakeApiServer]) -> None:
    # 4 failures, an event, 4 failures, an event...: never 5 in a row, so the watch never gives up.
    server = serve(lambda n, q: (200, [pod_event(f"p{n}", str(200 + n))] if n % 5 == 4 else [error_event(500, "flaky")]))
    w, sink = watch(server.client, fast())
    # The loop ends at the 15th watch; the long deadline only matters on a machine busy with builds.
    deadline = time.time() + 60
    while len(server.watches()) < 15 and time.time() < deadline:
        time.sleep(0.01)
    w.stop()
    w.join(5)
    got = items(sink)
    assert len(server.watches()) >= 15
    assert not [i for i in got if i[0] == "error"], got
    assert [i[3]["metadata"]["name"] for i in got if i[0] == "event"][:3] == ["p4", "p9", "p14"]


# -- 410 Gone still re-lists at once ----------------------------------------------------------------
def test_410_gone_relists_at_once_and_resumes_from_the_listed_version(serve: Callable[[Script], FakeApiServer]) -> None:
    def script(n: int, q: dict[str, str]) -> tuple[int, list[dict[str, Any]]]:
        if q.get("watch") != "true":
            return 200, [{"kind": "PodList", "metadata": {"resourceVersion": "500"}, "items": [{"metadata": {"name": "a"}}]}]
        if q["resourceVersion"] == "100":
            return 200, [error_event(410, "too old resource version: 100 (450)")]
        return 200, [pod_event("b", "501")]

    server = serve(script)
    w, sink = watch(server.client)
    deadline = time.time() + 10
    while w.stats["events"] < 1 and time.time() < deadline:
        time.sleep(0.01)
    w.stop()
    w.join(5)
    seq = [("watch", q["resourceVersion"]) if q.get("watch") else ("list", q.get("labelSelector")) for q in server.requests[:3]]
    assert seq == [("watch", "100"), ("list", "app=ollama"), ("watch", "500")]
    assert w.stats["relists"] == 1 and w.stats["backoff_s"] == 0.0, "a 410 is answered with a list, not a pause"
    kinds = [i[0] for i in items(sink)]
    assert kinds[:2] == ["sync", "event"]


def test_410_again_right_after_every_relist_is_bounded(serve: Callable[[Script], FakeApiServer]) -> None:
    server = serve(lambda n, q: (200, [error_event(410, "too old")]) if q.get("watch") else (200, [{"metadata": {"resourceVersion": "1"}, "items": []}]))
    w, sink = watch(server.client, fast())
    w.join(10)
    assert not w.is_alive()
    assert len(server.watches()) <= 6
    assert any(i[0] == "error" and "too old" in str(i[2]) for i in items(sink))
