"""The model_sync role's drift CronJob, run for real: a Job made from it on the real node reaches Ollama by its cluster
DNS name and pulls back a model deleted behind the collection's back, then one replaced by another digest under the
same name, and a Job with nothing to do pulls nothing. Without auto-pull it only reports, and its Job fails.
"""

from __future__ import annotations

from typing import Any

import httpx
from k8s_live import kubectl, wait_for
from kubernetes import client
from role_runs import deploy_on_real_node, run_role

MODELS = ["mlops/tiny-a:latest", "mlops/tiny-b:latest"]


def _tags(url: str) -> dict[str, str]:
    return {m["name"]: m["digest"] for m in httpx.get(f"{url}/api/tags", timeout=10).json().get("models") or []}


def _run_drift_job(stack: Any, kube: Any, namespace: str, name: str, outcome: str = "Complete") -> str:
    batch = client.BatchV1Api(kube)
    kubectl(f"--kubeconfig={stack.kubeconfig}", "-n", namespace, "create", "job", name, "--from=cronjob/ollama-model-sync")

    def finished() -> str | None:
        status = batch.read_namespaced_job_status(name, namespace).status
        return "Complete" if status.succeeded else "Failed" if status.failed else None

    finished_as = wait_for(finished, 180, f"the drift Job {name} to finish")
    log = kubectl(f"--kubeconfig={stack.kubeconfig}", "-n", namespace, "logs", f"job/{name}")
    assert finished_as == outcome, log
    return log


def _sync(stack: Any, tmp_path: Any, namespace: str, url: str, placement: dict, **role_vars: Any) -> None:
    synced = run_role(
        stack,
        tmp_path,
        "model_sync",
        {
            "model_sync_namespace": namespace,
            "model_sync_url": url,
            "model_sync_registry": stack.pod_registry_host,
            "model_sync_insecure": True,
            "model_sync_models": MODELS,
            "model_sync_verify_inference": False,
            "model_sync_drift_enabled": True,
            "model_sync_drift_image": stack.images["ollama"],
            # The Ollama pods' placement, which the drift job follows by default.
            "ollama_deploy_node_selector": placement["ollama_deploy_node_selector"],
            "ollama_deploy_tolerations": placement["ollama_deploy_tolerations"],
            **role_vars,
        },
        expect_failure=False,
    )
    assert synced["stats"]["localhost"]["failures"] == 0


def test_a_job_from_the_drift_cronjob_restores_a_deleted_model_and_a_replaced_digest(
    stack: Any, kube: Any, real_node_namespace: str, tmp_path: Any
) -> None:
    namespace = real_node_namespace
    placement = deploy_on_real_node(stack, tmp_path / "deploy", namespace, replicas=1)
    service = client.CoreV1Api(kube).read_namespaced_service("ollama", namespace)
    url = f"http://{service.spec.cluster_ip}:11434"
    _sync(stack, tmp_path / "sync", namespace, url, placement)
    declared = _tags(url)
    names = [f"{stack.pod_registry_host}/{m}" for m in MODELS]
    assert sorted(declared) == sorted(names), declared
    listed = {name: digest[:12] for name, digest in declared.items()}
    configmap = client.CoreV1Api(kube).read_namespaced_config_map("ollama-model-sync", namespace).data["models"]
    assert sorted(configmap.splitlines()) == sorted(f"{n} true present {declared[n]}" for n in names), configmap

    # Behind the collection's back: one model goes.
    deleted = httpx.request("DELETE", f"{url}/api/delete", json={"model": names[0]}, timeout=30)
    assert deleted.status_code == 200, deleted.text
    assert names[0] not in _tags(url)

    log = _run_drift_job(stack, kube, namespace, "drift-now")
    assert f"drift: {names[0]} missing; pulling" in log and f"present: {names[1]} {listed[names[1]]}" in log, log
    assert "drift check done: 1 model(s) pulled, 0 problem(s) left" in log, log
    assert _tags(url) == declared  # the same names and digests as the sync left

    pod = client.CoreV1Api(kube).list_namespaced_pod(namespace, label_selector="job-name=drift-now").items[0]
    assert pod.spec.node_name == stack.real_node, pod.spec.node_name
    assert "drift check done: 0 model(s) pulled, 0 problem(s) left" in _run_drift_job(stack, kube, namespace, "drift-again")

    # The same name, another model: the name alone would pass it.
    copied = httpx.post(f"{url}/api/copy", json={"source": names[1], "destination": names[0]}, timeout=30)
    assert copied.status_code == 200, copied.text
    assert _tags(url)[names[0]] == declared[names[1]]
    log = _run_drift_job(stack, kube, namespace, "drift-digest")
    assert f"drift: {names[0]} digest {listed[names[1]]}, declared {listed[names[0]]}; pulling" in log, log
    assert _tags(url) == declared


def test_without_auto_pull_the_drift_job_reports_and_fails_and_its_inference_test_answers(
    stack: Any, kube: Any, real_node_namespace: str, tmp_path: Any
) -> None:
    namespace = real_node_namespace
    placement = deploy_on_real_node(stack, tmp_path / "deploy", namespace, replicas=1)
    url = f"http://{client.CoreV1Api(kube).read_namespaced_service('ollama', namespace).spec.cluster_ip}:11434"
    _sync(stack, tmp_path / "sync", namespace, url, placement, model_sync_drift_auto_pull=False, model_sync_drift_test_inference=True)
    names = [f"{stack.pod_registry_host}/{m}" for m in MODELS]
    httpx.request("DELETE", f"{url}/api/delete", json={"model": names[1]}, timeout=30).raise_for_status()

    log = _run_drift_job(stack, kube, namespace, "drift-report", outcome="Failed")
    assert f"drift: {names[1]} missing; not pulled (AUTO_PULL=false)" in log, log
    assert f"inference: {names[0]} answered" in log, log
    assert "drift check done: 0 model(s) pulled, 1 problem(s) left" in log, log
    assert names[1] not in _tags(url)
