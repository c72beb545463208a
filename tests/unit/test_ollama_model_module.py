"""mlops.ollama.ollama_model / ollama_models / ollama_model_info as Ansible runs them, for bad input and faults.

Bad input must fail with a message naming the parameter before any request. Faults a real
server cannot produce on demand (a stall, a reset, a malformed line, 401, the registry's 404,
an error line mid-stream) come from a fake transport; every behaviour a real server can show
is tested against one in tests/integration/test_ollama_models_live.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.testing import patch_module_args

from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_models as om
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import CONNECTION_ARGSPEC, OllamaClient
from ansible_collections.mlops.ollama.plugins.modules import ollama_model, ollama_model_info, ollama_models

URL = "http://ollama.test:11434"
NAME = "127.0.0.1:25000/mlops/tiny-a:latest"
LAYER = "sha256:56ae60ae607b15785b146f3428af44f8107f6959dad107f6c42bc317ce751f4e"
CONFIG = "sha256:10507be4250500721a173d17d432f84a45a5c6cbe489739187d49d413094a4c7"
MANIFEST = "103b7bf2e96b22cd9ab5d025951fbb0ce3fd87f4d82e4d85d714ab637be51d72"

RUNNERS: dict[str, tuple[dict[str, Any], Callable[..., None]]] = {
    "ollama_model": (om.MODEL_ARGSPEC, om.run_model_module),
    "ollama_models": (om.MODELS_ARGSPEC, om.run_models_module),
    "ollama_model_info": (om.INFO_ARGSPEC, om.run_info_module),
}


def run(
    which: str, args: dict[str, Any], capsys: pytest.CaptureFixture[str], factory: Callable[[dict[str, Any]], OllamaClient] | None = None
) -> dict[str, Any]:
    """Run a module the way Ansible does (arguments through patch_module_args), with an optional client factory."""
    spec, runner = RUNNERS[which]
    args = {"url": URL, "retries": 0, "retry_backoff": 0, **args}
    with patch_module_args(args), pytest.raises(SystemExit):
        module = AnsibleModule(argument_spec=om.argument_spec(spec), supports_check_mode=True)
        runner(module, factory)
    return json.loads(capsys.readouterr().out)


def _refuse(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"unexpected request {request.method} {request.url.path}")


class NoRequests:
    """The production factory (its validation included) with a transport that fails the test on any request."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, params: dict[str, Any]) -> OllamaClient:
        self.calls += 1
        return OllamaClient.from_module_params(params, transport=httpx.MockTransport(_refuse))


# --------------------------------------------------------------------------------------
# Bad input: a clear message, no request
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "", "llama 3", "x" * 300, "http://reg/ns/m", "reg.example.com/model"])
def test_invalid_name_fails_before_any_request(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    factory = NoRequests()
    result = run("ollama_model", {"name": name}, capsys, factory)
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"].startswith("name ") and "is not a valid Ollama model name" in result["msg"]
    assert factory.calls == 0


def test_invalid_names_in_a_set_and_in_info_fail_before_any_request(capsys: pytest.CaptureFixture[str]) -> None:
    factory = NoRequests()
    result = run("ollama_models", {"models": ["llama3.2", {"name": "../x"}]}, capsys, factory)
    assert result["failed"] and "models[1].name '../x'" in result["msg"]
    result = run("ollama_model_info", {"models": ["ok", " spaced "]}, capsys, factory)
    assert result["failed"] and "models[1]" in result["msg"]
    assert factory.calls == 0


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"timeout": -1}, "timeout must be a number of seconds greater than 0"),
        ({"timeout": 0}, "timeout must be"),
        ({"connect_timeout": -3}, "connect_timeout must be"),
        ({"retries": -1}, "retries must be 0 or more"),
        ({"stall_timeout": -5}, "stall_timeout must be"),
        ({"progress_interval": 0}, "progress_interval must be more than 0 and at most 10"),
        ({"progress_interval": 30}, "progress_interval must be more than 0 and at most 10"),
        ({"progress_file": "/nonexistent-dir-for-test/p.json"}, "does not exist"),
        ({"url": "127.0.0.1:11434"}, "url must be an http:// or https:// URL"),
        ({"digest": "not-a-digest"}, "digest 'not-a-digest' is not a manifest digest"),
        ({"state": "absent", "digest": "a" * 64}, "not absent"),
    ],
)
def test_bad_options_fail_before_any_request(args: dict[str, Any], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    result = run("ollama_model", {"name": "llama3.2", **args}, capsys, NoRequests())
    assert result["failed"] is True and result["changed"] is False
    assert words in result["msg"], result["msg"]


def test_progress_file_that_is_a_directory_is_rejected(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = run("ollama_model", {"name": "llama3.2", "progress_file": str(tmp_path)}, capsys, NoRequests())
    assert result["failed"] and "is a directory" in result["msg"]


def test_unreachable_url_fails_within_timeout_with_a_clear_message(capsys: pytest.CaptureFixture[str]) -> None:
    """A real closed port, through the module's real client factory."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    start = time.monotonic()
    with patch_module_args({"url": url, "name": "llama3.2", "timeout": 3, "retries": 5, "retry_backoff": 0.5}), pytest.raises(SystemExit):
        ollama_model.main()
    elapsed = time.monotonic() - start
    result = json.loads(capsys.readouterr().out)
    assert elapsed < 3.5
    assert result["failed"] and result["changed"] is False
    assert url in result["msg"] and "could not connect" in result["msg"] and "check url" in result["msg"]
    assert result["error"]["type"] == "OllamaUnreachable" and result["error"]["endpoint"] == url


def test_bad_jmespath_query_fails_before_any_request(capsys: pytest.CaptureFixture[str]) -> None:
    factory = NoRequests()
    result = run("ollama_model_info", {"query": "[?size >"}, capsys, factory)
    assert result["failed"] and "not a valid JMESPath expression" in result["msg"]
    assert factory.calls == 0


# --------------------------------------------------------------------------------------
# Faults, through a fake transport
# --------------------------------------------------------------------------------------


def line(event: dict[str, Any] | bytes) -> bytes:
    return (event if isinstance(event, bytes) else json.dumps(event).encode()) + b"\n"


PULL_OK: list[dict[str, Any] | bytes] = [
    {"status": "pulling manifest"},
    {"status": "pulling 56ae60ae607b", "digest": LAYER, "total": 474240, "completed": 200000},
    {"status": "pulling 56ae60ae607b", "digest": LAYER, "total": 474240, "completed": 474240},
    {"status": "pulling 10507be42505", "digest": CONFIG, "total": 414, "completed": 414},
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
]


class Script(httpx.SyncByteStream):
    def __init__(self, steps: list[Any]) -> None:
        self.steps = steps

    def __iter__(self) -> Iterator[bytes]:
        for step in self.steps:
            if isinstance(step, (dict, bytes)):
                yield line(step)
            elif isinstance(step, BaseException):
                raise step
            else:
                time.sleep(step)


class FakeOllama:
    """Just enough of Ollama for a pull: ``/api/tags``, ``/api/show``, and ``/api/pull`` playing one script per attempt.

    The model appears in ``/api/tags`` once a script that ends with ``success`` has played.
    """

    def __init__(self, *pulls: list[Any], tags_status: int = 200, weights: str = LAYER) -> None:
        self.pulls = list(pulls)
        self.tags_status = tags_status
        self.weights = weights
        self.models: list[dict[str, Any]] = []
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.seen.append(f"{request.method} {path}")
        if path == "/api/tags":
            if self.tags_status != 200:
                return httpx.Response(self.tags_status, json={"error": "unauthorized"})
            return httpx.Response(200, json={"models": self.models})
        if path == "/api/show":
            return httpx.Response(200, json={"modelfile": f"FROM /models/blobs/{self.weights.replace(':', '-')}\n", "capabilities": ["completion"]})
        if path == "/api/pull":
            steps = self.pulls.pop(0)
            if steps and steps[-1] == {"status": "success"}:
                self.models = [{"name": NAME, "model": NAME, "digest": MANIFEST, "size": 474683, "modified_at": "2026-11-23T01:17:38Z"}]
            return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, stream=Script(steps))
        return httpx.Response(404, json={"error": f"no route {path}"})


def fake_factory(fake: FakeOllama) -> Callable[[dict[str, Any]], OllamaClient]:
    def factory(params: dict[str, Any]) -> OllamaClient:
        return OllamaClient.from_module_params(params, transport=httpx.MockTransport(fake), sleep=lambda s: None)

    return factory


def pull_args(**extra: Any) -> dict[str, Any]:
    return {"name": NAME, "insecure": True, "retry_backoff": 0, **extra}


def test_fake_baseline_pulls_and_verifies(capsys: pytest.CaptureFixture[str]) -> None:
    """The fake without faults: what the fault tests break."""
    fake = FakeOllama(PULL_OK)
    result = run("ollama_model", pull_args(), capsys, fake_factory(fake))
    assert result["changed"] is True and result["attempts"] == 1
    assert result["model"]["digest"] == MANIFEST
    assert result["verification"]["weights_layer_reported"] is True
    assert result["api_calls"] == ["GET /api/tags", "POST /api/pull", "GET /api/tags", "POST /api/show", "GET /api/tags"]


def test_401_fails_with_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeOllama(tags_status=401)
    result = run("ollama_model", pull_args(retries=3), capsys, fake_factory(fake))
    assert result["failed"] and result["changed"] is False
    assert "HTTP 401" in result["msg"] and "api_token" in result["msg"] and URL in result["msg"]
    assert fake.seen == ["GET /api/tags"]  # not retried


def test_registry_404_fails_at_once_naming_the_model_and_the_registrys_words(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeOllama([{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}])
    result = run("ollama_model", pull_args(retries=3), capsys, fake_factory(fake))
    assert result["failed"] and result["changed"] is False and result["model"] is None
    assert "pull model manifest: file does not exist" in result["msg"] and NAME in result["msg"] and URL in result["msg"]
    assert result["error"]["type"] == "OllamaNotFound" and result["attempts"] == 1
    assert fake.seen.count("POST /api/pull") == 1


def test_error_line_mid_stream_is_retried_then_reported(capsys: pytest.CaptureFixture[str]) -> None:
    said = "max retries exceeded: EOF"
    broken = [*PULL_OK[:2], {"error": said}]
    fake = FakeOllama(broken, list(broken))
    result = run("ollama_model", pull_args(retries=1), capsys, fake_factory(fake))
    assert result["failed"] and result["changed"] is False and result["model"] is None
    assert said in result["msg"] and "(pull attempt 2 of 2)" in result["msg"]
    assert result["error"]["type"] == "OllamaRegistryError" and len(result["retried_errors"]) == 1


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        ([*PULL_OK[:2], 3.0, *PULL_OK[2:]], "OllamaTimeout"),  # stall mid-stream
        ([*PULL_OK[:2], httpx.ReadError("[Errno 104] Connection reset by peer")], "OllamaConnectionLost"),
        ([*PULL_OK[:2], b'{"status": "pulling 56ae', *PULL_OK[2:]], "OllamaProtocolError"),  # malformed line
        (PULL_OK[:3], "OllamaProtocolError"),  # the stream ends without success
    ],
    ids=["stall", "reset", "malformed", "no-success"],
)
def test_interrupted_pull_is_retried_and_verified(fault: list[Any], error_type: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeOllama(fault, PULL_OK)
    progress_file = tmp_path / "progress.json"
    start = time.monotonic()
    result = run("ollama_model", pull_args(retries=2, stall_timeout=0.5, progress_file=str(progress_file)), capsys, fake_factory(fake))
    assert time.monotonic() - start < 2.5
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is True and result["attempts"] == 2
    assert result["retried_errors"][0].startswith(f"attempt 1: {error_type}")
    assert result["model"]["digest"] == MANIFEST and result["verification"]["listed"] is True
    final = json.loads(progress_file.read_text())
    assert final["state"] == "done" and final["attempt"] == 2 and final["percent"] == 100.0


def test_stall_on_every_attempt_fails_without_hanging(capsys: pytest.CaptureFixture[str]) -> None:
    stall = [*PULL_OK[:2], 2.0, *PULL_OK[2:]]
    fake = FakeOllama(stall, list(stall))
    start = time.monotonic()
    result = run("ollama_model", pull_args(retries=1, stall_timeout=0.3), capsys, fake_factory(fake))
    assert time.monotonic() - start < 2.0
    assert result["failed"] and result["error"]["type"] == "OllamaTimeout" and result["changed"] is False
    assert "stall_timeout" in result["msg"]


def test_verification_fails_when_the_model_uses_a_layer_the_pull_did_not_report(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeOllama(PULL_OK, weights="sha256:" + "e" * 64)
    result = run("ollama_model", pull_args(), capsys, fake_factory(fake))
    assert result["failed"] and result["error"]["type"] == "OllamaVerificationError"
    assert "not one of the layers the pull reported" in result["msg"]


def test_a_set_stops_at_the_first_failed_pull_and_prunes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeOllama([{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}])
    fake.models = [{"name": "keep-me:latest", "model": "keep-me:latest", "digest": "f" * 64, "size": 1, "modified_at": "t"}]
    result = run("ollama_models", {"models": [NAME], "prune": True, "insecure": True}, capsys, fake_factory(fake))
    assert result["failed"] and result["changed"] is False and result["deleted"] == []
    assert "DELETE /api/delete" not in fake.seen


def test_info_query_must_return_a_list(capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeOllama()
    result = run("ollama_model_info", {"query": "length(@)", "gather": ["models"]}, capsys, fake_factory(fake))
    assert result["failed"] and "not a list" in result["msg"]


def test_modules_import_and_expose_main() -> None:
    for module in (ollama_model, ollama_models, ollama_model_info):
        assert callable(module.main) and "short_description" in module.DOCUMENTATION


@pytest.mark.parametrize("name", ["ollama_model", "ollama_models", "ollama_model_info"])
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
    as_json = subprocess.run([ansible_doc, "--json", "-t", "module", f"mlops.ollama.{name}"], env=env, capture_output=True, text=True, timeout=120, check=False)
    doc = json.loads(as_json.stdout)[f"mlops.ollama.{name}"]["doc"]
    assert set(CONNECTION_ARGSPEC) <= set(doc["options"])  # the ollama_connection fragment
    assert doc["options"]["api_token"]["type"] == "str" and doc["attributes"]["check_mode"]["support"] == "full"
