"""Model-aware readiness on the real node: a pod is Ready only once it holds its declared models (and, with the
inference check, once one of them answers), so the Service never sends it a request before.

The proof is the pod's own log: Ollama logs every request it receives with its query string, and the requests sent
to the Service's ClusterIP carry a number each. Those that reached the pod are exactly those that were answered,
and all of them come after the pod's models arrived and its probe passed.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable

import httpx
from k8s_live import wait_for
from kubernetes import client
from role_runs import deploy_on_real_node, run_role

ModuleRunner = Callable[..., dict]
SELECTOR = "app.kubernetes.io/name=ollama"
# [GIN] 2026/12/02 - 20:00:00 | 200 |  1.2ms |  10.217.0.1 | GET      "/api/version?via=service&n=3"
GIN_LINE = re.compile(r'^\[GIN\] [^|]+\|\s*(?P<status>\d+)\s*\|[^|]+\|\s*(?P<client>\S+)\s*\|\s*(?P<method>[A-Z]+)\s+"(?P<path>[^"]*)"')


def _pods(kube: Any, namespace: str) -> list[Any]:
    return client.CoreV1Api(kube).list_namespaced_pod(namespace, label_selector=SELECTOR).items


def _ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or [])


def _requests(kube: Any, namespace: str, pod: str) -> list[dict[str, str]]:
    log = client.CoreV1Api(kube).read_namespaced_pod_log(pod, namespace, container="ollama")
    return [m.groupdict() for m in map(GIN_LINE.match, log.splitlines()) if m]


class ServiceLoop:
    """Requests to the Service's ClusterIP, each numbered, from a thread: what a client of the Service sees."""

    def __init__(self, url: str) -> None:
        self.url, self.answered, self.refused = url, [], []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        number = 0
        with httpx.Client(timeout=5) as http:
            while not self.stop.is_set():
                number += 1
                try:
                    ok = http.get(f"{self.url}/api/version", params={"via": "service", "n": number}).is_success
                except httpx.HTTPError:
                    ok = False
                (self.answered if ok else self.refused).append(number)
                time.sleep(0.2)

    def __enter__(self) -> "ServiceLoop":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join(10)


def test_a_pod_turns_ready_only_with_its_models_and_an_answer_and_the_service_sends_it_nothing_before(
    stack: Any, kube: Any, real_node_namespace: str, tmp_path: Any, run_module: ModuleRunner
) -> None:
    namespace = real_node_namespace
    model = f"{stack.pod_registry_host}/mlops/tiny-a:latest"
    deploy_on_real_node(
        stack, tmp_path, namespace, replicas=1, ollama_deploy_readiness_models=["mlops/tiny-a"],
        ollama_deploy_readiness_registry=stack.pod_registry_host, ollama_deploy_readiness_inference=True,
    )
    [pod] = _pods(kube, namespace)
    name = pod.metadata.name
    assert not _ready(pod), "a pod without its models is Ready"
    cluster_ip = client.CoreV1Api(kube).read_namespaced_service("ollama", namespace).spec.cluster_ip

    with ServiceLoop(f"http://{cluster_ip}:11434") as loop:
        # Several probe periods (1 s here) with the pod started and NotReady, the Service refusing every request.
        wait_for(lambda: len(loop.refused) >= 10, 30, "requests to the Service while the pod has no models")
        assert not _ready(_pods(kube, namespace)[0]) and loop.answered == [], loop.answered
        synced = run_module("ollama_models", {
            "kubernetes": {"pod_selector": SELECTOR, "namespace": namespace, "kubeconfig": str(stack.kubeconfig)},
            "models": [model], "insecure": True,
        })
        assert synced.get("failed") is not True and synced["pods"][name]["pulled"] == [model], synced
        wait_for(lambda: _ready(_pods(kube, namespace)[0]), 60, f"pod {name} to turn Ready once it holds {model}")
        wait_for(lambda: len(loop.answered) >= 5, 60, "the Service to answer through the Ready pod")

    requests = _requests(kube, namespace, name)
    numbers = [int(re.search(r"[?&]n=(\d+)", r["path"]).group(1)) for r in requests if "via=service" in r["path"]]
    assert sorted(numbers) == sorted(loop.answered), "the pod received requests the Service refused, or lost answered ones"
    assert max(loop.refused[:10]) < min(numbers), (loop.refused, numbers)
    first_service = next(i for i, r in enumerate(requests) if "via=service" in r["path"])
    before = requests[:first_service]
    assert any(r["method"] == "POST" and r["path"] == "/api/pull" for r in before), "the pod served the Service before its pull"
    # The probe ran in the pod: the model check failed while the model was missing, then it and the inference passed.
    probes = [r for r in before if r["client"] == "127.0.0.1"]
    assert any(r["path"] == "/api/show" and r["status"] == "404" for r in probes), probes[:5]
    assert any(r["path"] == "/api/show" and r["status"] == "200" for r in probes), probes[-5:]
    assert any(r["path"] == "/api/generate" and r["status"] == "200" for r in probes), probes[-5:]


def test_model_sync_syncs_each_new_pod_through_its_proxy_and_waits_for_it_to_turn_ready(
    stack: Any, kube: Any, real_node_namespace: str, tmp_path: Any
) -> None:
    """On shared-nothing storage the role's default target follows model-aware readiness: each pod, not the Service."""
    namespace = real_node_namespace
    readiness = {"ollama_deploy_readiness_models": ["mlops/tiny-a"], "ollama_deploy_readiness_registry": stack.pod_registry_host}
    deploy_on_real_node(stack, tmp_path / "deploy", namespace, replicas=2, **readiness)
    assert [p.metadata.name for p in _pods(kube, namespace) if _ready(p)] == []
    role_vars = {
        "model_sync_namespace": namespace,
        "model_sync_registry": stack.pod_registry_host,
        "model_sync_insecure": True,
        "model_sync_models": ["mlops/tiny-a", "mlops/tiny-b"],
        # Shared storage as far as the role knows: only the readiness makes it sync each pod.
        "ollama_deploy_storage": "pvc",
        **readiness,
    }
    synced = run_role(stack, tmp_path / "sync", "model_sync", role_vars, expect_failure=False)
    assert synced["stats"]["localhost"]["failures"] == 0
    tasks = {t["task"]["name"]: t["hosts"]["localhost"] for p in synced["plays"] for t in p["tasks"]}
    waited = next(result for task, result in tasks.items() if "Wait for the synced pods to turn Ready" in task)
    assert not waited.get("skipped"), waited
    pods = _pods(kube, namespace)
    assert len(pods) == 2 and all(_ready(p) for p in pods), [(p.metadata.name, p.status.conditions) for p in pods]
    shown = next(result for task, result in tasks.items() if task.endswith("Show what the sync did"))
    for pod in pods:
        assert f"{pod.metadata.name}: 2 pulled" in shown["msg"], shown["msg"]
        tags = httpx.get(f"http://{pod.status.pod_ip}:11434/api/tags", timeout=10).json()["models"]
        assert sorted(m["name"] for m in tags) == [f"{stack.pod_registry_host}/mlops/tiny-{x}:latest" for x in "ab"], tags
        paths = [r["path"] for r in _requests(kube, namespace, pod.metadata.name) if r["method"] == "POST"]
        assert "/api/generate" in paths, "model_sync checks the inference of each pod"


def test_the_drill_syncs_each_new_pod_and_probes_every_pod_itself_before_counting_it_healthy(
    stack: Any, kube: Any, real_node_namespace: str, tmp_path: Any
) -> None:
    namespace = real_node_namespace
    models = [f"{stack.pod_registry_host}/mlops/tiny-a:latest"]
    readiness = {"ollama_deploy_readiness_models": models}
    deploy_on_real_node(stack, tmp_path / "deploy", namespace, replicas=1, **readiness)
    sync_vars = {"model_sync_namespace": namespace, "model_sync_insecure": True, "model_sync_models": models, "ollama_deploy_storage": "emptydir", **readiness}
    assert run_role(stack, tmp_path / "sync", "model_sync", sync_vars, expect_failure=False)["stats"]["localhost"]["failures"] == 0
    [first] = [p.metadata.name for p in _pods(kube, namespace)]

    drill_vars = {
        **sync_vars,
        "scale_validate_namespace": namespace,
        "scale_validate_replicas": 2,
        "scale_validate_models": models,
        "scale_validate_request_loop_duration_s": 3,
        "scale_validate_report_dir": str(tmp_path / "reports"),
    }
    drill = run_role(stack, tmp_path / "drill", "scale_validate", drill_vars, expect_failure=False)
    tasks = {t["task"]["name"]: t["hosts"]["localhost"] for p in drill["plays"] for t in p["tasks"]}
    failed = [f"{name}: {result.get('msg')}" for name, result in tasks.items() if result.get("failed")]
    assert drill["stats"]["localhost"]["failures"] == 0, "\n".join(failed)

    up = next(result for name, result in tasks.items() if name.endswith("Scale up and watch every pod get Ready, to 2"))
    [new] = [p["name"] for p in up["live_pods"] if p["name"] != first]
    shown = next(result for name, result in tasks.items() if name.endswith("Show what the sync did"))
    assert f"{new}: 1 pulled" in shown["msg"] and f"{first}: 0 pulled" in shown["msg"], shown["msg"]
    health = next(result for name, result in tasks.items() if name.endswith("Probe Ollama's health in each pod"))
    assert sorted(health["pods"]) == sorted([first, new]), health
    assert all(r["status"] == "healthy" and r["ready"] for r in health["pods"].values()), health["pods"]
    checked = next(result for name, result in tasks.items() if name.endswith("Check every pod is Running and Ready"))
    assert "2 pods Running and Ready" in checked["msg"], checked
    assert [p.metadata.name for p in _pods(kube, namespace) if not p.metadata.deletion_timestamp] == [first]
