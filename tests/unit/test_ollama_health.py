"""Unit tests of mlops.ollama's health probes: pure helpers, parameters, and the faults a real server will not produce.

Behaviour against a real server lives in tests/integration/test_ollama_health_bare_server.py; the
fake transports here cover only what a healthy local Ollama cannot be made to do: an error
line in an answer, a stream that never says done, a server answering 500.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_health as health
from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_health_checks as checks
from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_health_report as health_report
from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_names as names
from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_health_cli as cli
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import CONNECTION_ARGSPEC, OllamaClient

URL = "http://ollama.test:11434"
MODEL = "llama3.2:1b"

# --------------------------------------------------------------------------------------
# Pure helpers
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("llama3.2:1b", "llama3.2:1b"),
        ("llama3.2", "llama3.2:latest"),
        ("Llama3.2:1B", "llama3.2:1b"),
        ("library/llama3.2:1b", "llama3.2:1b"),
        ("registry.ollama.ai/library/llama3.2", "llama3.2:latest"),
        ("127.0.0.1:25000/mlops/tiny-a", "127.0.0.1:25000/mlops/tiny-a:latest"),
        ("127.0.0.1:25000/mlops/tiny-a:latest", "127.0.0.1:25000/mlops/tiny-a:latest"),
        ("127.0.0.1:25000/mlops/tiny-a:v2", "127.0.0.1:25000/mlops/tiny-a:v2"),
        ("someone/model", "someone/model:latest"),
    ],
)
def test_model_key(name: str, expected: str) -> None:
    assert names.model_key(name) == expected


TAGS = [
    {"name": "llama3.2:1b", "model": "llama3.2:1b", "size": 1321098329, "digest": "baf6a787"},
    {"name": "qwen2.5:latest", "model": "qwen2.5:latest", "size": 4683087332, "digest": "845dbda0"},
    {"name": "127.0.0.1:25000/mlops/tiny-a:latest", "model": "127.0.0.1:25000/mlops/tiny-a:latest", "size": 487424, "digest": "0a1b"},
]


@pytest.mark.parametrize(
    ("name", "digest"),
    [
        ("llama3.2:1b", "baf6a787"),
        ("llama3.2", None),  # no tag means :latest, which is not there
        ("llama3.2:3b", None),
        ("qwen2.5", "845dbda0"),
        ("qwen2.5:latest", "845dbda0"),
        ("127.0.0.1:25000/mlops/tiny-a", "0a1b"),
        ("127.0.0.1:25000/mlops/tiny-b", None),
    ],
)
def test_find_model(name: str, digest: str | None) -> None:
    entry = names.find_model(TAGS, name)
    assert (entry or {}).get("digest") == digest


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (1321098329, "1.3G"),  # the seed's "Model llama3.2:1b available (size: 1.3G)"
        (4683087332, "4.7G"),
        (487424, "487K"),
        (999, "999B"),
        (1000, "1.0K"),
        (9960000, "10M"),
        (12_500_000_000, "13G"),
        (None, "?"),
    ],
)
def test_human_size(size: int | None, text: str) -> None:
    assert health.human_size(size) == text


@pytest.mark.parametrize(("seconds", "text"), [(2.2, "2s"), (2.6, "3s"), (116.0, "116s"), (1.0, "1s"), (0.123, "0.12s"), (None, "?")])
def test_format_seconds(seconds: float | None, text: str) -> None:
    assert health.format_seconds(seconds) == text


@pytest.mark.parametrize("size", [1, 2, 3, 7, 20, 101])
@pytest.mark.parametrize("q", [50, 95, 99])
def test_percentile_matches_numpy_and_statistics(size: int, q: int) -> None:
    numpy = pytest.importorskip("numpy")
    values = [random.Random(size * 1000 + q).uniform(0.01, 5.0) for _i in range(size)]
    ours = health.percentile(values, q)
    assert ours == pytest.approx(float(numpy.percentile(values, q)))
    if size > 1:
        assert ours == pytest.approx(statistics.quantiles(values, n=100, method="inclusive")[q - 1])


def test_percentile_edges() -> None:
    assert health.percentile([], 50) is None
    assert health.percentile([3.0, 1.0, 2.0], 0) == 1.0
    assert health.percentile([3.0, 1.0, 2.0], 100) == 3.0
    assert health.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    with pytest.raises(ValueError, match="between 0 and 100"):
        health.percentile([1.0], 101)


@pytest.mark.parametrize(("count", "duration", "rate"), [(100, 2_000_000_000, 50.0), (0, 1, None), (5, 0, None), (None, 10, None)])
def test_tokens_per_second(count: Any, duration: Any, rate: float | None) -> None:
    assert health.tokens_per_second(count, duration) == rate


@pytest.mark.parametrize(
    ("capabilities", "kind"),
    [
        (["completion"], "completion"),
        (["completion", "tools", "vision"], "completion"),
        (["embedding"], "embedding"),  # e.g. nomic-embed-text: no generate, no chat
        (["embedding", "completion"], "completion"),
        ([], "completion"),
        (None, "completion"),  # a server too old to say
    ],
)
def test_probe_kind_from_capabilities(capabilities: Any, kind: str) -> None:
    assert health.probe_kind(capabilities) == kind


def test_status_codes_are_the_commands_exit_codes() -> None:
    assert health.STATUS_CODES == {"healthy": 0, "api_unreachable": 1, "model_missing": 2, "inference_failed": 3, "degraded": 4}


def _checks(**outcomes: str) -> dict[str, dict[str, Any]]:
    return {name: {"outcome": outcomes.get(name, health.PASSED)} for name in health.CHECK_ORDER}


@pytest.mark.parametrize(
    ("outcomes", "status", "deciding"),
    [
        ({}, "healthy", None),
        ({"load": health.SKIPPED, "performance": health.SKIPPED}, "healthy", None),
        ({"api": health.FAILED, "models": health.SKIPPED}, "api_unreachable", "api"),
        ({"models": health.FAILED, "inference": health.FAILED}, "model_missing", "models"),
        ({"inference": health.FAILED, "performance": health.WARNING}, "inference_failed", "inference"),
        ({"performance": health.WARNING}, "degraded", "performance"),
        ({"load": health.WARNING}, "degraded", "load"),
    ],
)
def test_status_is_the_first_check_that_did_not_pass(outcomes: dict[str, str], status: str, deciding: str | None) -> None:
    assert health.status_for(_checks(**outcomes)) == (status, deciding)


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


def test_argspec_defaults_match_the_parameters() -> None:
    defaults = health.HealthParams()
    for name, spec in health.HEALTH_ARGSPEC.items():
        if name in ("fail_on", "skip_inference_in_check_mode"):
            continue
        assert spec.get("default") == getattr(defaults, name), name
    assert not set(health.HEALTH_ARGSPEC) & set(CONNECTION_ARGSPEC)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"num_predict": 0}, "num_predict must be at least 1"),
        ({"max_latency_s": 0}, "max_latency_s must be a finite number of seconds greater than 0"),
        ({"max_latency_s": math.nan}, "max_latency_s must be a finite number of seconds greater than 0"),
        ({"max_latency_s": math.inf}, "max_latency_s must be a finite number of seconds greater than 0"),
        ({"stall_timeout_s": math.nan}, "timeout must be a finite number of seconds greater than 0"),
        ({"models": ["ok", "llama 3"]}, r"models\[1\] 'llama 3' is not a valid Ollama model name"),
        ({"inference_models": ["../x"]}, r"inference_models\[0\] '../x'"),
        ({"concurrency": -1}, "concurrency must be 0"),
        ({"concurrency": 2, "requests": 0}, "requests must be at least 1"),
        ({"concurrency": 2, "load_duration_s": 0}, "load_duration_s must be a finite number of seconds greater than 0"),
        ({"concurrency": 2, "load_duration_s": math.inf}, "load_duration_s must be a finite number of seconds greater than 0"),
        ({"load_max_failure_rate": math.nan}, "load_max_failure_rate is a fraction"),
        ({"load_max_failure_rate": 1.5}, "load_max_failure_rate is a fraction"),
        ({"min_tokens_per_s": -1}, "min_tokens_per_s must be a finite rate, 0 or more"),
        ({"min_tokens_per_s": math.nan}, "min_tokens_per_s must be a finite rate, 0 or more"),
        ({"prompt": ""}, "prompt must not be empty"),
        ({"inference_options": {"num_predict": 5}}, "use the num_predict option"),
    ],
)
def test_bad_parameters_are_named(changes: dict[str, Any], message: str) -> None:
    params = health.HealthParams(**changes)
    with pytest.raises(ValueError, match=message):
        params.validate()


def test_probe_models_and_expected_models() -> None:
    params = health.HealthParams(models=["a", "b:1"])
    assert params.probe_models == ["a"]
    assert params.expected_models == ["a", "b:1"]
    params = health.HealthParams(models=["a"], inference_models=["a:latest", "c"])
    assert params.probe_models == ["a:latest", "c"]
    assert params.expected_models == ["a", "c"]
    assert health.HealthParams().probe_models == []


def test_options_force_num_predict_and_default_temperature() -> None:
    params = health.HealthParams(num_predict=7, inference_options={"seed": 3, "temperature": 0.5})
    assert params.options == {"temperature": 0.5, "seed": 3, "num_predict": 7}


def test_check_mode_skips_inference_only_when_asked() -> None:
    base = {"timeout": 5, "skip_inference_in_check_mode": True}
    assert health.HealthParams.from_module_params(base, check_mode=True).skip_inference
    assert not health.HealthParams.from_module_params(base, check_mode=False).skip_inference
    assert not health.HealthParams.from_module_params({**base, "skip_inference_in_check_mode": False}, check_mode=True).skip_inference


# --------------------------------------------------------------------------------------
# Faults, through a fake transport
# --------------------------------------------------------------------------------------


class FakeOllama:
    """Just enough of Ollama's API to reach the inference probes; ``faults`` break parts of it."""

    def __init__(self, *, generate_stream: Callable[[], httpx.Response] | None = None, status_500: tuple[str, ...] = ()) -> None:
        self.generate_stream = generate_stream
        self.status_500 = status_500
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.seen.append(f"{request.method} {path}")
        if path in self.status_500 or "*" in self.status_500:
            return httpx.Response(500, json={"error": "llama runner process has terminated: signal: killed"})
        body = json.loads(request.content) if request.content else {}
        if path == "/":
            return httpx.Response(200, text="Ollama is running")
        if path == "/api/version":
            return httpx.Response(200, json={"version": "0.11.4"})
        if path == "/api/tags":
            return httpx.Response(
                200, json={"models": [{"name": MODEL, "model": MODEL, "size": 1321098329, "digest": "baf6a787", "modified_at": "2026-01-06T18:26:21Z"}]}
            )
        if path == "/api/show":
            return httpx.Response(200, json={"capabilities": ["completion"], "details": {"family": "llama"}})
        if path == "/api/generate" and body.get("stream") is not False:
            if self.generate_stream is not None:
                return self.generate_stream()
            return _ndjson(
                [
                    {"response": "Hi", "done": False},
                    {"response": "!", "done": False},
                    {"response": "", "done": True, "done_reason": "stop", "eval_count": 2, "eval_duration": 10_000_000},
                ]
            )
        if path == "/api/generate":
            return httpx.Response(200, json={"response": "Hi!", "done": True, "done_reason": "stop", "eval_count": 2, "eval_duration": 10_000_000})
        if path == "/api/chat":
            return httpx.Response(
                200,
                json={"message": {"role": "assistant", "content": "Hi!"}, "done": True, "done_reason": "stop", "eval_count": 2, "eval_duration": 10_000_000},
            )
        return httpx.Response(404, json={"error": f"no route {path}"})


def _ndjson(lines: list[dict[str, Any]]) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, content="".join(json.dumps(line) + "\n" for line in lines).encode())


def _client(fake: FakeOllama, **kwargs: Any) -> OllamaClient:
    return OllamaClient(URL, retries=0, retry_backoff=0.0, read_timeout=5.0, transport=httpx.MockTransport(fake), **kwargs)


def _run(fake: FakeOllama, **params: Any) -> health_report.HealthReport:
    params.setdefault("models", [MODEL])
    return checks.HealthChecker(_client(fake), health.HealthParams(**params), url=URL).run()


def test_fake_server_is_healthy_without_faults() -> None:
    """The baseline the fault tests break: the fake itself passes every check."""
    report = _run(FakeOllama())
    assert (report.status, report.status_code, report.failed_check) == ("healthy", 0, None)
    assert [report.checks[name]["outcome"] for name in health.CHECK_ORDER] == ["passed", "passed", "passed", "passed", "skipped"]


def test_error_line_in_the_answer_is_inference_failed() -> None:
    def error_stream() -> httpx.Response:
        return _ndjson([{"response": "Hi", "done": False}, {"error": "an error was encountered while running the model: unexpected EOF"}])

    report = _run(FakeOllama(generate_stream=error_stream))
    assert (report.status, report.status_code, report.failed_check) == ("inference_failed", 3, "inference")
    probes = report.checks["inference"]["results"][0]["probes"]
    assert probes["generate"]["outcome"] == "passed"
    assert probes["chat"]["outcome"] == "passed"
    assert probes["generate_stream"]["outcome"] == "failed"
    assert "unexpected EOF" in probes["generate_stream"]["error"]
    assert "generate_stream" in report.message and "unexpected EOF" in report.message


def test_stream_that_ends_without_done_is_inference_failed() -> None:
    def no_done() -> httpx.Response:
        return _ndjson([{"response": "Hi", "done": False}, {"response": " there", "done": False}])

    report = _run(FakeOllama(generate_stream=no_done))
    assert (report.status, report.status_code) == ("inference_failed", 3)
    record = report.checks["inference"]["results"][0]["probes"]["generate_stream"]
    assert record["outcome"] == "failed"
    assert record["chunks"] == 2
    assert "without done: true" in record["error"]


class _StallingStream(httpx.SyncByteStream):
    """Sends one chunk, then nothing: a runner that hung mid-answer."""

    def __init__(self, stall_s: float) -> None:
        self.stall_s = stall_s

    def __iter__(self) -> Iterator[bytes]:
        import time

        yield json.dumps({"response": "Hi", "done": False}).encode() + b"\n"
        time.sleep(self.stall_s)
        yield json.dumps({"response": "late", "done": False}).encode() + b"\n"


def test_stream_that_stalls_is_inference_failed() -> None:
    def stalls() -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, stream=_StallingStream(3.0))

    fake = FakeOllama(generate_stream=stalls)
    client = OllamaClient(URL, retries=0, retry_backoff=0.0, read_timeout=1.0, transport=httpx.MockTransport(fake))
    report = checks.HealthChecker(client, health.HealthParams(models=[MODEL], probes=["generate_stream"], stall_timeout_s=1.0), url=URL).run()
    assert (report.status, report.status_code) == ("inference_failed", 3)
    record = report.checks["inference"]["results"][0]["probes"]["generate_stream"]
    assert record["outcome"] == "failed"
    assert record["latency_s"] < 3.0


def test_500_on_generate_is_inference_failed() -> None:
    report = _run(FakeOllama(status_500=("/api/generate",)))
    assert (report.status, report.status_code, report.failed_check) == ("inference_failed", 3, "inference")
    probes = report.checks["inference"]["results"][0]["probes"]
    assert probes["generate"]["outcome"] == probes["generate_stream"]["outcome"] == "failed"
    assert probes["chat"]["outcome"] == "passed"
    assert "signal: killed" in probes["generate"]["error"]
    # The performance check measures what answered (chat), the load probe did not run.
    assert report.checks["performance"]["outcome"] == "passed"


def test_500_everywhere_is_api_unreachable_and_skips_the_rest() -> None:
    fake = FakeOllama(status_500=("*",))
    report = _run(fake)
    assert (report.status, report.status_code, report.failed_check) == ("api_unreachable", 1, "api")
    assert report.checks["api"]["outcome"] == "failed"
    assert "500" in report.checks["api"]["error"] or "signal: killed" in report.checks["api"]["error"]
    assert all(report.checks[name]["outcome"] == "skipped" for name in health.CHECK_ORDER[1:])
    assert not any(call.endswith("/api/generate") for call in fake.seen)


def test_500_under_load_is_degraded_with_failures_counted() -> None:
    """Inference answers once, then the server falls over: the load probe counts every failure."""
    answered = {"generate": 0}

    class Flaky(FakeOllama):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/api/generate" and b'"stream": false' in request.content.replace(b'"stream":false', b'"stream": false'):
                answered["generate"] += 1
                if answered["generate"] > 1:
                    return httpx.Response(500, json={"error": "server overloaded"})
            return super().__call__(request)

    fake = Flaky()
    params = health.HealthParams(models=[MODEL], probes=["generate"], concurrency=3, requests=9, load_duration_s=30)
    report = checks.HealthChecker(_client(fake), params, url=URL, load_client=_client(fake)).run()
    load = report.checks["load"]
    assert (report.status, report.status_code, report.failed_check) == ("degraded", 4, "load")
    assert load["issued"] == 9 and load["failures"] == 9 and load["completed"] == 0
    assert load["failure_rate"] == 1.0
    assert "server overloaded" in load["errors"][0]


def test_root_that_is_not_ollama_is_api_unreachable() -> None:
    class NotOllama(FakeOllama):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.url.path == "/":
                return httpx.Response(200, text="<html>Welcome to nginx!</html>")
            return super().__call__(request)

    report = _run(NotOllama())
    assert (report.status, report.status_code) == ("api_unreachable", 1)
    assert "Ollama is running" in report.checks["api"]["message"]


def test_summary_shape() -> None:
    report = _run(FakeOllama(), probes=["generate"])
    text = health_report.render_summary(report)
    assert text.startswith("======================================\n  Ollama Health Check\n======================================\n")
    assert f"  Endpoint: {URL}\n  Model: {MODEL}\n" in text
    assert f"[PASS] API endpoint accessible ({URL})\n" in text
    assert f"[PASS] Model {MODEL} available (size: 1.3G)\n" in text
    assert "[PASS] Inference successful (" in text
    assert "\nChecks passed: 4\nWarnings:      0\nChecks failed: 0\n\nOLLAMA HEALTH: OK\n" in text


# --------------------------------------------------------------------------------------
# The command line: the exit code of the one status a real server cannot be made to show
# --------------------------------------------------------------------------------------


def test_cli_exit_code_inference_failed(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeOllama(status_500=("/api/generate", "/api/chat"))
    code = cli.main(["--url", URL, "--model", MODEL, "--retries", "0"], transport=httpx.MockTransport(fake))
    out = capsys.readouterr().out
    assert code == 3
    assert "[FAIL] Inference failed (" in out
    assert out.rstrip().endswith("OLLAMA HEALTH: INFERENCE FAILED")
    assert "Checks failed: 3" in out


def test_cli_usage_error_is_not_a_health_code(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--internal", "--url", URL])
    assert exc.value.code == cli.EXIT_USAGE
    assert cli.main(["--url", URL, "--num-predict", "0"]) == cli.EXIT_USAGE
    assert "num_predict must be at least 1" in capsys.readouterr().err


def test_cli_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = cli.build_parser()
    monkeypatch.delenv("OLLAMA_EXTERNAL_URL", raising=False)
    monkeypatch.delenv("OLLAMA_INTERNAL_URL", raising=False)
    assert cli.cli_url(parser.parse_args(["--internal"])) == "http://ollama.ml.svc.cluster.local:11434"
    assert cli.cli_url(parser.parse_args(["--url", "http://x:1/"])) == "http://x:1"
    monkeypatch.setenv("OLLAMA_INTERNAL_URL", "http://ollama.other.svc:11434")
    assert cli.cli_url(parser.parse_args(["--internal"])) == "http://ollama.other.svc:11434"
    monkeypatch.setenv("OLLAMA_EXTERNAL_URL", "https://ollama.example.com/")
    assert cli.cli_url(parser.parse_args([])) == "https://ollama.example.com"
    assert cli.cli_url(parser.parse_args(["--external"])) == "https://ollama.example.com"


@pytest.mark.parametrize("argv", [[], ["--external"]], ids=["default", "external"])
def test_cli_external_needs_an_explicit_url(argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """No built-in external endpoint: without OLLAMA_EXTERNAL_URL the command says what to give, and sends nothing."""
    monkeypatch.delenv("OLLAMA_EXTERNAL_URL", raising=False)
    assert cli.main(argv, transport=httpx.MockTransport(lambda request: pytest.fail(f"unexpected request {request.url}"))) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "--url URL" in err and "--internal" in err and "OLLAMA_EXTERNAL_URL" in err


def test_cli_help_names_no_default_external_host(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert "OLLAMA_EXTERNAL_URL" in text and "https://" not in text


# --------------------------------------------------------------------------------------
# The module: argument handling (its behaviour against a server is in the live tests;
# the option checks every Ollama module shares are in test_ollama_module.py)
# --------------------------------------------------------------------------------------


def test_module_rejects_bad_parameters_by_name(run_module: Callable[..., dict[str, Any]]) -> None:
    result = run_module("ollama_health", {"url": URL, "models": [MODEL], "num_predict": 0})
    assert result["failed"] is True
    assert "num_predict must be at least 1" in result["msg"]


def test_module_fails_on_a_listed_status_and_warns_otherwise(run_module: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeOllama(status_500=("/api/generate", "/api/chat"))
    real = OllamaClient.from_module_params.__func__  # type: ignore[attr-defined]

    def factory(cls: type[OllamaClient], params: dict[str, Any], **overrides: Any) -> OllamaClient:
        return real(cls, params, transport=httpx.MockTransport(fake), **overrides)

    monkeypatch.setattr(OllamaClient, "from_module_params", classmethod(factory))
    # Recorded here: once another test has loaded Ansible's controller side, warnings go to its display, not the result.
    warned: list[str] = []
    monkeypatch.setattr(AnsibleModule, "warn", lambda self, message: warned.append(message))
    args = {"url": URL, "models": [MODEL], "retries": 0}
    failed = run_module("ollama_health", args)
    assert failed["failed"] is True and failed["status"] == "inference_failed" and failed["status_code"] == 3
    assert failed["msg"].startswith(f"Ollama health at {URL} is inference_failed (code 3)")
    passed = run_module("ollama_health", {**args, "fail_on": ["api_unreachable"]})
    assert passed.get("failed") is not True and passed["status"] == "inference_failed"
    assert len(warned) == 1 and warned[0].startswith(f"Ollama health at {URL} is inference_failed (code 3)")


def test_the_command_ships_every_file_it_imports() -> None:
    """scripts/ollama-health's SOURCES is the import closure of _ollama_health_cli (what a flat ConfigMap must hold)."""
    import ast
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    utils = repo / "plugins" / "module_utils"
    prefix = "ansible_collections.mlops.ollama.plugins.module_utils."
    needed: set[str] = set()
    todo = ["_ollama_health_cli.py"]
    while todo:
        name = todo.pop()
        needed.add(name)
        for node in ast.walk(ast.parse((utils / name).read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(prefix):
                target = node.module[len(prefix) :] + ".py"
                if target not in needed and not _only_for_typing(node, (utils / name).read_text()):
                    todo.append(target)
    script = ast.parse((repo / "scripts" / "ollama-health").read_text())
    sources = next(ast.literal_eval(n.value) for n in ast.walk(script) if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "SOURCES")
    assert set(sources) == needed and len(sources) == len(needed)


def _only_for_typing(node: Any, text: str) -> bool:
    """Imports under ``if TYPE_CHECKING:`` never run, so the command need not ship them."""
    import ast

    for block in ast.walk(ast.parse(text)):
        if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING":
            if any(isinstance(inner, ast.ImportFrom) and inner.module == node.module and inner.lineno == node.lineno for inner in ast.walk(block)):
                return True
    return False
