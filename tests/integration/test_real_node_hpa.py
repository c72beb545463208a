"""The ollama_deploy role's autoscaling/v2 HPA, driven by real metrics: metrics-server reads the real node's kubelet,
a load run through the Service raises the pods' CPU, the HPA scales the Deployment up under its behaviour policies,
and back down once the load stops.

The timeline (every change of the HPA's replica counts and CPU utilisation, seconds from the load's start) is written
to <stack state>/reports/hpa-timeline.json and printed.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from k8s_live import wait_for, wait_for_cluster_ip
from kubernetes import client
from role_runs import deploy_on_real_node

MODEL = "mlops/tiny-a:latest"
BEHAVIOR = {
    "scaleUp": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 15}]},
    "scaleDown": {"stabilizationWindowSeconds": 30, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 15}]},
}


class Load(threading.Thread):
    """Back-to-back generations through the Service, from a few clients at once."""

    def __init__(self, url: str, model: str, clients: int = 3) -> None:
        super().__init__(daemon=True)
        self.url, self.model, self.clients = url, model, clients
        self.stop, self.answered = threading.Event(), 0

    def _client(self) -> None:
        body = {"model": self.model, "prompt": "Count to one hundred.", "stream": False, "options": {"num_predict": 64}}
        while not self.stop.is_set():
            try:
                if httpx.post(f"{self.url}/api/generate", json=body, timeout=60).status_code == 200:
                    self.answered += 1
            except httpx.HTTPError:
                time.sleep(0.2)

    def run(self) -> None:
        workers = [threading.Thread(target=self._client, daemon=True) for _client in range(self.clients)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()


def test_load_through_the_service_scales_the_hpa_up_and_back_down(stack: Any, kube: Any, real_node_namespace: str, tmp_path: Any) -> None:
    namespace = real_node_namespace
    core, autoscaling = client.CoreV1Api(kube), client.AutoscalingV2Api(kube)
    deploy_on_real_node(
        stack,
        tmp_path,
        namespace,
        replicas=1,
        ollama_deploy_resources={"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        ollama_deploy_hpa_enabled=True,
        ollama_deploy_hpa_min_replicas=1,
        ollama_deploy_hpa_max_replicas=3,
        ollama_deploy_hpa_cpu_utilization=50,
        ollama_deploy_hpa_memory_utilization=95,
        ollama_deploy_hpa_behavior=BEHAVIOR,
    )
    url = f"http://{core.read_namespaced_service('ollama', namespace).spec.cluster_ip}:11434"
    name = f"{stack.pod_registry_host}/{MODEL}"
    wait_for_cluster_ip(f"{url}/api/version")
    with httpx.stream("POST", f"{url}/api/pull", json={"model": name, "insecure": True}, timeout=120) as pulled:
        assert [line for line in pulled.iter_lines() if line][-1] == '{"status":"success"}'

    # metrics-server has scraped the pod: the HPA sees a CPU figure before any load.
    def utilisation() -> int | None:
        metrics = autoscaling.read_namespaced_horizontal_pod_autoscaler("ollama", namespace).status.current_metrics or []
        cpu = [m.resource.current.average_utilization for m in metrics if m.resource and m.resource.name == "cpu"]
        return cpu[0] if cpu and cpu[0] is not None else None

    wait_for(lambda: utilisation() is not None, 120, "the HPA to read the pod's CPU from metrics-server")

    timeline: list[dict[str, Any]] = []
    started = time.monotonic()

    def record(phase: str) -> dict[str, Any]:
        status = autoscaling.read_namespaced_horizontal_pod_autoscaler("ollama", namespace).status
        point = {
            "t": round(time.monotonic() - started, 1),
            "phase": phase,
            "current": status.current_replicas,
            "desired": status.desired_replicas,
            "cpu": utilisation(),
        }
        if not timeline or {k: v for k, v in point.items() if k != "t"} != {k: v for k, v in timeline[-1].items() if k != "t"}:
            timeline.append(point)
        return point

    load = Load(url, name)
    load.start()
    try:
        wait_for(lambda: record("load")["current"] >= 2, 180, "the HPA to scale up under load")
        up_at = timeline[-1]["t"]
    finally:
        load.stop.set()
        load.join(70)
    load_stopped = time.monotonic() - started
    wait_for(lambda: record("idle")["current"] == 1, 240, "the HPA to scale back down once the load stopped")
    down_at = timeline[-1]["t"]

    report = Path(stack.run_dir).parent / "reports" / "hpa-timeline.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    summary = {
        "scaled_up_after_s": up_at,
        "load_stopped_at_s": round(load_stopped, 1),
        "back_to_one_after_s": down_at,
        "answered": load.answered,
        "timeline": timeline,
    }
    report.write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))

    assert load.answered > 0
    counts = [p["current"] for p in timeline]
    assert max(counts) <= 3 and counts[-1] == 1, timeline
    # The behaviour policies: one pod per step both ways, never a jump.
    assert all(abs(b - a) <= 1 for a, b in zip(counts, counts[1:])), timeline
    # Its own events say why: the controller's SuccessfulRescale, up for CPU, then down.
    events = core.list_namespaced_event(namespace, field_selector="involvedObject.kind=HorizontalPodAutoscaler").items
    rescales = [e.message for e in events if e.reason == "SuccessfulRescale"]
    assert any("above target" in m for m in rescales) and any("below target" in m for m in rescales), rescales
