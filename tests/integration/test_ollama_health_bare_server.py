"""mlops.ollama.ollama_health and scripts/ollama-health against the local stack's real Ollama.

Every verdict here comes from a real server: healthy, a model missing, degraded (a threshold
set below a latency this test measured), unreachable (a closed port, a killed server), and a
load probe. Nothing is faked; the fault cases a real server will not produce are in
tests/unit/test_ollama_health.py.

A bare server on the host, not a pod: these are module tests, and killing the server is the unreachable case.
The roles and scenarios reach Ollama pods through their Service.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_health as health
from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_health_cli as cli

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "ollama-health"
MISSING = "127.0.0.1:25000/mlops/not-pushed-anywhere:latest"


Probe = Callable[..., dict[str, Any]]


@pytest.fixture
def probe(run_module: Callable[..., dict[str, Any]]) -> Probe:
    """Run ollama_health's real main() (conftest's run_module) without retries, with a generous timeout."""

    def call(args: dict[str, Any], *, check_mode: bool = False) -> dict[str, Any]:
        return run_module("ollama_health", {"retries": 0, "timeout": 60, **args}, check_mode=check_mode)

    return call


def closed_port() -> int:
    from localstack.procs import free_port

    return free_port()  # bound and released at once: nothing listens there


def warnings(result: dict[str, Any]) -> list[str]:
    """Warning texts (ansible-core 2.19 returns them as WarningSummary dicts)."""
    return [w["event"]["msg"] if isinstance(w, dict) else str(w) for w in result.get("warnings", [])]


def all_probes(result: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(r["model"], name, rec) for r in result["checks"]["inference"]["results"] for name, rec in r["probes"].items()]


# --------------------------------------------------------------------------------------
# The module
# --------------------------------------------------------------------------------------


def test_healthy(stack: Any, probe: Probe) -> None:
    result = probe({"url": stack.ollama_url, "models": stack.models, "inference_models": stack.models})

    assert result.get("failed") is not True, result.get("msg")
    assert (result["status"], result["status_code"], result["failed_check"]) == ("healthy", 0, None)
    assert result["changed"] is False
    checks = result["checks"]
    assert [checks[name]["outcome"] for name in health.CHECK_ORDER] == ["passed", "passed", "passed", "passed", "skipped"]

    # The version and the model list say what the server itself says.
    assert checks["api"]["version"] == httpx.get(f"{stack.ollama_url}/api/version").json()["version"] == result["version"]
    tags = {m["name"]: m for m in httpx.get(f"{stack.ollama_url}/api/tags").json()["models"]}
    assert [p["name"] for p in checks["models"]["present"]] == stack.models
    for present in checks["models"]["present"]:
        assert present["size"] == tags[present["tag"]]["size"] > 0
        assert present["digest"] == tags[present["tag"]]["digest"]
    assert checks["models"]["missing"] == []

    # Each model answered every probe, chose them from its capabilities, and reported its speed.
    probes = all_probes(result)
    assert sorted((m, name) for m, name, _record in probes) == sorted((m, p) for m in stack.models for p in health.PROBES)
    for model_result in checks["inference"]["results"]:
        assert "completion" in model_result["capabilities"]
    for _model, name, record in probes:
        assert record["outcome"] == "passed"
        assert record["done"] is True
        assert record["response_chars"] > 0
        assert 0 < record["eval_count"] <= 16
        assert record["tokens_per_s"] > 0
        assert 0 < record["latency_s"] < 30
        if name == "generate_stream":
            assert record["chunks"] >= 2
            assert 0 < record["ttft_s"] <= record["latency_s"]
    perf = checks["performance"]
    assert perf["latency_s"] == max(rec["latency_s"] for _model, _name, rec in probes)
    assert perf["ttft_s"] > 0 and perf["tokens_per_s"] > 0

    for name in ("GET /api/version", "GET /", "GET /api/tags", "POST /api/show", "POST /api/generate", "POST /api/chat"):
        assert any(name in call for call in result["api_calls"]), (name, result["api_calls"])
    assert result["summary"][-1] == "OLLAMA HEALTH: OK"
    assert f"[PASS] API endpoint accessible ({stack.ollama_url})" in result["summary"]


def test_model_missing(stack: Any, probe: Probe) -> None:
    args = {"url": stack.ollama_url, "models": [stack.models[0], MISSING]}
    result = probe(args)

    assert result["failed"] is True
    assert (result["status"], result["status_code"], result["failed_check"]) == ("model_missing", 2, "models")
    assert "'models'" in result["msg"] and MISSING in result["msg"]
    assert result["checks"]["models"]["missing"] == [MISSING]
    assert [p["name"] for p in result["checks"]["models"]["present"]] == [stack.models[0]]
    # The model that is there was still probed (it is the first declared).
    assert result["checks"]["inference"]["outcome"] == "passed"

    # Not in fail_on: the same verdict, as a warning.
    result = probe({**args, "fail_on": ["api_unreachable", "inference_failed"]})
    assert result.get("failed") is not True
    assert (result["status"], result["status_code"]) == ("model_missing", 2)
    assert any("model_missing" in w for w in warnings(result))


def test_inference_model_missing_is_reported_not_probed(stack: Any, probe: Probe) -> None:
    result = probe({"url": stack.ollama_url, "models": [], "inference_models": [MISSING]})
    assert (result["status"], result["status_code"]) == ("model_missing", 2)
    [only] = result["checks"]["inference"]["results"]
    assert only["skipped"] == "model not available" and only["probes"] == {}
    assert not any("/api/generate" in call for call in result["api_calls"])


def test_degraded_below_a_measured_latency(stack: Any, probe: Probe) -> None:
    args = {"url": stack.ollama_url, "models": stack.models[:1]}
    probe(args)  # warm: the first inference may include loading the model
    measured = probe(args)
    assert measured["status"] == "healthy", measured["message"]
    fastest = min(rec["latency_s"] for _model, _name, rec in all_probes(measured))
    threshold = fastest / 2  # below every latency just measured
    assert threshold > 0

    result = probe({**args, "max_latency_s": threshold})
    assert result["failed"] is True
    assert (result["status"], result["status_code"], result["failed_check"]) == ("degraded", 4, "performance")
    assert "'performance'" in result["msg"] and "max_latency_s" in result["msg"]
    perf = result["checks"]["performance"]
    assert perf["outcome"] == "warning" and perf["latency_s"] > threshold == perf["max_latency_s"]
    assert result["checks"]["inference"]["outcome"] == "passed"

    # The example: degraded passes with a warning when fail_on leaves it out.
    result = probe({**args, "max_latency_s": threshold, "fail_on": ["api_unreachable", "model_missing", "inference_failed"]})
    assert result.get("failed") is not True
    assert (result["status"], result["status_code"]) == ("degraded", 4)
    assert any("degraded" in w for w in warnings(result))
    assert result["summary"][-1] == "OLLAMA HEALTH: DEGRADED"


def test_unreachable_closed_port(probe: Probe) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    result = probe({"url": url, "models": ["llama3.2:1b"], "connect_timeout": 5})
    assert result["failed"] is True
    assert (result["status"], result["status_code"], result["failed_check"]) == ("api_unreachable", 1, "api")
    assert "'api'" in result["msg"] and url in result["msg"]
    assert all(result["checks"][name]["outcome"] == "skipped" for name in health.CHECK_ORDER[1:])


def test_fresh_server_then_killed(ollama_factory: Callable[[], Any], stack: Any, probe: Probe) -> None:
    server = ollama_factory()  # a real server with an empty models directory
    result = probe({"url": server.url, "models": stack.models})
    assert (result["status"], result["status_code"]) == ("model_missing", 2)
    assert result["checks"]["api"]["outcome"] == "passed"
    assert result["checks"]["models"]["missing"] == stack.models

    server.kill()
    result = probe({"url": server.url, "models": stack.models})
    assert (result["status"], result["status_code"]) == ("api_unreachable", 1)


def test_load_probe_concurrency_4(stack: Any, probe: Probe) -> None:
    result = probe({"url": stack.ollama_url, "models": stack.models[:1], "probes": ["generate"], "concurrency": 4, "requests": 16, "load_duration_s": 120})
    assert result.get("failed") is not True, result.get("msg")
    assert (result["status"], result["status_code"]) == ("healthy", 0)
    load = result["checks"]["load"]
    assert load["outcome"] == "passed"
    assert (load["issued"], load["completed"], load["failures"], load["failure_rate"]) == (16, 16, 0, 0.0)
    assert load["stopped_by"] == "requests"
    assert 0 < load["p50_s"] <= load["p95_s"] <= load["p99_s"] <= load["max_s"]
    assert load["requests_per_s"] > 0
    assert load["wall_s"] >= load["max_s"]
    assert any(line.startswith("[PASS] Load probe OK (16/16 requests at concurrency 4") for line in result["summary"])


def test_load_probe_stops_at_the_time_limit(stack: Any, probe: Probe) -> None:
    result = probe({"url": stack.ollama_url, "models": stack.models[:1], "probes": ["generate"], "concurrency": 2, "requests": 100000, "load_duration_s": 1.5})
    load = result["checks"]["load"]
    assert load["stopped_by"] == "time"
    assert 0 < load["issued"] < 100000 and load["failures"] == 0
    assert load["wall_s"] >= 1.5


def test_check_mode(stack: Any, probe: Probe) -> None:
    args = {"url": stack.ollama_url, "models": stack.models[:1], "concurrency": 2, "requests": 2}
    result = probe({**args, "skip_inference_in_check_mode": True}, check_mode=True)
    assert (result["status"], result["changed"]) == ("healthy", False)
    assert result["checks"]["models"]["outcome"] == "passed"
    assert result["checks"]["inference"]["outcome"] == result["checks"]["load"]["outcome"] == "skipped"
    assert "check mode" in result["checks"]["inference"]["message"]
    assert not any("/api/generate" in c or "/api/chat" in c for c in result["api_calls"])

    # Without the switch, check mode runs the (read-only) inference too.
    result = probe(args, check_mode=True)
    assert result["checks"]["inference"]["outcome"] == "passed"
    assert result["checks"]["load"]["completed"] == 2
    assert result["changed"] is False


# --------------------------------------------------------------------------------------
# The command line, as a CronJob runs it: the wrapper script, in a Python without Ansible
# --------------------------------------------------------------------------------------

# Run the wrapper with `import ansible` made impossible, so the test proves python3 + httpx suffice.
NO_ANSIBLE = "import runpy, sys; sys.modules['ansible'] = None; script = sys.argv.pop(1); sys.argv[0] = script; runpy.run_path(script, run_name='__main__')"


def run_cli(script: Path, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ANSIBLE_COLLECTIONS_PATH")}
    return subprocess.run(
        [sys.executable, "-c", NO_ANSIBLE, str(script), *argv], capture_output=True, text=True, timeout=300, env={**clean_env, **(env or {})}, check=False
    )


def test_cli_exit_codes(stack: Any) -> None:
    url, model = stack.ollama_url, stack.models[0]

    ok = run_cli(SCRIPT, "--url", url, "--model", model)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("======================================\n  Ollama Health Check\n")
    assert f"  Endpoint: {url}\n  Model: {model}\n" in ok.stdout
    assert f"[PASS] API endpoint accessible ({url})\n" in ok.stdout
    assert f"[PASS] Model {model} available (size: " in ok.stdout
    assert "[PASS] Inference successful (" in ok.stdout
    assert "Warnings:      0\nChecks failed: 0\n\nOLLAMA HEALTH: OK\n" in ok.stdout

    missing = run_cli(SCRIPT, "--url", url, "--model", MISSING)
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert f"[FAIL] Model {MISSING} not available" in missing.stdout
    assert missing.stdout.rstrip().endswith("OLLAMA HEALTH: MODEL MISSING")

    as_json = json.loads(run_cli(SCRIPT, "--url", url, "--model", model, "--json").stdout)
    fastest = min(rec["latency_s"] for r in as_json["checks"]["inference"]["results"] for rec in r["probes"].values())
    slow = run_cli(SCRIPT, "--url", url, "--model", model, "--max-latency", str(fastest / 2))
    assert slow.returncode == 4, slow.stdout + slow.stderr
    assert "[WARN] Performance degraded (" in slow.stdout and "Warnings:      1\n" in slow.stdout
    assert slow.stdout.rstrip().endswith("OLLAMA HEALTH: DEGRADED")

    down = run_cli(SCRIPT, "--url", f"http://127.0.0.1:{closed_port()}", "--retries", "0")
    assert down.returncode == 1, down.stdout + down.stderr
    assert down.stdout.rstrip().endswith("OLLAMA HEALTH: API UNREACHABLE")

    # --internal is the in-cluster Service; point it here the way a CronJob's env would.
    internal = run_cli(SCRIPT, "--internal", "--model", model, env={"OLLAMA_INTERNAL_URL": url})
    assert internal.returncode == 0, internal.stdout + internal.stderr
    assert f"  Endpoint: {url}\n" in internal.stdout

    usage = run_cli(SCRIPT, "--internal", "--url", url)
    assert usage.returncode == cli.EXIT_USAGE


def test_cli_flat_layout_as_a_configmap_mount(stack: Any, tmp_path: Path) -> None:
    """A CronJob mounts the wrapper and the module_utils files it names flat, from one ConfigMap."""
    import ast

    script = ast.parse(SCRIPT.read_text())
    sources = next(ast.literal_eval(n.value) for n in ast.walk(script) if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "SOURCES")
    for source in (SCRIPT, *(REPO / "plugins/module_utils" / name for name in sources)):
        shutil.copy(source, tmp_path / source.name)
    done = run_cli(tmp_path / "ollama-health", "--url", stack.ollama_url, "--model", stack.models[0], "--concurrency", "2", "--requests", "4")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[PASS] Load probe OK (4/4 requests at concurrency 2" in done.stdout
