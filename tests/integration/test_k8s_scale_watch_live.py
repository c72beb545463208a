"""k8s_scale_watch against the local stack's real kube-apiserver (kwok nodes).

Each test uses its own namespace (``drill-<random>``), deleted afterwards. The watch-cut fault
is real too: the module talks to the apiserver through a TCP proxy on loopback that this test
cuts mid-drill and keeps refusing for a while, so pods change state while no watch is open.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any, Callable

import pytest
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import K8sClient
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_scale import scale_and_watch

from k8s_live import DEPLOYMENT, base, deploy, kubeconfig, kubectl, namespace  # noqa: F401 - fixtures  # pylint: disable=unused-import

ModuleRunner = Callable[..., dict]


def test_scale_up_and_down_with_timeline(kubeconfig: str, namespace: str, run_module: ModuleRunner) -> None:
    deploy(namespace)
    up = run_module("k8s_scale_watch", base(kubeconfig, namespace, name="ollama", replicas=3, direction="up", wait_timeout=60))
    assert up["changed"] is True, up
    live = [p for p in up["pods"] if p["gone"] is None]
    assert len(live) == 3 and all(p["ready_now"] for p in live)
    for pod in (p for p in up["pods"] if not p["pre_existing"]):
        assert pod["node"].startswith("kwok-node-")
        ts = [pod[f"{ph}_t"] for ph in ("created", "scheduled", "running", "ready")]
        assert None not in ts and ts == sorted(ts)
        assert set(pod["sources"].values()) == {"watch"}
    assert up["deployment"]["ready_replicas"] == 3
    assert up["detected_t"] >= up["last_ready_t"]
    listed = json.loads(kubectl("-n", namespace, "get", "pods", "-o", "json"))["items"]
    assert [p["name"] for p in up["live_pods"]] == sorted(p["metadata"]["name"] for p in listed)
    by_name = {p["metadata"]["name"]: p for p in listed}
    for pod in up["live_pods"]:
        assert pod["ready"] is True and pod["phase"] == "Running" and pod["seconds_to_ready"] >= 0, pod
        assert pod["ip"] == by_name[pod["name"]]["status"].get("podIP") and pod["node"] == by_name[pod["name"]]["spec"]["nodeName"]
        assert pod["created"].endswith("Z") and pod["ready_time"] >= pod["created"]
    assert kubectl("-n", namespace, "get", "deploy", "ollama", "-o", "jsonpath={.status.readyReplicas}") == "3"

    again = run_module("k8s_scale_watch", base(kubeconfig, namespace, name="ollama", replicas=3))
    assert again["changed"] is False

    down = run_module("k8s_scale_watch", base(kubeconfig, namespace, name="ollama", replicas=1, direction="down"))
    assert down["changed"] is True
    gone = [p for p in down["pods"] if p["deletion_requested"]]
    assert len(gone) == 2
    for pod in gone:
        assert pod["gone"] is not None and pod["forced"] is False and pod["gone_within_grace"] is True
        assert pod["deletion_grace_period_s"] == 30
    kept = [p for p in down["pods"] if p["gone"] is None]
    assert len(kept) == 1 and kept[0]["ready_now"] and kept[0]["not_ready_t"] is None
    assert [p["name"] for p in down["live_pods"]] == [kept[0]["name"]], "the surplus pods are not live any more"
    assert kubectl("-n", namespace, "get", "pods", "-o", "name").count("pod/") == 1


def test_scale_back_hands_replicas_back_so_a_server_side_apply_stays_a_no_op(kubeconfig: str, namespace: str, run_module: ModuleRunner) -> None:
    manifest = DEPLOYMENT.format(name="ollama", replicas=1, extra="")
    apply = ["-n", namespace, "apply", "--server-side", "--field-manager=mlops.ollama", "-f", "-"]
    kubectl(*apply, stdin=manifest)
    kubectl("-n", namespace, "rollout", "status", "deployment/ollama", "--timeout=60s")
    up = run_module("k8s_scale_watch", base(kubeconfig, namespace, name="ollama", replicas=2, wait_timeout=60))
    assert up["replicas_owner"] == {"manager": "mlops.ollama", "operation": "Apply", "subresource": ""}
    owners = kubectl("-n", namespace, "get", "deploy", "ollama", "-o", "json", "--show-managed-fields")
    assert _replicas_owners(owners) == ["mlops.ollama.k8s_scale_watch"]

    down = run_module("k8s_scale_watch", base(kubeconfig, namespace, name="ollama", replicas=1, wait_timeout=60, replicas_owner=up["replicas_owner"]))
    assert down["changed"] is True and down["replicas_owner_restored"] is True, down
    handed_back = kubectl("-n", namespace, "get", "deploy", "ollama", "-o", "json", "--show-managed-fields")
    assert _replicas_owners(handed_back) == ["mlops.ollama"]
    assert "mlops.ollama.k8s_scale_watch" not in handed_back, "the scale's manager should own nothing any more"
    before = json.loads(handed_back)["metadata"]["resourceVersion"]
    kubectl(*apply, stdin=manifest)
    assert json.loads(kubectl("-n", namespace, "get", "deploy", "ollama", "-o", "json"))["metadata"]["resourceVersion"] == before

    again = run_module("k8s_scale_watch", base(kubeconfig, namespace, name="ollama", replicas=1, replicas_owner=up["replicas_owner"]))
    assert again["changed"] is False and again["replicas_owner_restored"] is False


def _replicas_owners(deployment_json: str) -> list[str]:
    entries = json.loads(deployment_json)["metadata"]["managedFields"]
    return [e["manager"] for e in entries if "f:replicas" in e.get("fieldsV1", {}).get("f:spec", {})]


NAMESPACED_IDENTITY = """
apiVersion: v1
kind: ServiceAccount
metadata: {{name: scaler, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: scaler, namespace: {ns}}}
rules:
  - {{apiGroups: [apps], resources: [deployments], verbs: [get, list, watch, patch]}}
  - {{apiGroups: [""], resources: [pods], verbs: [get, list, watch]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: scaler, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: scaler}}
subjects: [{{kind: ServiceAccount, name: scaler, namespace: {ns}}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: scaler-{ns}}}
rules: [{{apiGroups: [""], resources: [nodes], verbs: [get, list]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: scaler-{ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: scaler-{ns}}}
subjects: [{{kind: ServiceAccount, name: scaler, namespace: {ns}}}]
"""


def test_a_namespaced_identity_gets_an_optimistic_capacity_plan_and_a_warning(kubeconfig: str, namespace: str, run_module: ModuleRunner, tmp_path: Any) -> None:
    deploy(namespace)
    kubectl("apply", "-f", "-", stdin=NAMESPACED_IDENTITY.format(ns=namespace))
    try:
        token = kubectl("-n", namespace, "create", "token", "scaler", "--duration=10m").strip()
        server = kubectl("config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
        # In a process of its own with only the token, as Ansible runs a module: no kubeconfig to fall back on, and
        # no client configuration left behind in this process by the other tests' kubeconfig runs.
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "K8S_AUTH_KUBECONFIG")}
        env.update(K8S_AUTH_HOST=server, K8S_AUTH_API_KEY=token, K8S_AUTH_VERIFY_SSL="false", HOME=str(tmp_path))
        args = {"ANSIBLE_MODULE_ARGS": {"namespace": namespace, "name": "ollama", "replicas": 2, "wait_timeout": 60}}
        module = subprocess.run(
            [sys.executable, "-m", "ansible_collections.mlops.ollama.plugins.modules.k8s_scale_watch"],
            input=json.dumps(args),
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        up = json.loads(module.stdout)
        assert up["changed"] is True and up["deployment"]["ready_replicas"] == 2, up
        assert up["capacity"]["pods_counted"] == f"namespace {namespace} only" and up["capacity"]["fits"] is True
        # module.warn() output: plain strings before ansible-core 2.19, warning summaries since.
        assert "no permission to list pods in all namespaces" in json.dumps(up.get("warnings")), up.get("warnings")
        # It asked first instead of being refused: no list of every namespace's pods was even tried.
        assert "POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews" in up["api_calls"]
        assert not any(call.startswith("GET /api/v1/pods") for call in up["api_calls"]), up["api_calls"]
        admin = run_module("k8s_scale_watch", base(kubeconfig, namespace, name="ollama", replicas=3, wait_timeout=60))
        assert admin["capacity"]["pods_counted"] == "all namespaces"
    finally:
        kubectl("delete", "clusterrole,clusterrolebinding", f"scaler-{namespace}", "--ignore-not-found")


def test_without_replicas_it_waits_for_a_rollout_to_finish_and_scales_nothing(kubeconfig: str, namespace: str, run_module: ModuleRunner) -> None:
    deploy(namespace, replicas=2, extra="")
    old_pods = set(kubectl("-n", namespace, "get", "pods", "-o", "jsonpath={.items[*].metadata.name}").split())
    kubectl("-n", namespace, "set", "image", "deployment/ollama", "ollama=ollama/ollama:0.17.4")
    done = run_module("k8s_scale_watch", base(kubeconfig, namespace, name="ollama", wait_timeout=120))
    assert done["changed"] is False and done["deployment"]["replicas"] == 2, done
    status = json.loads(kubectl("-n", namespace, "get", "deploy", "ollama", "-o", "json"))["status"]
    assert status["updatedReplicas"] == status["readyReplicas"] == 2
    live = [p for p in done["pods"] if p["gone"] is None]
    assert len(live) == 2 and all(p["ready_now"] for p in live) and not {p["name"] for p in live} & old_pods, "both pods should be new"


def test_check_mode_changes_nothing(kubeconfig: str, namespace: str, run_module: ModuleRunner) -> None:
    deploy(namespace)
    gen = kubectl("-n", namespace, "get", "deploy", "ollama", "-o", "jsonpath={.metadata.generation}")
    res = run_module("k8s_scale_watch", base(kubeconfig, namespace, name="ollama", replicas=2), check_mode=True)
    assert res["changed"] is True and res["capacity"]["fits"] is True
    assert [p["ready"] for p in res["live_pods"]] == [True], "check mode lists the pods it would watch"
    assert kubectl("-n", namespace, "get", "deploy", "ollama", "-o", "jsonpath={.metadata.generation} {.spec.replicas}") == f"{gen} 1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"name": "ollama", "replicas": -1}, "replicas=-1 is not a replica count"),
        ({"name": "ollama", "replicas": 0, "direction": "up"}, "replicas=0 is below the current 1 replicas"),
        ({"name": "ollama", "replicas": 3, "direction": "down"}, "replicas=3 is above the current 1 replicas"),
        ({"name": "nope", "replicas": 2}, "does not exist"),
        ({"name": "ollama", "replicas": 2, "wait_timeout": 0}, "wait_timeout=0.0 is not a duration"),
        ({"name": "ollama", "replicas": 500}, "Not enough room to scale Deployment"),
    ],
)
def test_bad_input_changes_nothing(kubeconfig: str, namespace: str, run_module: ModuleRunner, args: dict[str, Any], message: str) -> None:
    deploy(namespace)
    gen = kubectl("-n", namespace, "get", "deploy", "ollama", "-o", "jsonpath={.metadata.generation}")
    res = run_module("k8s_scale_watch", base(kubeconfig, namespace, **args))
    assert res.get("failed") is True and message in res["msg"], res["msg"]
    assert kubectl("-n", namespace, "get", "deploy", "ollama", "-o", "jsonpath={.metadata.generation} {.spec.replicas}") == f"{gen} 1"


def test_never_ready_pod_times_out_naming_pod_and_condition(kubeconfig: str, namespace: str, run_module: ModuleRunner) -> None:
    anti = (
        "affinity: {podAntiAffinity: {requiredDuringSchedulingIgnoredDuringExecution: "
        "[{labelSelector: {matchLabels: {app: spread}}, topologyKey: kubernetes.io/hostname}]}}"
    )
    deploy(namespace, "spread", 1, anti)
    res = run_module("k8s_scale_watch", base(kubeconfig, namespace, name="spread", replicas=4, wait_timeout=6))
    assert res["failed"] is True
    assert "Timed out after 6 s" in res["msg"]
    assert "(Pending, no node) is not Ready: PodScheduled=False (Unschedulable)" in res["msg"]
    assert "didn't match pod anti-affinity rules" in res["msg"]
    stuck = [p for p in res["pods"] if p["node"] is None]
    assert len(stuck) == 1 and stuck[0]["last_condition"]["reason"] == "Unschedulable"
    # The module leaves restoring to the caller (the role does it); restore and check it is clean.
    back = run_module("k8s_scale_watch", base(kubeconfig, namespace, name="spread", replicas=1))
    assert back["changed"] is True and back["deployment"]["ready_replicas"] == 1


# ---------------------------------------------------------------------------------------------
# the watch connection cut mid-drill, for real, through a loopback proxy
# ---------------------------------------------------------------------------------------------
class CuttableProxy:
    """A TCP proxy on 127.0.0.1 that can drop every open connection and refuse new ones for a while."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.conns: list[tuple[float, socket.socket, socket.socket]] = []
        self.refuse_until = 0.0
        self.cuts = 0
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _address = self.server.accept()
            except OSError:
                return
            if time.time() < self.refuse_until:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.conns.append((time.time(), client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def long_lived(self, age: float) -> int:
        with self.lock:
            return sum(1 for t, c, _upstream in self.conns if time.time() - t > age and c.fileno() != -1)

    def cut(self, refuse_for: float) -> None:
        self.refuse_until = time.time() + refuse_for
        with self.lock:
            conns, self.conns = self.conns, []
        for _opened, a, b in conns:
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                    s.close()
                except OSError:
                    pass
        self.cuts += 1

    def close(self) -> None:
        self.closed = True
        self.server.close()


def test_watch_cut_mid_drill_resumes_without_missing_a_transition(kubeconfig: str, namespace: str, stack: Any) -> None:
    deploy(namespace)
    server = get_api_client(kubeconfig=kubeconfig).configuration.host  # https://127.0.0.1:<port>
    port = int(server.rsplit(":", 1)[1])
    proxy = CuttableProxy(("127.0.0.1", port))
    try:
        client = K8sClient(get_api_client(kubeconfig=kubeconfig, host=f"https://127.0.0.1:{proxy.port}").client.client)
        result: dict[str, Any] = {}
        errors: list[BaseException] = []

        def drill() -> None:
            try:
                result.update(
                    scale_and_watch(
                        client,
                        {
                            "namespace": namespace,
                            "name": "ollama",
                            "replicas": 3,
                            "direction": "up",
                            "wait": True,
                            "wait_timeout": 60,
                            "wait_for_termination": True,
                            "capacity_check": True,
                        },
                    )
                )
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        th = threading.Thread(target=drill)
        th.start()
        # Cut as soon as both watches are open and the scale request went through: the new pods are then
        # being created, scheduled and made Ready (1-2 s on kwok) while the proxy refuses connections.
        deadline = time.time() + 20
        while time.time() < deadline:
            if proxy.long_lived(0.05) >= 2 and kubectl("-n", namespace, "get", "deploy", "ollama", "-o", "jsonpath={.spec.replicas}") == "3":
                break
            time.sleep(0.01)
        proxy.cut(refuse_for=3.0)
        th.join(70)
        assert not errors, errors
        assert proxy.cuts == 1
        assert result["watch"]["pod"]["reconnects"] >= 1 and result["watch"]["pod"]["errors"], result["watch"]
        new = [p for p in result["pods"] if not p["pre_existing"]]
        assert len(new) == 2
        for pod in new:
            # Every transition was seen, in order, from the watch (replayed from the last resourceVersion).
            assert [h["phase"] for h in pod["history"]][:4] == ["created", "scheduled", "running", "ready"], pod["history"]
            assert set(pod["sources"].values()) == {"watch"}
        assert result["deployment"]["ready_replicas"] == 3
        # The drill still ends correctly: scale back through the same (recovered) proxy.
        down = scale_and_watch(
            client,
            {
                "namespace": namespace,
                "name": "ollama",
                "replicas": 1,
                "direction": "down",
                "wait": True,
                "wait_timeout": 60,
                "wait_for_termination": True,
                "capacity_check": True,
            },
        )
        assert len([p for p in down["pods"] if p["gone"]]) == 2
        assert kubectl("-n", namespace, "get", "deploy", "ollama", "-o", "jsonpath={.status.readyReplicas}") == "1"
    finally:
        proxy.close()
