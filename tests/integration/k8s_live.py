"""What the live Kubernetes tests share: kubectl, the stack's kubeconfig, a namespace per test, a Deployment.

Each test uses its own namespace (``drill-<random>``), deleted afterwards.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from typing import Any, Callable, Iterator

import pytest

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      terminationGracePeriodSeconds: 30
      {extra}
      containers: [{{name: ollama, image: ollama/ollama, resources: {{requests: {{cpu: 100m, memory: 128Mi}}}}}}]
"""


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.3) -> Any:
    """``predicate()``'s first truthy value, asked every ``interval`` seconds; an AssertionError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def wait_for_cluster_ip(url: str, timeout: float = 30) -> None:
    """Until a Service's ClusterIP answers 5 requests in a row: kube-proxy programs its rules up to a sync period after
    the EndpointSlice lists the pods, and until then the address refuses connections."""
    import httpx

    def answers() -> bool:
        try:
            return httpx.get(url, timeout=5).is_success
        except httpx.HTTPError:
            return False

    wait_for(lambda: all(answers() for attempt in range(5)), timeout, f"{url} to answer")


def kubectl(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True, check=True, timeout=120).stdout


@pytest.fixture(scope="module")
def kubeconfig(stack: Any) -> str:
    path = os.environ.get("K8S_AUTH_KUBECONFIG") or str(stack.kubeconfig)
    os.environ["KUBECONFIG"] = path
    return path


@pytest.fixture
def namespace(kubeconfig: str) -> Iterator[str]:
    ns = f"drill-{secrets.token_hex(3)}"
    kubectl("create", "namespace", ns)
    yield ns
    kubectl("delete", "namespace", ns, "--wait=false")


def deploy(ns: str, name: str = "ollama", replicas: int = 1, extra: str = "") -> None:
    kubectl("-n", ns, "apply", "-f", "-", stdin=DEPLOYMENT.format(name=name, replicas=replicas, extra=extra))
    kubectl("-n", ns, "rollout", "status", f"deployment/{name}", "--timeout=60s")


def base(kubeconfig: str, ns: str, **kw: Any) -> dict[str, Any]:
    return dict({"kubeconfig": kubeconfig, "namespace": ns}, **kw)
