"""The one runner of the Ollama modules (_ollama_module): argument specs, checks before any request, errors in one place.

Every module goes through ``run_ollama_module``, so every bad option must fail naming itself
with no client made and no request sent, whichever module it is given to.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_module
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import CONNECTION_ARGSPEC, OllamaClient
from ansible_collections.mlops.ollama.plugins.modules import ollama_health, ollama_model, ollama_model_info, ollama_models

URL = "http://ollama.test:11434"
MODULES = ("ollama_model", "ollama_models", "ollama_model_info", "ollama_health")
# The least each module needs besides what a test adds.
BASE: dict[str, dict[str, Any]] = {
    "ollama_model": {"name": "llama3.2"},
    "ollama_models": {"models": ["llama3.2"]},
    "ollama_model_info": {},
    "ollama_health": {"models": ["llama3.2"]},
}
Runner = Callable[..., dict[str, Any]]


class NoRequests:
    """Counts the clients the modules create (through the real factory and its checks); any request fails the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.clients = 0
        real = OllamaClient.from_module_params.__func__  # type: ignore[attr-defined]

        def factory(cls: type[OllamaClient], params: dict[str, Any], **overrides: Any) -> OllamaClient:
            self.clients += 1
            return real(cls, params, transport=httpx.MockTransport(self.refuse), **overrides)

        monkeypatch.setattr(OllamaClient, "from_module_params", classmethod(factory))

    @staticmethod
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected request {request.method} {request.url.path}")


@pytest.fixture
def no_requests(monkeypatch: pytest.MonkeyPatch) -> NoRequests:
    return NoRequests(monkeypatch)


def run_with(run_module: Runner, which: str, args: dict[str, Any]) -> dict[str, Any]:
    return run_module(which, {"url": URL, "retries": 0, "retry_backoff": 0, **BASE[which], **args})


# --------------------------------------------------------------------------------------
# Bad input: a clear message naming the option, no client, no request
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", MODULES)
@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"timeout": -1}, "timeout=-1.0 is not a duration"),
        ({"timeout": 0}, "timeout=0.0 is not a duration"),
        ({"timeout": math.nan}, "timeout=nan is not a duration"),
        ({"timeout": math.inf}, "timeout=inf is not a duration"),
        ({"connect_timeout": -3}, "connect_timeout=-3.0 is not a duration"),
        ({"connect_timeout": math.nan}, "connect_timeout=nan is not a duration"),
        ({"retry_backoff": math.inf}, "retry_backoff=inf is not a duration"),
        ({"retries": -1}, "retries=-1 is not a number of retries"),
        ({"url": "127.0.0.1:11434"}, "url must be an http:// or https:// URL"),
    ],
)
def test_bad_connection_options_fail_before_any_client(which: str, args: dict[str, Any], words: str, run_module: Runner, no_requests: NoRequests) -> None:
    result = run_with(run_module, which, args)
    assert result["failed"] is True and result["changed"] is False
    assert words in result["msg"], result["msg"]
    assert no_requests.clients == 0


@pytest.mark.parametrize(
    ("which", "args", "words"),
    [
        ("ollama_model", {"stall_timeout": -5}, "stall_timeout=-5.0 is not a duration"),
        ("ollama_model", {"stall_timeout": math.nan}, "stall_timeout=nan is not a duration"),
        ("ollama_models", {"stall_timeout": math.inf}, "stall_timeout=inf is not a duration"),
        ("ollama_model", {"progress_interval": 0}, "progress_interval=0.0 is not a duration"),
        ("ollama_model", {"progress_interval": 30}, "at most 10"),
        ("ollama_models", {"progress_interval": math.nan}, "progress_interval=nan is not a duration"),
        ("ollama_model", {"progress_file": "/nonexistent-dir-for-test/p.json"}, "does not exist"),
        ("ollama_model", {"digest": "not-a-digest"}, "digest 'not-a-digest' is not a manifest digest"),
        ("ollama_model", {"state": "absent", "digest": "a" * 64}, "not absent"),
        ("ollama_models", {"models": ["llama3.2", {"name": "../x"}]}, "models[1].name '../x'"),
        ("ollama_models", {"models": ["llama3.2", {"state": "present"}]}, "models[1].name is required"),
        ("ollama_models", {"models": [{"name": None}]}, "models[0].name is required"),
        ("ollama_models", {"models": [], "prune": True}, "would delete every model"),
        ("ollama_model_info", {"models": ["ok", " spaced "]}, "models[1]"),
        ("ollama_model_info", {"query": "[?size >"}, "not a valid JMESPath expression"),
        ("ollama_health", {"models": ["ok", "llama 3"]}, "models[1] 'llama 3' is not a valid Ollama model name"),
        ("ollama_health", {"max_latency_s": math.nan}, "max_latency_s must be a finite number of seconds"),
        ("ollama_health", {"concurrency": 2, "load_duration_s": math.inf}, "load_duration_s must be a finite number of seconds"),
        ("ollama_health", {"num_predict": 0}, "num_predict must be at least 1"),
    ],
)
def test_bad_module_options_fail_before_any_client(which: str, args: dict[str, Any], words: str, run_module: Runner, no_requests: NoRequests) -> None:
    result = run_with(run_module, which, args)
    assert result["failed"] is True and result["changed"] is False
    assert words in result["msg"], result["msg"]
    assert no_requests.clients == 0


@pytest.mark.parametrize("name", ["../x", "", "llama 3", "x" * 300, "http://reg/ns/m", "reg.example.com/model"])
def test_invalid_name_fails_before_any_client(name: str, run_module: Runner, no_requests: NoRequests) -> None:
    result = run_with(run_module, "ollama_model", {"name": name})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("name ") and "is not a valid Ollama model name" in result["msg"]
    assert no_requests.clients == 0


def test_progress_file_that_is_a_directory_is_rejected(tmp_path: Path, run_module: Runner, no_requests: NoRequests) -> None:
    result = run_with(run_module, "ollama_model", {"progress_file": str(tmp_path)})
    assert result["failed"] and "is a directory" in result["msg"] and no_requests.clients == 0


def test_unknown_fail_on_is_refused_by_ansible(run_module: Runner, no_requests: NoRequests) -> None:
    result = run_with(run_module, "ollama_health", {"fail_on": ["sad"]})
    assert result["failed"] is True and "fail_on" in result["msg"]


# --------------------------------------------------------------------------------------
# Errors that are not the user's: one clean failure, traceback kept
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", MODULES)
def test_an_unexpected_error_is_a_clean_failure_with_its_traceback(which: str, run_module: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(cls: type[OllamaClient], params: dict[str, Any], **overrides: Any) -> OllamaClient:
        raise RuntimeError("the factory broke")

    from ansible.module_utils._internal import _traceback

    # What ansible-playbook -vvv (or ANSIBLE_DISPLAY_TRACEBACK=error) turns on: the traceback in the result.
    monkeypatch.setattr(_traceback, "_is_traceback_enabled", lambda event: True)
    monkeypatch.setattr(OllamaClient, "from_module_params", classmethod(broken))
    result = run_with(run_module, which, {})
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == "An unexpected error occurred: RuntimeError: the factory broke"
    assert "Traceback (most recent call last)" in result["exception"] and "the factory broke" in result["exception"]


def test_argument_spec_copies_the_connection_options() -> None:
    spec = _ollama_module.argument_spec({"name": {"type": "str"}})
    assert set(spec) == set(CONNECTION_ARGSPEC) | {"name"}
    spec["timeout"]["default"] = "changed"
    assert CONNECTION_ARGSPEC["timeout"]["default"] != "changed"


def test_unreachable_url_fails_within_timeout_with_a_clear_message(run_module: Runner) -> None:
    """A real closed port, through the module's real client factory."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    result = run_module("ollama_model", {"url": url, "name": "llama3.2", "timeout": 3, "retries": 5, "retry_backoff": 0.5})
    elapsed = time.monotonic() - start
    assert elapsed < 3.5
    assert result["failed"] and result["changed"] is False
    assert url in result["msg"] and "could not connect" in result["msg"] and "check url" in result["msg"]
    assert result["error"]["type"] == "OllamaUnreachable" and result["error"]["endpoint"] == url


def test_modules_import_and_expose_main() -> None:
    for module in (ollama_model, ollama_models, ollama_model_info, ollama_health):
        assert callable(module.main) and "short_description" in module.DOCUMENTATION


@pytest.mark.parametrize("name", MODULES)
def test_ansible_doc_renders_with_examples(name: str) -> None:
    """``ansible-doc`` parses the documentation with its doc fragments and shows the examples."""
    import os
    import shutil
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    ansible_doc = shutil.which("ansible-doc", path=str(Path(sys.executable).parent)) or "ansible-doc"
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(repo / "build"), "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run([ansible_doc, "-t", "module", f"mlops.ollama.{name}"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "[ERROR]" not in proc.stderr and "[WARNING]" not in proc.stderr, proc.stderr
    out = proc.stdout
    assert f"mlops.ollama.{name}" in out and "EXAMPLES:" in out and "RETURN VALUES:" in out
    if name == "ollama_model":
        assert "progress_file" in out and "async_status" in out
    if name == "ollama_models":
        assert "prune_all" in out
    as_json = subprocess.run([ansible_doc, "--json", "-t", "module", f"mlops.ollama.{name}"], env=env, capture_output=True, text=True, timeout=120, check=False)
    doc = json.loads(as_json.stdout)[f"mlops.ollama.{name}"]["doc"]
    assert set(CONNECTION_ARGSPEC) <= set(doc["options"])  # the ollama_connection fragment
    assert doc["options"]["api_token"]["type"] == "str" and doc["attributes"]["check_mode"]["support"] == "full"


class Answers:
    """A fake Ollama answering every request with one JSON body (or a status), recording nothing else."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, status: int, body: dict[str, Any]) -> None:
        real = OllamaClient.from_module_params.__func__  # type: ignore[attr-defined]

        def answer(_request: httpx.Request) -> httpx.Response:
            return httpx.Response(status, json=body)

        def factory(cls: type[OllamaClient], params: dict[str, Any], **overrides: Any) -> OllamaClient:
            return real(cls, params, transport=httpx.MockTransport(answer), **overrides)

        monkeypatch.setattr(OllamaClient, "from_module_params", classmethod(factory))


@pytest.mark.parametrize("status", [200, 500])
def test_a_token_over_plain_http_warns_whether_the_module_succeeds_or_fails(status: int, run_module: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    Answers(monkeypatch, status, {"models": []} if status == 200 else {"error": "boom"})
    shown = WarningsShown(monkeypatch)
    result = run_with(run_module, "ollama_model_info", {"gather": ["models"], "api_token": "s3cret"})
    assert bool(result.get("failed")) is (status != 200)
    warnings = " ".join(shown.texts)
    assert "http://" in warnings and "https://" in warnings, result
    assert "s3cret" not in json.dumps(result)


def test_no_warning_over_https(run_module: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    Answers(monkeypatch, 200, {"models": []})
    shown = WarningsShown(monkeypatch)
    result = run_with(run_module, "ollama_model_info", {"url": "https://ollama.test", "gather": ["models"], "api_token": "s3cret"})
    assert not result.get("failed") and not shown.texts, (result, shown.texts)


class WarningsShown:
    """What the module passed to ``AnsibleModule.warn`` (how Ansible collects warnings in-process depends on what else is loaded)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from ansible.module_utils.basic import AnsibleModule

        self.texts: list[str] = []
        real = AnsibleModule.warn

        def warn(module: AnsibleModule, text: str, *args: Any, **kwargs: Any) -> None:
            self.texts.append(text)
            real(module, text, *args, **kwargs)

        monkeypatch.setattr(AnsibleModule, "warn", warn)
