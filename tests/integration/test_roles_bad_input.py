"""Bad input to k3s_ml_namespace / ollama_deploy fails before any change, naming the variable.

Each case runs ansible-playbook (JSON callback) with the role and bad extra vars against
the local stack's real API server, then checks the failed task's msg names the variable,
that the run reported no change, and that no object of the role exists in the cluster.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

REPO = Path(__file__).resolve().parents[2]
INGRESSROUTE_CRD = "ingressroutes.traefik.io"


@pytest.fixture(scope="module")
def kube(stack):
    return config.new_client_from_config(config_file=stack.kubeconfig)


@pytest.fixture
def namespace(kube):
    """An existing, empty namespace of our own for the ollama_deploy cases."""
    core = client.CoreV1Api(kube)
    name = f"bad-input-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


def run_role(stack, tmp_path: Path, role: str, extra_vars: dict) -> dict:
    """Run one role of the collection on localhost; return the JSON callback's result."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(f"- name: Run {role} with bad input\n  hosts: localhost\n  gather_facts: false\n  roles:\n    - role: mlops.ollama.{role}\n")
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n      ansible_python_interpreter: " + sys.executable + "\n")
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_COLLECTIONS_PATH": str(REPO / "build"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
            "ANSIBLE_FORCE_COLOR": "0",
            "K8S_AUTH_KUBECONFIG": stack.kubeconfig,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook), "-e", json.dumps(extra_vars)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert proc.returncode != 0, f"the run should have failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(proc.stdout)


def failure(result: dict) -> tuple[str, str]:
    """(task name, msg) of the failed task."""
    for play in result["plays"]:
        for task in play["tasks"]:
            host = task["hosts"].get("localhost", {})
            for item in host.get("results", []) or []:  # a loop: the failed item's own msg
                if item.get("failed"):
                    return task["task"]["name"], str(item.get("msg", ""))
            if host.get("failed"):
                return task["task"]["name"], str(host.get("msg", ""))
    raise AssertionError(f"no failed task in {json.dumps(result)[:3000]}")


def assert_nothing_changed(result: dict) -> None:
    assert result["stats"]["localhost"]["changed"] == 0


def role_objects(kube, namespace: str) -> list[str]:
    """Everything ollama_deploy could have created in the namespace."""
    core, apps = client.CoreV1Api(kube), client.AppsV1Api(kube)
    net, hpa = client.NetworkingV1Api(kube), client.AutoscalingV2Api(kube)
    found = []
    found += [f"Deployment/{o.metadata.name}" for o in apps.list_namespaced_deployment(namespace).items]
    found += [f"Service/{o.metadata.name}" for o in core.list_namespaced_service(namespace).items]
    found += [f"PersistentVolumeClaim/{o.metadata.name}" for o in core.list_namespaced_persistent_volume_claim(namespace).items]
    found += [f"Ingress/{o.metadata.name}" for o in net.list_namespaced_ingress(namespace).items]
    found += [f"HorizontalPodAutoscaler/{o.metadata.name}" for o in hpa.list_namespaced_horizontal_pod_autoscaler(namespace).items]
    return found


def crd_installed(kube, name: str) -> bool:
    try:
        client.ApiextensionsV1Api(kube).read_custom_resource_definition(name)
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def test_invalid_namespace_name_fails_before_anything_is_created(stack, kube, tmp_path):
    bad = f"Bad_NS_{uuid.uuid4().hex[:6]}"
    result = run_role(stack, tmp_path, "k3s_ml_namespace", {"k3s_ml_namespace_name": bad, "k3s_ml_namespace_automation_enabled": True})
    _task, msg = failure(result)
    assert "k3s_ml_namespace_name" in msg and bad in msg
    assert_nothing_changed(result)
    names = {ns.metadata.name for ns in client.CoreV1Api(kube).list_namespace().items}
    assert bad.lower() not in names and bad.lower().replace("_", "-") not in names
    roles = client.RbacAuthorizationV1Api(kube).list_cluster_role(label_selector=f"app.kubernetes.io/instance={bad}").items
    assert roles == []


@pytest.mark.parametrize(
    ("case", "extra_vars", "variable"),
    [
        ("negative replicas", {"ollama_deploy_replicas": -1}, "ollama_deploy_replicas"),
        (
            "requests exceed limits",
            {"ollama_deploy_resources": {"requests": {"cpu": "3", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}},
            "ollama_deploy_resources",
        ),
        ("ingress without a host", {"ollama_deploy_ingress_enabled": True}, "ollama_deploy_ingress_host"),
        ("invalid namespace name", {"ollama_deploy_namespace": "Not_A_Namespace"}, "ollama_deploy_namespace"),
        ("unknown storage class", {"ollama_deploy_storage_class": "no-such-class"}, "ollama_deploy_storage_class"),
        ("missing namespace", {"ollama_deploy_namespace": "no-such-namespace-4f1c"}, "ollama_deploy_namespace"),
    ],
)
def test_ollama_deploy_bad_input_fails_before_any_change(stack, kube, namespace, tmp_path, case, extra_vars, variable):
    extra = {"ollama_deploy_namespace": namespace, "ollama_deploy_storage_class": "local-path", **extra_vars}
    result = run_role(stack, tmp_path, "ollama_deploy", extra)
    task, msg = failure(result)
    assert variable in msg, f"{case}: {task!r} failed with {msg!r}, which does not name {variable}"
    assert_nothing_changed(result)
    assert role_objects(kube, namespace) == [], f"{case}: objects were created"


def test_ingressroute_without_its_crd_fails_before_any_change(stack, kube, namespace, tmp_path):
    if crd_installed(kube, INGRESSROUTE_CRD):
        pytest.fail(
            f"the CRD {INGRESSROUTE_CRD} is installed in the test cluster (a Molecule scenario running at the same time installs it);"
            " run this test when it is not",
            pytrace=False,
        )
    result = run_role(
        stack,
        tmp_path,
        "ollama_deploy",
        {
            "ollama_deploy_namespace": namespace,
            "ollama_deploy_storage_class": "local-path",
            "ollama_deploy_ingress_enabled": True,
            "ollama_deploy_ingress_kind": "ingressroute",
            "ollama_deploy_ingress_host": "ollama.bad-input.test",
        },
    )
    _task, msg = failure(result)
    assert "ollama_deploy_ingress_kind" in msg and INGRESSROUTE_CRD in msg
    assert_nothing_changed(result)
    assert role_objects(kube, namespace) == []
