"""The local stack's real node runs pods for real: containerd + runc, the kubelet's probes, logs and events, kube-proxy,
cluster DNS.

The pod is the Ollama image the stack builds, under the security context the ollama_deploy role sets.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
from k8s_live import wait_for
from kubernetes import client, config

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "hack" / "stack"
TAINT = "mlops.ollama/real-node"


@pytest.fixture(scope="module")
def real(stack):
    if not stack.real_node:
        pytest.fail("the local stack has no real node (stack.json: real_node is empty); see `hack/stack status`", pytrace=False)
    return stack


@pytest.fixture(scope="module")
def core(real):
    return client.CoreV1Api(config.new_client_from_config(config_file=real.kubeconfig))


@pytest.fixture
def namespace(core):
    name = f"real-node-{uuid.uuid4().hex[:6]}"
    core.create_namespace({"metadata": {"name": name}})
    yield name
    core.delete_namespace(name)
    wait_for(lambda: name not in [n.metadata.name for n in core.list_namespace().items], 120, f"namespace {name} to go")


def _kubectl(real, *args: str) -> str:
    return subprocess.run(["kubectl", f"--kubeconfig={real.kubeconfig}", *args], capture_output=True, text=True, check=True, timeout=60).stdout


def ollama_pod(real) -> dict:
    """The pod the ollama_deploy role renders, reduced to what the node must honour."""
    return {
        "metadata": {"name": "ollama", "labels": {"app": "ollama"}},
        "spec": {
            "nodeSelector": {"mlops.ollama/node": "real"},
            "tolerations": [{"key": TAINT, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
            "enableServiceLinks": False,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 1000,
                "runAsGroup": 1000,
                "fsGroup": 1000,
                "fsGroupChangePolicy": "OnRootMismatch",
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "ollama",
                    "image": real.images["ollama"],
                    "imagePullPolicy": "Always",
                    "ports": [{"name": "http", "containerPort": 11434}],
                    # As the role sets them: uid 1000 has no passwd entry, so HOME would be /.
                    "env": [
                        {"name": "HOME", "value": "/root"},
                        {"name": "OLLAMA_HOST", "value": "0.0.0.0:11434"},
                        {"name": "OLLAMA_MODELS", "value": "/root/.ollama/models"},
                    ],
                    "securityContext": {
                        "runAsNonRoot": True,
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "readinessProbe": {"httpGet": {"path": "/api/version", "port": "http"}, "periodSeconds": 2},
                    "volumeMounts": [
                        {"name": "home", "mountPath": "/root"},
                        {"name": "models", "mountPath": "/root/.ollama"},
                        {"name": "tmp", "mountPath": "/tmp"},
                    ],
                }
            ],
            "volumes": [{"name": "home", "emptyDir": {}}, {"name": "models", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
        },
    }


def test_node_is_ready_with_its_own_address_and_containerd(real, core):
    node = core.read_node(real.real_node)
    assert any(c.type == "Ready" and c.status == "True" for c in node.status.conditions)
    internal = [a.address for a in node.status.addresses if a.type == "InternalIP"]
    assert internal == [real.real_node_ip]
    assert not ipaddress.ip_address(internal[0]).is_loopback
    assert ipaddress.ip_address(internal[0]) in ipaddress.ip_network(real.pod_subnet)
    assert node.status.node_info.container_runtime_version == "containerd://2.2.9"
    assert node.status.node_info.kubelet_version == "v1.36.3"
    assert node.metadata.labels["mlops.ollama/node"] == "real"
    assert [(t.key, t.value, t.effect) for t in node.spec.taints] == [(TAINT, "true", "NoSchedule")]
    # kwok leaves the real node to its kubelet: no kwok annotation, and the kubelet holds the lease.
    assert "kwok.x-k8s.io/node" not in (node.metadata.annotations or {})


def test_untolerated_pod_stays_off_the_real_node(real, core, namespace):
    body = ollama_pod(real)
    body["spec"].pop("tolerations")
    core.create_namespaced_pod(namespace, body)
    wait_for(
        lambda: any(c.type == "PodScheduled" and c.reason == "Unschedulable" for c in (core.read_namespaced_pod("ollama", namespace).status.conditions or [])),
        60,
        "the scheduler to refuse the pod",
    )


def test_ollama_pod_runs_hardened_with_logs_events_and_service(real, core, namespace):
    started = time.monotonic()
    core.create_namespaced_pod(namespace, ollama_pod(real))
    core.create_namespaced_service(
        namespace, {"metadata": {"name": "ollama"}, "spec": {"selector": {"app": "ollama"}, "ports": [{"port": 11434, "targetPort": "http"}]}}
    )

    def ready():
        pod = core.read_namespaced_pod("ollama", namespace)
        return pod if any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [])) else None

    pod = wait_for(ready, 240, "the Ollama pod to be Ready (readinessProbe GET /api/version)")
    print(f"first pod Ready after {time.monotonic() - started:.1f}s")
    assert pod.spec.node_name == real.real_node
    assert pod.status.phase == "Running"
    assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network(real.pod_subnet)
    assert pod.status.pod_ip != real.real_node_ip

    # The API answers the host through the pod IP on the bridge ...
    version = httpx.get(f"http://{pod.status.pod_ip}:11434/api/version", timeout=10).json()
    assert version == {"version": "0.11.4"}
    # ... and through the Service's ClusterIP, which only kube-proxy's rules make reachable.
    cluster_ip = core.read_namespaced_service("ollama", namespace).spec.cluster_ip
    assert ipaddress.ip_address(cluster_ip) in ipaddress.ip_network(real.service_cidr)
    wait_for(lambda: _get_ok(f"http://{cluster_ip}:11434/api/version"), 30, f"ClusterIP {cluster_ip} to answer")

    # Cluster DNS: the pod's resolver is the node's CoreDNS, which answers the Service by its full name and through the
    # pod's search path (``ollama`` alone is the pod's own name in /etc/hosts), and refuses a name outside the cluster
    # (nothing is forwarded off the machine).
    script = (
        f"grep ^nameserver /etc/resolv.conf; getent hosts ollama.{namespace}.svc.cluster.local; getent hosts ollama.{namespace}; "
        "getent hosts example.com || echo unresolved"
    )
    lookups = _kubectl(real, "-n", namespace, "exec", "ollama", "--", "sh", "-c", script).splitlines()
    assert lookups[0].split() == ["nameserver", real.real_node_ip], lookups
    assert lookups[1].split() == [cluster_ip, f"ollama.{namespace}.svc.cluster.local"], lookups
    assert lookups[2].split()[0] == cluster_ip, lookups
    assert lookups[3:] == ["unresolved"], lookups

    # Logs are the kubelet's own (the API server reaches it by InternalIP with its client cert).
    logs = _kubectl(real, "-n", namespace, "logs", "ollama")
    assert "Listening on [::]:11434" in logs or "Listening on 0.0.0.0:11434" in logs, logs[-2000:]
    # exec runs in the container, as the pod's user, with a read-only root.
    out = _kubectl(real, "-n", namespace, "exec", "ollama", "--", "sh", "-c", "id -u; touch /probe 2>&1 || true")
    assert out.splitlines()[0] == "1000"
    assert "Read-only file system" in out

    wanted = {"Scheduled", "Pulling", "Pulled", "Created", "Started"}

    def kubelet_reasons() -> set[str] | None:
        reasons = {e.reason for e in core.list_namespaced_event(namespace, field_selector="involvedObject.name=ollama").items}
        return reasons if wanted <= reasons else None

    assert wanted <= wait_for(kubelet_reasons, 30, "the kubelet's events")


def _ready_pod(core, namespace: str, name: str):
    def ready():
        pod = core.read_namespaced_pod(name, namespace)
        return pod if any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or [])) else None

    return wait_for(ready, 240, f"pod {name} to be Ready")


def _blob_downloads(real) -> int:
    """Blob reads the pods' registry redirected to its blob server, from that server's access log."""
    log = Path(real.pod_blobs_access_log)
    return sum(1 for line in log.read_text().splitlines() if '"GET /docker/registry/v2/blobs/' in line) if log.exists() else 0


def test_models_on_the_claim_survive_a_pod_delete_without_a_second_download(real, core, namespace, run_module, tmp_path):
    # A hostPath volume on the node, bound by name: the models outlive the pod as they do on a k3s local-path claim.
    data = tmp_path / "models"
    data.mkdir()
    os.chmod(data, 0o777)  # hostPath ignores fsGroup; the pod runs as uid 1000
    volume = f"{namespace}-models"
    core.create_persistent_volume(
        {
            "metadata": {"name": volume},
            "spec": {
                "capacity": {"storage": "1Gi"},
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": "real-node-test",
                "hostPath": {"path": str(data)},
            },
        }
    )
    try:
        core.create_namespaced_persistent_volume_claim(
            namespace,
            {
                "metadata": {"name": "ollama"},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "real-node-test",
                    "volumeName": volume,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        )
        body = ollama_pod(real)
        claim = {"name": "models", "persistentVolumeClaim": {"claimName": "ollama"}}
        body["spec"]["volumes"] = [claim if v["name"] == "models" else v for v in body["spec"]["volumes"]]
        core.create_namespaced_pod(namespace, body)
        first = _ready_pod(core, namespace, "ollama")
        model = f"{real.pod_registry_host}/mlops/tiny-a:latest"

        before = _blob_downloads(real)
        pulled = run_module("ollama_model", {"url": f"http://{first.status.pod_ip}:11434", "name": model, "insecure": True})
        assert pulled.get("failed") is not True and pulled["changed"] is True, pulled
        downloaded = _blob_downloads(real)
        assert downloaded > before, "the pod's pull did not go through the pods' registry blob server"
        listed = {m["name"]: m["digest"] for m in run_module("ollama_model_info", {"url": f"http://{first.status.pod_ip}:11434"})["models"]}
        assert model in listed, listed

        core.delete_namespaced_pod("ollama", namespace, grace_period_seconds=5)
        wait_for(lambda: "ollama" not in [p.metadata.name for p in core.list_namespaced_pod(namespace).items], 60, "the first pod to go")
        core.create_namespaced_pod(namespace, body)
        second = _ready_pod(core, namespace, "ollama")
        assert second.metadata.uid != first.metadata.uid
        url = f"http://{second.status.pod_ip}:11434"
        assert {m["name"]: m["digest"] for m in run_module("ollama_model_info", {"url": url})["models"]} == listed
        again = run_module("ollama_model", {"url": url, "name": model, "insecure": True})
        assert again.get("failed") is not True and again["changed"] is False, again
        assert _blob_downloads(real) == downloaded, "a layer was downloaded again after the pod was replaced"
    finally:
        # The namespace goes with its pod and claim; the volume is cluster-scoped and the test's own.
        core.delete_persistent_volume(volume)


def _get_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=3).status_code == 200
    except httpx.HTTPError:
        return False
