"""5. Probe overhead: ollama_health's inference check vs one raw httpx request with the same prompt and num_predict.

In-process (the question the target asks): the module's HealthChecker, after its API and model
checks have run as they do in the module, times check_inference with the one probe `generate`;
the baseline is one POST /api/generate on an already-open httpx.Client. Both alternate, after a
warm-up that loads the model. As processes (for scale, no target): the whole ollama_health module
vs a python -c script that imports httpx and sends the same request.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .common import MLOPS, PYTHON, BenchResult, ExtraOllama, Row, extra_ollama, log, median, run_module, run_timed, spread, stack_env

T = TypeVar("T")
NAME = "probe"
MODEL = "mlops/tiny-a:latest"
PROMPT = "Hello"
NUM_PREDICT = 16
WARMUP = 3
IN_PROCESS_PER_ROUND = 10

RAW_SCRIPT = """
import httpx, json, sys
r = httpx.post(sys.argv[1] + "/api/generate", json=json.loads(sys.argv[2]), timeout=60)
r.raise_for_status()
assert r.json()["done"] is True
"""


def _body(model: str) -> dict[str, Any]:
    # The module's probe options: temperature 0 unless set, and num_predict.
    return {"model": model, "prompt": PROMPT, "stream": False, "options": {"temperature": 0, "num_predict": NUM_PREDICT}}


def _seed(server: ExtraOllama, model: str) -> None:
    import httpx

    resp = httpx.post(server.url + "/api/pull", json={"model": model, "insecure": True, "stream": False}, timeout=120)
    resp.raise_for_status()


class InProcess:
    """Both sides in this process, each with a connection already open, as the module's client is after its first checks."""

    def __init__(self, url: str, model: str) -> None:
        import httpx

        from ansible_collections.mlops.ollama.plugins.module_utils._ollama_health import HealthParams

        self.url, self.model = url, model
        self.params = HealthParams(models=[model], probes=["generate"], prompt=PROMPT, num_predict=NUM_PREDICT)
        self.raw_client = httpx.Client(base_url=url, timeout=60)
        self.raw_client.get("/api/version").raise_for_status()

    def check(self) -> tuple[float, float]:
        """(inference check, its generate probe alone) in seconds."""
        from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import OllamaClient
        from ansible_collections.mlops.ollama.plugins.module_utils._ollama_health import PASSED, Check
        from ansible_collections.mlops.ollama.plugins.module_utils._ollama_health_checks import HealthChecker

        with OllamaClient(self.url) as client:
            checker = HealthChecker(client, self.params)
            checker.check_api(Check("api"))
            checker.check_models(Check("models"))
            check = Check("inference")
            start = time.perf_counter()
            checker.check_inference(check)
            took = time.perf_counter() - start
        if check.outcome != PASSED:
            raise RuntimeError(f"the inference check did not pass: {check.message}")
        return took, check.details["results"][0]["probes"]["generate"]["latency_s"]

    def raw(self) -> float:
        start = time.perf_counter()
        resp = self.raw_client.post("/api/generate", json=_body(self.model))
        resp.raise_for_status()
        if resp.json().get("done") is not True:
            raise RuntimeError(f"the raw request did not end with done: {resp.text[:200]}")
        return time.perf_counter() - start

    def close(self) -> None:
        self.raw_client.close()


def _quiet(call: Callable[[], T]) -> T:
    """Run ``call`` with the garbage collector off, as timeit does: a collection of this process's
    many objects (the Kubernetes client is imported) would land in whichever side happens to allocate."""
    gc.collect()
    gc.disable()
    try:
        return call()
    finally:
        gc.enable()


def run(rounds: int) -> BenchResult:
    import json

    result = BenchResult(NAME)
    model = f"{stack_env()['MLOPS_REGISTRY']}/{MODEL}"
    checks: list[float] = []
    probes: list[float] = []
    raws: list[float] = []
    proc_module: list[float] = []
    proc_raw: list[float] = []
    with extra_ollama("bench-probe") as server:
        _seed(server, model)
        bench = InProcess(server.url, model)
        try:
            for _ in range(WARMUP):
                bench.raw()
                bench.check()
            for i in range(rounds * IN_PROCESS_PER_ROUND):
                if i % 2:
                    raws.append(_quiet(bench.raw))
                    check, probe = _quiet(bench.check)
                else:
                    check, probe = _quiet(bench.check)
                    raws.append(_quiet(bench.raw))
                checks.append(check)
                probes.append(probe)
        finally:
            bench.close()
        args = {"url": server.url, "models": [model], "probes": ["generate"], "prompt": PROMPT, "num_predict": NUM_PREDICT}
        for _ in range(rounds):
            proc_module.append(run_module(MLOPS + "ollama_health", args).wall)
            proc_raw.append(run_timed([PYTHON, "-c", RAW_SCRIPT, server.url, json.dumps(_body(model))]).wall)
    # Check and probe are timed in the same call, so their difference is free of the noise between calls.
    diffs = [c - p for c, p in zip(checks, probes, strict=True)]
    log(f"probe: inference check {median(checks) * 1000:.1f} ms, generate probe {median(probes) * 1000:.1f} ms, raw {median(raws) * 1000:.1f} ms")
    result.details.update(
        in_process={
            "inference_check_s": spread(checks),
            "generate_probe_s": spread(probes),
            "raw_httpx_s": spread(raws),
            "check_minus_probe_s": spread(diffs),
        },
        processes={"ollama_health_module_s": spread(proc_module), "python_httpx_script_s": spread(proc_raw)},
    )
    base = median(raws)
    result.rows += [
        Row.make(
            NAME,
            "ollama_health inference check (in-process, probe generate)",
            median(checks),
            baseline="one raw httpx request",
            baseline_value=base,
            max_ratio=1.10,
            note=f"median of the per-pair ratios {median([c / r for c, r in zip(checks, raws, strict=True)]):.2f}x; "
            "the generation time varies with the machine's load, which moves this ratio more than the check does",
        ),
        Row.make(NAME, "  its generate probe alone (in-process)", median(probes), baseline="one raw httpx request", baseline_value=base, max_ratio=1.10),
        Row.make(
            NAME,
            "  the check's own overhead: check minus its probe, per call",
            median(diffs),
            baseline="one raw httpx request",
            baseline_value=base,
            max_ratio=0.10,
            note="the same target without the noise between separate calls: the check is <= 1.10x the raw request when this is <= 0.10x",
        ),
        Row.make(
            NAME,
            "ollama_health module as a process (all checks)",
            median(proc_module),
            baseline="python -c httpx request",
            baseline_value=median(proc_raw),
            note="interpreter, Ansible and the api/models checks included; for scale only",
        ),
    ]
    return result
