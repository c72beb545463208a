"""The ollama_deploy role's Deployment on the real node: two replicas behind its Service both serve, and a scale-down
under a request loop through the Service fails no request (the preStop wait drains the stopping pod).

Ollama v0.11.4 closes open connections at once on SIGTERM, and kube-proxy drops a terminating pod from the Service's
rules only after its EndpointSlice changes; the role's preStop sleep covers that gap.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import httpx
from k8s_live import wait_for, wait_for_cluster_ip
from kubernetes import client
from role_runs import deploy_on_real_node

ModuleRunner = Callable[..., dict]
REQUEST = "/api/tags"


class RequestLoop(threading.Thread):
    """New connections to the Service one after another, as clients arriving during a scale-down make them."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.stop = url, threading.Event()
        self.ok, self.failures = 0, []  # type: ignore[var-annotated]

    def run(self) -> None:
        started = time.monotonic()
        while not self.stop.is_set():
            try:
                reply = httpx.get(self.url, timeout=5)
                reply.raise_for_status()
                self.ok += 1
            except httpx.HTTPError as exc:
                self.failures.append(f"at {time.monotonic() - started:.2f} s: {type(exc).__name__}: {exc}")
            time.sleep(0.02)


def test_both_replicas_serve_and_a_scale_down_fails_no_request(
    stack: Any, kube: Any, real_node_namespace: str, tmp_path: Any, run_module: ModuleRunner
) -> None:
    namespace = real_node_namespace
    core, discovery = client.CoreV1Api(kube), client.DiscoveryV1Api(kube)
    deploy_on_real_node(stack, tmp_path, namespace, replicas=2)
    pods = core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/name=ollama").items
    assert len(pods) == 2 and {p.spec.node_name for p in pods} == {stack.real_node}

    def ready_endpoints() -> set[str] | None:
        slices = discovery.list_namespaced_endpoint_slice(namespace, label_selector="kubernetes.io/service-name=ollama").items
        ready = {e.target_ref.name for s in slices for e in (s.endpoints or []) if e.conditions.ready}
        return ready if len(ready) == 2 else None

    assert wait_for(ready_endpoints, 60, "both pods in the Service's EndpointSlice") == {p.metadata.name for p in pods}

    cluster_ip = core.read_namespaced_service("ollama", namespace).spec.cluster_ip
    url = f"http://{cluster_ip}:11434{REQUEST}"
    wait_for_cluster_ip(url)  # the loop starts once the Service itself answers
    loop = RequestLoop(url)
    started = time.monotonic()
    loop.start()
    try:
        # Both replicas answer requests through the Service: each pod's own log shows them.
        args = {"kubeconfig": stack.kubeconfig, "namespace": namespace}
        served = f'GET\\s+"{REQUEST}"'
        both = run_module("k8s_pod_logs", dict(args, deployment="ollama", follow=True, until_regex=served, until="all", timeout=60))
        assert both.get("failed") is not True and sorted(both["matched_pods"]) == sorted(p.metadata.name for p in pods), both.get("msg")

        print(f"scale-down starts at {time.monotonic() - started:.2f} s of the request loop")
        down = run_module("k8s_scale_watch", dict(args, name="ollama", replicas=1, wait_timeout=120))
        assert down.get("failed") is not True, down.get("msg")
        wait_for(lambda: len(core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/name=ollama").items) == 1, 60, "the stopped pod to go")
        time.sleep(1)
    finally:
        loop.stop.set()
        loop.join(10)
    print(f"requests during the scale-down: {loop.ok} answered, {len(loop.failures)} failed")
    assert loop.ok > 50, f"the loop made too few requests ({loop.ok}) to show anything"
    assert loop.failures == [], loop.failures[:5]
