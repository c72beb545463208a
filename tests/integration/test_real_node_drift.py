"""The model_sync role's drift CronJob, run for real: a Job made from it on the real node reaches Ollama by its cluster
DNS name and pulls back a model deleted behind the collection's back, and a second Job finds nothing to do.
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


def _run_drift_job(stack: Any, kube: Any, namespace: str, name: str) -> str:
    batch = client.BatchV1Api(kube)
    kubectl(f"--kubeconfig={stack.kubeconfig}", "-n", namespace, "create", "job", name, "--from=cronjob/ollama-model-sync")

    def finished() -> str | None:
        status = batch.read_namespaced_job_status(name, namespace).status
        return "Complete" if status.succeeded else "Failed" if status.failed else None

    outcome = wait_for(finished, 180, f"the drift Job {name} to finish")
    log = kubectl(f"--kubeconfig={stack.kubeconfig}", "-n", namespace, "logs", f"job/{name}")
    assert outcome == "Complete", log
    return log


def test_a_job_from_the_drift_cronjob_restores_a_deleted_model(stack: Any, kube: Any, real_node_namespace: str, tmp_path: Any) -> None:
    namespace = real_node_namespace
    placement = deploy_on_real_node(stack, tmp_path / "deploy", namespace, replicas=1)
    service = client.CoreV1Api(kube).read_namespaced_service("ollama", namespace)
    url = f"http://{service.spec.cluster_ip}:11434"
    synced = run_role(
        stack,
        tmp_path / "sync",
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
        },
        expect_failure=False,
    )
    assert synced["stats"]["localhost"]["failures"] == 0
    declared = _tags(url)
    names = [f"{stack.pod_registry_host}/{m}" for m in MODELS]
    assert sorted(declared) == sorted(names), declared

    # Behind the collection's back: one model goes.
    deleted = httpx.request("DELETE", f"{url}/api/delete", json={"model": names[0]}, timeout=30)
    assert deleted.status_code == 200, deleted.text
    assert names[0] not in _tags(url)

    log = _run_drift_job(stack, kube, namespace, "drift-now")
    assert f"missing: {names[0]}, pulling" in log and f"present: {names[1]}" in log, log
    assert "drift check done: 1 model(s) pulled" in log, log
    assert _tags(url) == declared  # the same names and digests as the sync left

    pod = client.CoreV1Api(kube).list_namespaced_pod(namespace, label_selector="job-name=drift-now").items[0]
    assert pod.spec.node_name == stack.real_node, pod.spec.node_name
    assert "drift check done: 0 model(s) pulled" in _run_drift_job(stack, kube, namespace, "drift-again")
