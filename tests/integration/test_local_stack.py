"""The local stack's components are real: kube-apiserver + controllers + kwok, Ollama, the registry."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from k8s_live import wait_for
from kubernetes import client

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "hack" / "stack"


@pytest.fixture
def namespace(kube):
    core = client.CoreV1Api(kube)
    name = f"stack-test-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def test_deployment_pods_run_on_kwok_nodes_and_emit_real_events(kube, namespace):
    apps, core = client.AppsV1Api(kube), client.CoreV1Api(kube)
    labels = {"app.kubernetes.io/name": "ollama"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "ollama"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"terminationGracePeriodSeconds": 20, "containers": [{"name": "ollama", "image": "ollama/ollama:0.11.4"}]},
                },
            },
        },
    )

    def running_pods():
        pods = core.list_namespaced_pod(namespace, label_selector="app.kubernetes.io/name=ollama").items
        ready = [p for p in pods if p.status.phase == "Running" and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])]
        return ready if len(ready) == 2 else None

    pods = wait_for(running_pods, 60, "2 Running and Ready pods")
    assert all(p.spec.node_name.startswith("kwok-node-") for p in pods)

    def reasons():
        events = core.list_namespaced_event(namespace).items
        found = {e.reason for e in events}
        return found if {"Scheduled", "ScalingReplicaSet", "SuccessfulCreate"} <= found else None

    found = wait_for(reasons, 30, "Scheduled, SuccessfulCreate and ScalingReplicaSet events")
    assert "Started" in found  # the kwok stage for the kubelet's container start

    # Graceful scale-down: the surplus pod is marked for deletion, gets a Killing event, and is gone well within its grace period.
    apps.patch_namespaced_deployment_scale(namespace=namespace, name="ollama", body={"spec": {"replicas": 1}})
    started = time.monotonic()
    wait_for(lambda: len(core.list_namespaced_pod(namespace).items) == 1, 20, "the surplus pod to be gone")
    assert time.monotonic() - started < 20
    wait_for(lambda: any(e.reason == "Killing" for e in core.list_namespaced_event(namespace).items), 10, "a Killing event")


def test_pod_logs_are_the_real_ollama_log(kube, namespace, stack):
    core = client.CoreV1Api(kube)
    core.create_namespaced_pod(namespace, {"metadata": {"name": "ollama-logs"}, "spec": {"containers": [{"name": "ollama", "image": "ollama/ollama"}]}})
    wait_for(lambda: core.read_namespaced_pod("ollama-logs", namespace).status.phase == "Running", 30, "the pod to run")
    marker = f"stack-log-{uuid.uuid4().hex[:8]}"
    # A request to the real server shows up in the pod's log, as it would on a cluster.
    httpx.get(f"{stack.ollama_url}/api/tags", params={"probe": marker}, timeout=10)

    def logged():
        text = core.read_namespaced_pod_log("ollama-logs", namespace, container="ollama", timestamps=True)
        return text if "Listening on" in text and '"/api/tags' in text else None

    text = wait_for(logged, 15, "Ollama's startup and request lines in the pod log")
    assert text.splitlines()[0][:4].isdigit()  # timestamps=True prefixes each line with its time


def test_ollama_generates_with_a_tiny_model(stack):
    model = stack.models[0]
    reply = httpx.post(
        f"{stack.ollama_url}/api/generate",
        json={"model": model, "prompt": "hello", "stream": False, "options": {"num_predict": 8, "seed": 1}},
        timeout=120,
    )
    reply.raise_for_status()
    body = reply.json()
    assert body["done"] is True
    assert body["eval_count"] >= 1
    assert body["response"] != ""


def test_registry_pull_into_empty_ollama_matches_digest(stack, ollama_factory):
    model = stack.models[1]
    repo, _sep, tag = model.removeprefix(stack.registry_host + "/").partition(":")
    head = httpx.head(
        f"http://{stack.registry_host}/v2/{repo}/manifests/{tag}", headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"}, timeout=10
    )
    assert head.status_code == 200
    registry_digest = head.headers["Docker-Content-Digest"].removeprefix("sha256:")

    fresh = ollama_factory()
    assert httpx.get(f"{fresh.url}/api/tags", timeout=10).json()["models"] == []
    with httpx.stream("POST", f"{fresh.url}/api/pull", json={"model": model, "insecure": True}, timeout=120) as response:
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == '{"status":"success"}', lines[-3:]
    assert any('"status":"verifying sha256 digest"' in line for line in lines)
    pulled = {m["name"]: m["digest"] for m in httpx.get(f"{fresh.url}/api/tags", timeout=10).json()["models"]}
    stack_copy = {m["name"]: m["digest"] for m in httpx.get(f"{stack.ollama_url}/api/tags", timeout=10).json()["models"]}
    assert pulled[model] == registry_digest == stack_copy[model]


def _run_stack(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(STACK), *args], capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=120, check=False)


def test_stack_rejects_an_unknown_command():
    result = _run_stack("frobnicate")
    assert result.returncode == 2
    assert "unknown command 'frobnicate'" in result.stderr
    assert "up, down, status, env, build, extra-ollama" in result.stderr


def test_stack_reports_a_port_in_use(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = _run_stack("up", env={"MLOPS_STACK_STATE": str(tmp_path), "MLOPS_STACK_REGISTRY_PORT": str(port)})
    assert result.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in result.stderr
    assert "MLOPS_STACK_REGISTRY_PORT" in result.stderr


def test_stack_explains_missing_go_when_it_must_build(tmp_path):
    # An empty cache forces a build; a PATH without go must give the fix, not a traceback.
    python_dir = str(Path(os.sys.executable).parent)
    result = _run_stack("build", env={"MLOPS_STACK_CACHE": str(tmp_path / "cache"), "PATH": f"{python_dir}:/usr/bin:/bin"})
    if "go" in os.listdir("/usr/bin"):
        pytest.fail("this test needs a PATH without go; /usr/bin/go exists on this machine")
    assert result.returncode != 0
    assert "'go' command was not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_stack_rejects_a_bad_port_value(tmp_path):
    result = _run_stack("status", env={"MLOPS_STACK_OLLAMA_PORT": "eleven"})
    assert result.returncode != 0
    assert "MLOPS_STACK_OLLAMA_PORT='eleven' is not a port number" in result.stderr
