"""The sync engine behind ollama_model and ollama_models (_ollama_sync), run through the modules' real main().

Faults a real server cannot produce on demand (a stall, a reset, a malformed line, 401, the
registry's 404, an error line mid-stream) come from a fake transport; every behaviour a real
server can show is tested against one in tests/integration/test_ollama_models_bare_server.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_sync as om
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import OllamaClient
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_names import ModelParameterError

URL = "http://ollama.test:11434"
NAME = "127.0.0.1:25000/mlops/tiny-a:latest"
LAYER = "sha256:56ae60ae607b15785b146f3428af44f8107f6959dad107f6c42bc317ce751f4e"
CONFIG = "sha256:10507be4250500721a173d17d432f84a45a5c6cbe489739187d49d413094a4c7"
MANIFEST = "103b7bf2e96b22cd9ab5d025951fbb0ce3fd87f4d82e4d85d714ab637be51d72"
Runner = Callable[..., dict[str, Any]]


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[httpx.Request], httpx.Response]], None]:
    """Give every client the modules create (through the real factory and its checks) this fake transport."""
    real = OllamaClient.from_module_params.__func__  # type: ignore[attr-defined]

    def install(handler: Callable[[httpx.Request], httpx.Response]) -> None:
        def factory(cls: type[OllamaClient], params: dict[str, Any], **overrides: Any) -> OllamaClient:
            return real(cls, params, transport=httpx.MockTransport(handler), **overrides)

        monkeypatch.setattr(OllamaClient, "from_module_params", classmethod(factory))

    return install


@pytest.fixture
def run(run_module: Runner) -> Runner:
    """``run_module`` with the fake's URL and no retry delays."""

    def call(which: str, args: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return run_module(which, {"url": URL, "retries": 0, "retry_backoff": 0, **args}, **kwargs)

    return call


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


def pull_args(**extra: Any) -> dict[str, Any]:
    return {"name": NAME, "insecure": True, "retry_backoff": 0, **extra}


def test_fake_baseline_pulls_and_verifies(run: Runner, serve: Callable[..., None]) -> None:
    """The fake without faults: what the fault tests break."""
    fake = FakeOllama(PULL_OK)
    serve(fake)
    result = run("ollama_model", pull_args())
    assert result["changed"] is True and result["attempts"] == 1
    assert result["model"]["digest"] == MANIFEST
    assert result["verification"]["weights_layer_reported"] is True
    assert result["api_calls"] == ["GET /api/tags", "POST /api/pull", "GET /api/tags", "POST /api/show", "GET /api/tags"]


def test_401_fails_with_the_fix(run: Runner, serve: Callable[..., None]) -> None:
    fake = FakeOllama(tags_status=401)
    serve(fake)
    result = run("ollama_model", pull_args(retries=3))
    assert result["failed"] and result["changed"] is False
    assert "HTTP 401" in result["msg"] and "api_token" in result["msg"] and URL in result["msg"]
    assert fake.seen == ["GET /api/tags"]  # not retried


def test_registry_404_fails_at_once_naming_the_model_and_the_registrys_words(run: Runner, serve: Callable[..., None]) -> None:
    fake = FakeOllama([{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}])
    serve(fake)
    result = run("ollama_model", pull_args(retries=3))
    assert result["failed"] and result["changed"] is False and result["model"] is None
    assert "pull model manifest: file does not exist" in result["msg"] and NAME in result["msg"] and URL in result["msg"]
    assert result["error"]["type"] == "OllamaNotFound" and result["attempts"] == 1
    assert fake.seen.count("POST /api/pull") == 1


def test_error_line_mid_stream_is_retried_then_reported(run: Runner, serve: Callable[..., None]) -> None:
    said = "max retries exceeded: EOF"
    broken = [*PULL_OK[:2], {"error": said}]
    fake = FakeOllama(broken, list(broken))
    serve(fake)
    result = run("ollama_model", pull_args(retries=1))
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
def test_interrupted_pull_is_retried_and_verified(fault: list[Any], error_type: str, tmp_path: Path, run: Runner, serve: Callable[..., None]) -> None:
    fake = FakeOllama(fault, PULL_OK)
    progress_file = tmp_path / "progress.json"
    start = time.monotonic()
    serve(fake)
    result = run("ollama_model", pull_args(retries=2, stall_timeout=0.5, progress_file=str(progress_file)))
    assert time.monotonic() - start < 2.5
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is True and result["attempts"] == 2
    assert result["retried_errors"][0].startswith(f"attempt 1: {error_type}")
    assert result["model"]["digest"] == MANIFEST and result["verification"]["listed"] is True
    final = json.loads(progress_file.read_text())
    assert final["state"] == "done" and final["attempt"] == 2 and final["percent"] == 100.0


def test_stall_on_every_attempt_fails_without_hanging(run: Runner, serve: Callable[..., None]) -> None:
    stall = [*PULL_OK[:2], 2.0, *PULL_OK[2:]]
    fake = FakeOllama(stall, list(stall))
    start = time.monotonic()
    serve(fake)
    result = run("ollama_model", pull_args(retries=1, stall_timeout=0.3))
    assert time.monotonic() - start < 2.0
    assert result["failed"] and result["error"]["type"] == "OllamaTimeout" and result["changed"] is False
    assert "stall_timeout" in result["msg"]


def test_verification_fails_when_the_model_uses_a_layer_the_pull_did_not_report(run: Runner, serve: Callable[..., None]) -> None:
    fake = FakeOllama(PULL_OK, weights="sha256:" + "e" * 64)
    serve(fake)
    result = run("ollama_model", pull_args())
    assert result["failed"] and result["error"]["type"] == "OllamaVerificationError"
    assert "not one of the layers the pull reported" in result["msg"]


def test_a_set_stops_at_the_first_failed_pull_and_prunes_nothing(run: Runner, serve: Callable[..., None]) -> None:
    fake = FakeOllama([{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}])
    fake.models = [{"name": "keep-me:latest", "model": "keep-me:latest", "digest": "f" * 64, "size": 1, "modified_at": "t"}]
    serve(fake)
    result = run("ollama_models", {"models": [NAME], "prune": True, "insecure": True})
    assert result["failed"] and result["changed"] is False and result["deleted"] == []
    assert "DELETE /api/delete" not in fake.seen


# --------------------------------------------------------------------------------------
# Declared entries
# --------------------------------------------------------------------------------------


def test_declared_entries() -> None:
    declared = om.parse_declared_models(
        ["llama3.2", {"name": "reg:5000/ns/m:v1", "state": "latest", "digest": "sha256:" + "d" * 64, "insecure": "yes"}, {"name": "old", "state": "absent"}],
        default_state="present",
        default_insecure=False,
    )
    assert [(d.name.display, d.state, d.digest, d.insecure) for d in declared] == [
        ("llama3.2:latest", "present", None, False),
        ("reg:5000/ns/m:v1", "latest", "d" * 64, True),
        ("old:latest", "absent", None, False),
    ]


@pytest.mark.parametrize(
    ("items", "word"),
    [
        ([42], "models[0] must be a model name"),
        ([{"state": "present"}], "models[0].name is required"),
        ([{"name": "x", "tag": "y"}], "unknown key"),
        ([{"name": "x", "state": "gone"}], "models[0].state"),
        ([{"name": "x", "insecure": "maybe"}], "models[0].insecure"),
        ([{"name": "x", "state": "absent", "digest": "a" * 64}], "not absent"),
        (["ok", "../bad"], "models[1] '../bad'"),
        ([{"name": "x", "digest": "zz"}], "models[0].digest"),
    ],
)
def test_bad_declared_entries(items: list[Any], word: str) -> None:
    with pytest.raises(ModelParameterError) as info:
        om.parse_declared_models(items, default_state="present", default_insecure=False)
    assert word in str(info.value)


def test_a_model_declared_twice_is_rejected() -> None:
    declared = om.parse_declared_models(["llama3.2", "library/llama3.2:latest"], default_state="present", default_insecure=False)
    with pytest.raises(ModelParameterError, match="declared more than once"):
        om.ModelSync(client=None, declared=declared, options=om.SyncOptions())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("items", "where"),
    [
        ([{"state": "present"}], "models[0].name is required"),
        (["ok", {"name": None}], "models[1].name is required"),
        (["ok", "other", {"name": "", "state": "absent"}], "models[2].name is required"),
    ],
)
def test_an_entry_without_a_name_names_models_i_name(items: list[Any], where: str) -> None:
    with pytest.raises(ModelParameterError) as info:
        om.parse_declared_models(items, default_state="present", default_insecure=False)
    assert where in str(info.value)


# --------------------------------------------------------------------------------------
# Prune with nothing declared to keep
# --------------------------------------------------------------------------------------

TWO_MODELS = [
    {"name": "keep-a:latest", "model": "keep-a:latest", "digest": "a" * 64, "size": 1, "modified_at": "t"},
    {"name": "keep-b:latest", "model": "keep-b:latest", "digest": "b" * 64, "size": 1, "modified_at": "t"},
]


class Recorder:
    """A server with two models that records every request and deletes what it is asked to."""

    def __init__(self) -> None:
        self.models = [dict(m) for m in TWO_MODELS]
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        if request.url.path == "/api/tags":
            return httpx.Response(200, json={"models": self.models})
        if request.url.path == "/api/delete":
            name = json.loads(request.content)["model"]
            self.models = [m for m in self.models if m["name"] != name]
            return httpx.Response(200, json={})
        return httpx.Response(404, json={"error": "no route"})


@pytest.mark.parametrize("models", [[], [{"name": "keep-a", "state": "absent"}]], ids=["empty", "only-absent"])
@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check"])
def test_prune_with_nothing_to_keep_is_refused_before_any_request(models: list[Any], check_mode: bool, run: Runner, serve: Callable[..., None]) -> None:
    fake = Recorder()
    serve(fake)
    result = run("ollama_models", {"models": models, "prune": True}, check_mode=check_mode)
    assert result["failed"] is True and result["changed"] is False
    assert "would delete every model" in result["msg"] and "prune_all: true" in result["msg"]
    assert fake.seen == [] and len(fake.models) == 2


def test_prune_all_empties_the_server_on_purpose(run: Runner, serve: Callable[..., None]) -> None:
    fake = Recorder()
    serve(fake)
    result = run("ollama_models", {"models": [], "prune": True, "prune_all": True})
    assert result.get("failed") is not True, result.get("msg")
    assert result["changed"] is True and sorted(result["deleted"]) == ["keep-a:latest", "keep-b:latest"]
    assert fake.models == [] and fake.seen.count("DELETE /api/delete") == 2


def test_prune_keeps_what_is_declared(run: Runner, serve: Callable[..., None]) -> None:
    fake = Recorder()
    serve(fake)
    result = run("ollama_models", {"models": ["keep-a"], "prune": True})
    assert result["deleted"] == ["keep-b:latest"] and [m["name"] for m in fake.models] == ["keep-a:latest"]
