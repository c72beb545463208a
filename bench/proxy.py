"""6. Through the Kubernetes API: a pull and a health probe through the API server's proxy, against their baselines.

One Ollama pod of the stack's image on the real node. Pull: each round, for each tool (order alternating), the two
tiny models are deleted from the pod and pulled again: by the ollama_model module through the Service's proxy, and
by the `ollama pull` CLI against the same pod's own address (one process per model for both). A second pull row
takes the module's own clock (its sync, from the first request to the last check) for the same pulls: what the proxy
and the module's requests cost without the module's process start. Probe: in-process,
ollama_health's generate probe through the proxy against one raw httpx POST /api/generate through the same proxy,
with the same credentials, alternating after a warm-up.
"""

from __future__ import annotations

import time
from typing import Any

from .common import MLOPS, BenchResult, Row, create_deployment, kube, kubeconfig, log, median, namespace, ollama_binary, run_module, run_timed, spread
from .common import stack_env, tool_env

NAME = "proxy"
NS = "bench-proxy"
DEPLOY = "ollama"
MODELS = ("mlops/tiny-a:latest", "mlops/tiny-b:latest")
PROMPT = "Hello"
NUM_PREDICT = 8
PROBES_PER_ROUND = 10


def _names() -> list[str]:
    registry = stack_env().get("MLOPS_POD_REGISTRY") or "10.217.0.1:25000"
    return [f"{registry}/{m}" for m in MODELS]


def _service(ns: str) -> None:
    from kubernetes import client

    body = {"metadata": {"name": DEPLOY}, "spec": {"selector": {"app.kubernetes.io/name": DEPLOY}, "ports": [{"port": 11434}]}}
    client.CoreV1Api(kube()).create_namespaced_service(ns, body)


def _pod_ip(ns: str) -> str:
    from kubernetes import client

    pods = client.CoreV1Api(kube()).list_namespaced_pod(ns, label_selector=f"app.kubernetes.io/name={DEPLOY}").items
    return str(pods[0].status.pod_ip)


def _delete_all(pod: str) -> None:
    import httpx

    for name in _names():
        httpx.request("DELETE", f"http://{pod}:11434/api/delete", json={"model": name}, timeout=30)


def _through(ns: str) -> dict[str, Any]:
    return {"service": DEPLOY, "namespace": ns, "kubeconfig": kubeconfig()}


def pull_module(ns: str) -> tuple[float, float]:
    """The module's pulls of the models: the processes' wall time, and the module's own clock (its process start left out)."""
    wall = synced = 0.0
    for name in _names():
        timed = run_module(MLOPS + "ollama_model", {"kubernetes": _through(ns), "name": name, "insecure": True})
        if not timed.result.get("changed"):
            raise RuntimeError(f"ollama_model did not pull {name} through the proxy: {timed.result.get('msg') or timed.result.get('reason')}")
        wall += timed.wall
        synced += float(timed.result["duration_s"])
    return wall, synced


def pull_cli(pod: str) -> float:
    return sum(run_timed([ollama_binary(), "pull", "--insecure", n], env=tool_env({"OLLAMA_HOST": f"{pod}:11434"})).wall for n in _names())


class ProbePair:
    """The generate probe of ollama_health through the proxy, and one raw request on an open client to the same proxy."""

    def __init__(self, ns: str) -> None:
        import httpx

        from ansible_collections.mlops.ollama.plugins.module_utils._ollama_connection import connection_settings

        self.options = _through(ns)
        self.settings = connection_settings(None, kubernetes=self.options)
        self.model = _names()[0]
        self.raw_client = httpx.Client(base_url=self.settings.url, headers=self.settings.headers, verify=self.settings.verify, timeout=60)
        self.body = {"model": self.model, "prompt": PROMPT, "stream": False, "options": {"temperature": 0, "num_predict": NUM_PREDICT}}

    def probe(self) -> float:
        from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import OllamaClient
        from ansible_collections.mlops.ollama.plugins.module_utils._ollama_health import PASSED, Check, HealthParams
        from ansible_collections.mlops.ollama.plugins.module_utils._ollama_health_checks import HealthChecker

        params = HealthParams(models=[self.model], probes=["generate"], prompt=PROMPT, num_predict=NUM_PREDICT)
        with OllamaClient(None, kubernetes=self.options) as client:  # type: ignore[arg-type]
            checker = HealthChecker(client, params)
            checker.check_api(Check("api"))
            checker.check_models(Check("models"))
            check = Check("inference")
            checker.check_inference(check)
        if check.outcome != PASSED:
            raise RuntimeError(f"the probe through the proxy did not pass: {check.message}")
        return float(check.details["results"][0]["probes"]["generate"]["latency_s"])

    def raw(self) -> float:
        start = time.perf_counter()
        reply = self.raw_client.post("/api/generate", json=self.body)
        reply.raise_for_status()
        return time.perf_counter() - start


def run(rounds: int) -> BenchResult:
    result = BenchResult(NAME)
    ours: list[float] = []
    ours_synced: list[float] = []
    cli: list[float] = []
    probes: list[float] = []
    raws: list[float] = []
    with namespace(NS):
        create_deployment(NS, DEPLOY, 1, real_node=True)
        _service(NS)
        pod = _pod_ip(NS)
        for r in range(rounds):
            for tool in (("module", "cli") if r % 2 == 0 else ("cli", "module")):
                _delete_all(pod)
                if tool == "module":
                    took, synced = pull_module(NS)
                    ours.append(took)
                    ours_synced.append(synced)
                else:
                    took = pull_cli(pod)
                    cli.append(took)
                log(f"proxy pull, round {r + 1}/{rounds} {tool}: {took:.3f} s")
        pair = ProbePair(NS)
        for _ in range(3):
            pair.raw()
            pair.probe()
        for i in range(rounds * PROBES_PER_ROUND):
            if i % 2:
                raws.append(pair.raw())
                probes.append(pair.probe())
            else:
                probes.append(pair.probe())
                raws.append(pair.raw())
        pair.raw_client.close()
    result.details.update(
        pull={"ollama_model_through_proxy_s": spread(ours), "ollama_model_own_clock_s": spread(ours_synced), "ollama_pull_cli_to_pod_s": spread(cli)},
        probe={"generate_probe_through_proxy_s": spread(probes), "raw_request_through_proxy_s": spread(raws)},
    )
    result.rows += [
        Row.make(
            NAME,
            "pull of the two tiny models: ollama_model through the Service's proxy",
            median(ours),
            baseline="ollama pull against the same pod",
            baseline_value=median(cli),
            max_ratio=1.10,
            note="one process per model on both sides; the models are small, so this is mostly process start and round trips",
        ),
        Row.make(
            NAME,
            "the same pulls by the module's own clock (its process start left out)",
            median(ours_synced),
            baseline="ollama pull against the same pod",
            baseline_value=median(cli),
            max_ratio=1.10,
            note="the proxy's and the module's requests (listing, pull stream, digest check); the CLI's wall time keeps its own start",
        ),
        Row.make(
            NAME,
            "ollama_health generate probe through the proxy (in-process)",
            median(probes),
            baseline="one raw httpx request through the same proxy",
            baseline_value=median(raws),
            max_ratio=1.10,
        ),
    ]
    return result
