"""Bad input to k3s_ml_namespace / ollama_deploy fails before any change, naming the variable.

Each case runs ansible-playbook (JSON callback) with the role and bad extra vars against
the local stack's real API server, then checks the failed task's msg names the variable,
that the run reported no change, and that no object of the role exists in the cluster.

The cases a value's own rule decides (a name, a quantity, a port, a duration, a count) need no
cluster: they run against an API server address nothing listens on, so a value that slipped
through preflight shows as a failed cluster read instead of a message naming the variable.
"""

from __future__ import annotations

import json
import uuid

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from role_runs import run_role

INGRESSROUTE_CRD = "ingressroutes.traefik.io"


@pytest.fixture
def namespace(kube):
    """An existing, empty namespace of our own for the ollama_deploy cases."""
    core = client.CoreV1Api(kube)
    name = f"bad-input-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)


# The static preflight is done once the role reads the cluster.
FIRST_CLUSTER_READ = {"k3s_ml_namespace": "Read namespace", "ollama_deploy": "Read the namespace, the storage class and the Deployment"}


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


# (variable the message must name, extra vars): each is refused by the role's preflight, with no cluster at all.
OLLAMA_DEPLOY_STATIC = {
    "root user with runAsNonRoot": ("ollama_deploy_run_as_user", {"ollama_deploy_run_as_user": 0}),
    "uid beyond int32": ("ollama_deploy_run_as_user", {"ollama_deploy_run_as_user": 2**31}),
    "negative group": ("ollama_deploy_fs_group", {"ollama_deploy_fs_group": -1}),
    "name with a trailing newline": ("ollama_deploy_name", {"ollama_deploy_name": "ollama\n"}),
    "Service name starting with a digit": ("ollama_deploy_name", {"ollama_deploy_name": "1ollama"}),
    "namespace with a trailing newline": ("ollama_deploy_namespace", {"ollama_deploy_namespace": "ml\n"}),
    "quantity with a trailing newline": (
        "ollama_deploy_resources",
        {"ollama_deploy_resources": {"requests": {"cpu": "500m\n", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}},
    ),
    "negative quantity": ("ollama_deploy_resources", {"ollama_deploy_resources": {"requests": {"cpu": "-1"}}}),
    "request above its limit, other suffixes": (
        "ollama_deploy_resources",
        {"ollama_deploy_resources": {"requests": {"memory": "5e9"}, "limits": {"memory": "4Gi"}}},
    ),
    "resources with an unknown section": ("ollama_deploy_resources", {"ollama_deploy_resources": {"request": {"cpu": "1"}}}),
    "PVC size with a trailing newline": ("ollama_deploy_pvc_size", {"ollama_deploy_pvc_size": "50Gi\n"}),
    "PVC size 0": ("ollama_deploy_pvc_size", {"ollama_deploy_pvc_size": "0"}),
    "negative wait timeout": ("ollama_deploy_wait_timeout", {"ollama_deploy_wait_timeout": -5}),
    "wait timeout 0": ("ollama_deploy_wait_timeout", {"ollama_deploy_wait_timeout": 0}),
    "keep-alive Ollama cannot read": ("ollama_deploy_keep_alive", {"ollama_deploy_keep_alive": "5 minutes"}),
    "replicas far beyond any cluster": ("ollama_deploy_replicas", {"ollama_deploy_replicas": 100000}),
    "HPA maximum far beyond any cluster": ("ollama_deploy_replicas_max", {"ollama_deploy_hpa_enabled": True, "ollama_deploy_hpa_max_replicas": 100000}),
    "negative revision history": ("ollama_deploy_revision_history_limit", {"ollama_deploy_revision_history_limit": -1}),
    "negative grace period": ("ollama_deploy_termination_grace_period", {"ollama_deploy_termination_grace_period": -1}),
    "preStop wait as long as the grace period": ("ollama_deploy_prestop_sleep", {"ollama_deploy_prestop_sleep": 30}),
    "negative preStop wait": ("ollama_deploy_prestop_sleep", {"ollama_deploy_prestop_sleep": -1}),
    "probe period 0": ("ollama_deploy_readiness_probe.periodSeconds", {"ollama_deploy_readiness_probe": {"periodSeconds": 0}}),
    "liveness success threshold 2": ("ollama_deploy_liveness_probe.successThreshold", {"ollama_deploy_liveness_probe": {"successThreshold": 2}}),
    "probe timeout as text": ("ollama_deploy_startup_probe.timeoutSeconds", {"ollama_deploy_startup_probe": {"timeoutSeconds": "5s"}}),
    "Service port 0": ("ollama_deploy_service_port", {"ollama_deploy_service_port": 0}),
    "Service port above 65535": ("ollama_deploy_service_port", {"ollama_deploy_service_port": 70000}),
    "image tag with a trailing newline": ("ollama_deploy_image_tag", {"ollama_deploy_image_tag": "0.17.4\n"}),
    "image repository with a space": ("ollama_deploy_image_repository", {"ollama_deploy_image_repository": "docker.io/ollama /ollama"}),
    "label value with a space": ("ollama_deploy_part_of", {"ollama_deploy_part_of": "mlops ollama"}),
    "pull secret that is no name": ("ollama_deploy_image_pull_secrets", {"ollama_deploy_image_pull_secrets": ["Registry Key"]}),
    "existing claim that is no name": ("ollama_deploy_existing_claim", {"ollama_deploy_storage": "existing", "ollama_deploy_existing_claim": "Models_PVC"}),
    "node selector value with a space": ("ollama_deploy_node_selector", {"ollama_deploy_node_selector": {"gpu": "a b"}}),
    "environment variable name with a space": ("ollama_deploy_extra_env", {"ollama_deploy_extra_env": {"MY VAR": "1"}}),
    "listen address with a port": ("ollama_deploy_listen_address", {"ollama_deploy_listen_address": "0.0.0.0:11434"}),
    "models dir escaping the volume": ("ollama_deploy_models_dir", {"ollama_deploy_models_dir": "/root/.ollama/../../etc"}),
    "readiness model with a space": ("ollama_deploy_readiness_models", {"ollama_deploy_readiness_models": ["tiny a"]}),
    "readiness inference without a model": ("ollama_deploy_readiness_inference", {"ollama_deploy_readiness_inference": True}),
    "readiness models on emptyDir with a rolling update": (
        "ollama_deploy_strategy=Recreate",
        {"ollama_deploy_readiness_models": ["tiny-a"], "ollama_deploy_storage": "emptydir", "ollama_deploy_strategy": "RollingUpdate"},
    ),
    "ingress host that is an IP": ("ollama_deploy_ingress_host", {"ollama_deploy_ingress_enabled": True, "ollama_deploy_ingress_host": "10.0.0.1"}),
    "ingress host with a trailing newline": (
        "ollama_deploy_ingress_host",
        {"ollama_deploy_ingress_enabled": True, "ollama_deploy_ingress_host": "ollama.example.com\n"},
    ),
    "ingress path with a space": (
        "ollama_deploy_ingress_path",
        {"ollama_deploy_ingress_enabled": True, "ollama_deploy_ingress_host": "ollama.example.com", "ollama_deploy_ingress_path": "/a b"},
    ),
    "TLS secret that is no name": (
        "ollama_deploy_ingress_tls_secret",
        {"ollama_deploy_ingress_enabled": True, "ollama_deploy_ingress_host": "ollama.example.com", "ollama_deploy_ingress_tls_secret": "TLS"},
    ),
}

K3S_ML_NAMESPACE_STATIC = {
    "namespace with a trailing newline": ("k3s_ml_namespace_name", {"k3s_ml_namespace_name": "ml\n"}),
    "quota with a trailing newline": (
        "k3s_ml_namespace_quota_requests_cpu",
        {"k3s_ml_namespace_quota_enabled": True, "k3s_ml_namespace_quota_requests_cpu": "8\n"},
    ),
    "negative quota": ("k3s_ml_namespace_quota_limits_memory", {"k3s_ml_namespace_quota_enabled": True, "k3s_ml_namespace_quota_limits_memory": "-1Gi"}),
    "fractional PVC count": ("k3s_ml_namespace_quota_pvcs", {"k3s_ml_namespace_quota_enabled": True, "k3s_ml_namespace_quota_pvcs": 1.5}),
    "fractional GPU count": ("k3s_ml_namespace_quota_gpus", {"k3s_ml_namespace_quota_enabled": True, "k3s_ml_namespace_quota_gpus": "0.5"}),
    "extra quota with a bad key": ("k3s_ml_namespace_quota_extra", {"k3s_ml_namespace_quota_enabled": True, "k3s_ml_namespace_quota_extra": {"bad key": "1"}}),
    "limit range quantity with a newline": (
        "k3s_ml_namespace_limit_range_max",
        {"k3s_ml_namespace_limit_range_enabled": True, "k3s_ml_namespace_limit_range_max": {"cpu": "8\n"}},
    ),
    "default request above default limit": (
        "k3s_ml_namespace_limit_range_default_request.cpu",
        {"k3s_ml_namespace_limit_range_enabled": True, "k3s_ml_namespace_limit_range_default_request": {"cpu": "3"}},
    ),
    "PVC minimum above maximum": (
        "k3s_ml_namespace_limit_range_pvc_min_storage",
        {"k3s_ml_namespace_limit_range_enabled": True, "k3s_ml_namespace_limit_range_pvc_min_storage": "1Ti"},
    ),
    "ServiceAccount name that is no name": (
        "k3s_ml_namespace_automation_name",
        {"k3s_ml_namespace_automation_enabled": True, "k3s_ml_namespace_automation_name": "Automation"},
    ),
    "NetworkPolicy port 0": (
        "k3s_ml_namespace_network_policy_port",
        {"k3s_ml_namespace_network_policy_enabled": True, "k3s_ml_namespace_network_policy_port": 0},
    ),
    "allowed namespace with a newline": (
        "k3s_ml_namespace_network_policy_allow_namespaces",
        {"k3s_ml_namespace_network_policy_enabled": True, "k3s_ml_namespace_network_policy_allow_namespaces": ["ingress\n"]},
    ),
    "label key with a space": ("k3s_ml_namespace_labels", {"k3s_ml_namespace_labels": {"team name": "ml"}}),
    "part-of with a space": ("k3s_ml_namespace_part_of", {"k3s_ml_namespace_part_of": "mlops ollama"}),
    "Pod Security version that is none": ("k3s_ml_namespace_pod_security_version", {"k3s_ml_namespace_pod_security_version": "1.30"}),
}


@pytest.mark.parametrize(("role", "case"), [("ollama_deploy", c) for c in OLLAMA_DEPLOY_STATIC] + [("k3s_ml_namespace", c) for c in K3S_ML_NAMESPACE_STATIC])
def test_preflight_refuses_a_value_against_its_rule(tmp_path, role, case):
    variable, extra_vars = (OLLAMA_DEPLOY_STATIC if role == "ollama_deploy" else K3S_ML_NAMESPACE_STATIC)[case]
    result = run_role(None, tmp_path, role, extra_vars)
    task, msg = failure(result)
    assert not task.split(" : ", 1)[-1].startswith(FIRST_CLUSTER_READ[role]), f"{case}: preflight let it through to the cluster ({msg[:300]!r})"
    assert variable in msg, f"{case}: {task!r} failed with {msg!r}, which does not name {variable}"
    assert_nothing_changed(result)


@pytest.mark.parametrize(
    ("role", "extra_vars"),
    [
        ("ollama_deploy", {"ollama_deploy_resources": {"requests": {"cpu": "1e-1", "memory": "1e9"}, "limits": {"cpu": "2.", "memory": "4Gi"}}}),
        ("ollama_deploy", {"ollama_deploy_pvc_size": "5e10", "ollama_deploy_keep_alive": "-1", "ollama_deploy_replicas": 50}),
        ("ollama_deploy", {"ollama_deploy_ingress_enabled": True, "ollama_deploy_ingress_host": "*.example.com", "ollama_deploy_ingress_tls": False}),
        (
            "k3s_ml_namespace",
            {
                "k3s_ml_namespace_quota_enabled": True,
                "k3s_ml_namespace_quota_requests_cpu": "1e3",
                "k3s_ml_namespace_quota_pvcs": "1e1",
                "k3s_ml_namespace_quota_gpus": 2,
                "k3s_ml_namespace_limit_range_enabled": True,
                "k3s_ml_namespace_limit_range_default_request": {"cpu": "1500m"},
                "k3s_ml_namespace_limit_range_default_limit": {"cpu": "2"},
            },
        ),
    ],
    ids=["exponent quantities", "exponent PVC size, keep-alive -1, replicas at the ceiling", "wildcard ingress host", "exponent quota and limit range"],
)
def test_preflight_accepts_what_kubernetes_accepts(tmp_path, role, extra_vars):
    """Quantities such as 1e3 pass the static preflight: the run gets as far as reading the cluster (here: none)."""
    task, msg = failure(run_role(None, tmp_path, role, extra_vars))
    assert task.split(" : ", 1)[-1].startswith(FIRST_CLUSTER_READ[role]), f"preflight refused it in {task!r}: {msg[:500]}"
