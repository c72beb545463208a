"""k8s_events and k8s_pod_logs on pods the real node's kubelet runs: its own events (a failing probe's Unhealthy, a
deletion's Killing), each pod's own log, and the log of a container that crashed (previous=true).

The pods run the stack's Ollama image under the restricted Pod Security profile the namespace enforces.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest
from k8s_live import kubectl, wait_for
from kubernetes import client

ModuleRunner = Callable[..., dict]
TAINT = "mlops.ollama/real-node"


@pytest.fixture(scope="module")
def core(kube: Any) -> client.CoreV1Api:
    return client.CoreV1Api(kube)


@pytest.fixture
def namespace(real_node_namespace: str) -> str:
    return real_node_namespace


def shell_pod(stack: Any, name: str, script: str, app: str = "kubelet-test", **container: Any) -> dict[str, Any]:
    """A pod on the real node running ``script`` with the image's POSIX shell, restricted-profile compliant."""
    return {
        "metadata": {"name": name, "labels": {"app": app}},
        "spec": {
            "nodeSelector": {"mlops.ollama/node": "real"},
            "tolerations": [{"key": TAINT, "operator": "Equal", "value": "true", "effect": "NoSchedule"}],
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 1,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "main",
                    "image": stack.images["ollama"],
                    "imagePullPolicy": "Always",
                    "command": ["sh", "-c", script],
                    "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    **container,
                }
            ],
        },
    }


def _events(run_module: ModuleRunner, kubeconfig: str, namespace: str, pod: str, expect: list[str]) -> dict[str, Any]:
    return run_module(
        "k8s_events",
        {"kubeconfig": kubeconfig, "namespace": namespace, "involved_name": [pod], "expect_reasons": expect, "wait_timeout": 90},
    )


def test_kubelet_events_include_a_failing_probe_and_the_kill(stack: Any, core: client.CoreV1Api, namespace: str, run_module: ModuleRunner) -> None:
    never_ready = {"readinessProbe": {"exec": {"command": ["cat", "/no/such/file"]}, "periodSeconds": 1, "failureThreshold": 1}}
    core.create_namespaced_pod(namespace, shell_pod(stack, "probed", "echo up; exec sleep 3600", **never_ready))

    started = _events(run_module, str(stack.kubeconfig), namespace, "probed", ["Scheduled", "Pulling", "Pulled", "Created", "Started", "Unhealthy"])
    assert started.get("failed") is not True, started
    by_reason = {e["reason"]: e for e in started["events"]}
    assert by_reason["Scheduled"]["component"] == "default-scheduler"
    for reason in ("Pulling", "Pulled", "Created", "Started", "Unhealthy"):
        assert by_reason[reason]["component"] == "kubelet", by_reason[reason]
    assert by_reason["Unhealthy"]["type"] == "Warning"
    assert "Readiness probe failed" in by_reason["Unhealthy"]["message"]
    assert stack.images["ollama"] in by_reason["Pulling"]["message"]

    core.delete_namespaced_pod("probed", namespace)
    killed = _events(run_module, str(stack.kubeconfig), namespace, "probed", ["Killing"])
    assert killed.get("failed") is not True, killed
    assert {e["component"] for e in killed["events"] if e["reason"] == "Killing"} == {"kubelet"}


def _restarted(core: client.CoreV1Api, namespace: str, name: str) -> bool:
    statuses = core.read_namespaced_pod(name, namespace).status.container_statuses or []
    return bool(statuses) and statuses[0].restart_count >= 1 and statuses[0].last_state.terminated is not None


def test_each_pod_has_its_own_log_and_a_crashed_container_keeps_its_last_lines(
    stack: Any, core: client.CoreV1Api, namespace: str, run_module: ModuleRunner
) -> None:
    for name in ("talker-a", "talker-b"):
        core.create_namespaced_pod(namespace, shell_pod(stack, name, 'echo "hello from $POD_NAME"; exec sleep 3600'))
    # The first run leaves a line of its own, then crashes; the restarted container stays up, so the previous log is
    # that first run's and is still there when kubectl reads it (a crash loop would replace it between the two reads).
    crash = (
        'if [ -e /state/crashed ]; then echo "restarted"; exec sleep 3600; fi; touch /state/crashed; '
        'echo "run $(cat /proc/sys/kernel/random/uuid)"; echo "about to crash"; exit 3'
    )
    crasher = shell_pod(stack, "crasher", crash, app="crasher", volumeMounts=[{"name": "state", "mountPath": "/state"}])
    crasher["spec"]["volumes"] = [{"name": "state", "emptyDir": {}}]
    core.create_namespaced_pod(namespace, crasher)

    args = {"kubeconfig": str(stack.kubeconfig), "namespace": namespace}
    both = run_module("k8s_pod_logs", dict(args, label_selectors=["app=kubelet-test"], follow=True, until_regex="hello from", until="all", timeout=90))
    assert both.get("failed") is not True, (both.get("msg"), both["pods"])
    talkers = {p["name"] for p in both["pods"] if p["name"].startswith("talker-")}
    assert talkers == {"talker-a", "talker-b"}
    for name in talkers:
        own = [line for line in both["lines"] if line.startswith(f"[pod/{name}/main]")]
        assert own == [f"[pod/{name}/main] hello from {name}"], both["lines"]

    wait_for(lambda: _restarted(core, namespace, "crasher"), 90, "the crashing container to be restarted")
    previous = run_module("k8s_pod_logs", dict(args, name="crasher", previous=True))
    assert previous.get("failed") is not True, previous
    texts = [line.split("] ", 1)[1] for line in previous["lines"]]
    assert texts[-1] == "about to crash" and texts[0].startswith("run "), texts
    # kubectl reads the previous log the same way, from this node's kubelet through the API server.
    shown = kubectl(f"--kubeconfig={stack.kubeconfig}", "-n", namespace, "logs", "crasher", "--previous").splitlines()
    assert shown == texts, (shown, texts)
