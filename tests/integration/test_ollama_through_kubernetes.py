"""The Ollama modules reach Ollama through the API server's proxy (the kubernetes option), on the stack's real node.

With nothing but a kubeconfig, or nothing but a ServiceAccount token: a pull streams its progress through the Service's
proxy, a second sync sends one request, one pod is read through its own proxy. A failure names its hop: the API
server refusing an RBAC verb, the proxy finding no ready pod or a pod that is not running, and Ollama's own answer.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import pytest
from k8s_live import wait_for
from kubernetes import client
from role_runs import deploy_on_real_node

ModuleRunner = Callable[..., dict]
MODEL = "mlops/tiny-a:latest"


@pytest.fixture(scope="module")
def ollama_namespace(stack: Any, kube: Any, tmp_path_factory: Any) -> Any:
    """A restricted namespace with one Ollama pod on the real node, shared by this file's tests."""
    import secrets

    core = client.CoreV1Api(kube)
    name = f"through-k8s-{secrets.token_hex(3)}"
    core.create_namespace({"metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}})
    try:
        deploy_on_real_node(stack, tmp_path_factory.mktemp("deploy"), name, replicas=1)
        yield name
    finally:
        core.delete_namespace(name, grace_period_seconds=0)
        wait_for(lambda: name not in [n.metadata.name for n in core.list_namespace().items], 120, f"namespace {name} to go")


def _through(stack: Any, namespace: str, **target: Any) -> dict[str, Any]:
    return {"kubernetes": {"namespace": namespace, "kubeconfig": str(stack.kubeconfig), **(target or {"service": "ollama"})}}


def test_a_pull_streams_through_the_services_proxy_and_a_second_sync_sends_one_request(
    stack: Any, ollama_namespace: str, run_module: ModuleRunner, tmp_path: Path
) -> None:
    name = f"{stack.pod_registry_host}/{MODEL}"
    progress = tmp_path / "progress.json"
    args = {**_through(stack, ollama_namespace), "models": [{"name": name, "insecure": True}], "progress_file": str(progress), "progress_interval": 0.1}
    first = run_module("ollama_models", args)
    assert first.get("failed") is not True, first.get("msg")
    assert first["changed"] is True and first["pulled"] == [name] and first["pulled_bytes"] > 0
    last = json.loads(progress.read_text())
    assert last["model"] == name and last["state"] == "done" and last["completed"] == last["total"] > 0, last

    second = run_module("ollama_models", args)
    assert second["changed"] is False and second["api_calls"] == ["GET /api/tags"], second["api_calls"]


def test_one_pod_is_read_through_its_own_proxy(stack: Any, kube: Any, ollama_namespace: str, run_module: ModuleRunner) -> None:
    pod = client.CoreV1Api(kube).list_namespaced_pod(ollama_namespace, label_selector="app.kubernetes.io/name=ollama").items[0]
    info = run_module("ollama_model_info", _through(stack, ollama_namespace, pod=pod.metadata.name))
    assert info.get("failed") is not True, info.get("msg")
    assert f"{stack.pod_registry_host}/{MODEL}" in [m["name"] for m in info["models"]]


def test_a_missing_rbac_verb_names_the_verb_and_the_resource(stack: Any, kube: Any, ollama_namespace: str, run_module: ModuleRunner) -> None:
    """A token allowed to read through the proxy but not to POST: listing works, a pull fails at the API server."""
    core, rbac = client.CoreV1Api(kube), client.RbacAuthorizationV1Api(kube)
    account = "reader"
    core.create_namespaced_service_account(ollama_namespace, {"metadata": {"name": account}})
    rules = [{"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get"]}]
    rbac.create_namespaced_role(ollama_namespace, {"metadata": {"name": account}, "rules": rules})
    rbac.create_namespaced_role_binding(
        ollama_namespace,
        {
            "metadata": {"name": account},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": account},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ollama_namespace}],
        },
    )
    token = core.create_namespaced_service_account_token(account, ollama_namespace, {"spec": {"expirationSeconds": 600}}).status.token
    host = kube.configuration.host
    only_token = {"kubernetes": {"service": "ollama", "namespace": ollama_namespace, "host": host, "api_key": token, "validate_certs": False}}

    listed = wait_for(lambda: (r := run_module("ollama_model_info", only_token)).get("failed") is not True and r, 30, "the Role to take effect")
    assert listed["models"], listed
    pull = run_module("ollama_model", {**only_token, "name": f"{stack.pod_registry_host}/mlops/tiny-b:latest", "insecure": True})
    assert pull.get("failed") is True and pull["error"]["status_code"] == 403, pull
    assert "Kubernetes API server forbids" in pull["msg"] and "'create' verb on 'services/proxy'" in pull["msg"], pull["msg"]


def test_no_ready_pod_and_a_pod_not_running_are_the_proxys_failures(stack: Any, kube: Any, ollama_namespace: str, run_module: ModuleRunner) -> None:
    core = client.CoreV1Api(kube)
    core.create_namespaced_service(
        ollama_namespace, {"metadata": {"name": "nobody"}, "spec": {"selector": {"app": "nobody"}, "ports": [{"port": 11434}]}}
    )
    no_endpoint = run_module("ollama_model_info", {**_through(stack, ollama_namespace, service="nobody"), "retries": 0})
    assert no_endpoint.get("failed") is True and no_endpoint["error"]["status_code"] == 503, no_endpoint
    assert "proxy failed: no pod behind the Service is ready" in no_endpoint["msg"], no_endpoint["msg"]

    # A pod that can never be scheduled: it has no address for the proxy to reach.
    pending = {
        "metadata": {"name": "never-scheduled"},
        "spec": {
            "nodeSelector": {"mlops.ollama/node": "none-such"},
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "c",
                    "image": stack.images["ollama"],
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                }
            ],
        },
    }
    core.create_namespaced_pod(ollama_namespace, pending)
    not_running = run_module("ollama_model_info", {**_through(stack, ollama_namespace, pod="never-scheduled"), "retries": 0})
    assert not_running.get("failed") is True and "Kubernetes API server" in not_running["msg"], not_running
    assert not_running["error"]["status_code"] in (400, 502, 503), not_running["error"]

    missing = run_module("ollama_model_info", {**_through(stack, ollama_namespace, service="none-such"), "retries": 0})
    assert missing.get("failed") is True and missing["error"]["status_code"] == 404, missing
    assert "has no service none-such in namespace" in missing["msg"], missing["msg"]


def test_ollamas_own_answer_is_not_taken_for_the_proxys(stack: Any, ollama_namespace: str, run_module: ModuleRunner) -> None:
    # Ollama answers /api/show for a model it does not have with its own 404: a missing model, not a missing object.
    absent = run_module("ollama_model_info", {**_through(stack, ollama_namespace), "models": ["mlops/never-pulled:latest"]})
    assert absent.get("failed") is not True and absent["missing"] == ["mlops/never-pulled:latest"], absent
    shown = run_module("ollama_model", {**_through(stack, ollama_namespace), "name": "mlops/never-pulled:latest", "state": "absent"})
    assert shown.get("failed") is not True and shown["changed"] is False, shown
    generate = run_module(
        "ollama_health",
        {**_through(stack, ollama_namespace), "models": ["mlops/never-pulled:latest"], "fail_on": ["api_unreachable", "model_missing"]},
    )
    assert generate.get("failed") is True and generate["status"] == "model_missing", generate
    assert "Kubernetes API server" not in generate["msg"], generate["msg"]
