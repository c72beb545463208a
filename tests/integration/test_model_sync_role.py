"""model_sync's bad input, through ansible-playbook against real Ollama servers of the local stack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]


def _play(tmp_path: Path, extra_vars: dict, timeout: float = 300, succeed: bool = False, args: tuple[str, ...] = ()) -> str:
    """Run the role; returns everything ansible-playbook printed, after checking it failed (or, with succeed, passed)."""
    playbook = tmp_path / "sync.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: mlops.ollama.model_sync\n")
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_STDOUT_CALLBACK": "default"}
    result = subprocess.run(
        [
            "ansible-playbook",
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(playbook),
            "-e",
            f"@{vars_file}",
            *args,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )
    assert (result.returncode == 0) == succeed, result.stdout[-2000:]
    return result.stdout + result.stderr


def _names(url: str) -> list[str]:
    return sorted(m["name"] for m in httpx.get(f"{url}/api/tags", timeout=10).json()["models"])


def test_invalid_name_is_rejected_before_any_request(tmp_path, ollama_factory):
    server = ollama_factory()
    output = _play(tmp_path, {"model_sync_url": server.url, "model_sync_models": ["../x", "ok-model:1b"], "model_sync_verify_inference": False})
    assert "../x" in output
    assert _names(server.url) == []


def test_models_as_a_survey_string_are_split_into_names(tmp_path, stack, ollama_factory):
    server = ollama_factory()
    survey_answer = "mlops/tiny-a:latest,\n mlops/tiny-b:latest "
    extra = {"model_sync_url": server.url, "model_sync_registry": stack.registry_host, "model_sync_insecure": True, "model_sync_models": survey_answer}
    _play(tmp_path, extra, succeed=True)
    assert _names(server.url) == [f"{stack.registry_host}/mlops/tiny-{x}:latest" for x in "ab"]


def test_unreachable_endpoint_fails_fast_naming_the_url(tmp_path):
    url = "http://127.0.0.1:9"  # discard port: nothing listens there
    started = time.monotonic()
    output = _play(tmp_path, {"model_sync_url": url, "model_sync_models": ["mlops/tiny-a:latest"], "model_sync_verify_inference": False})
    elapsed = time.monotonic() - started
    assert url in output
    assert elapsed < 120, f"an unreachable endpoint took {elapsed:.0f}s to fail"


def test_missing_model_names_model_and_registry_and_the_others_still_sync(tmp_path, stack, ollama_factory):
    server = ollama_factory()
    missing = f"{stack.registry_host}/mlops/does-not-exist:latest"
    output = _play(
        tmp_path,
        {
            "model_sync_url": server.url,
            "model_sync_models": [missing, stack.models[0]],
            "model_sync_insecure": True,
            "model_sync_verify_inference": False,
        },
    )
    assert f"model {missing}" in output
    assert "the other declared models were synced" in output
    assert _names(server.url) == [stack.models[0]]


@pytest.mark.parametrize("bad", [{"model_sync_timeout": -1}, {"model_sync_models": [{"name": "x", "state": "sideways"}]}])
def test_bad_settings_fail_in_preflight(tmp_path, bad, ollama_factory):
    server = ollama_factory()
    output = _play(tmp_path, {"model_sync_url": server.url, **bad})
    assert next(iter(bad)) in output
    assert _names(server.url) == []


def _pull(url: str, name: str) -> None:
    response = httpx.post(f"{url}/api/pull", json={"model": name, "insecure": True, "stream": False}, timeout=300)
    assert response.status_code == 200, response.text


def _recap(output: str) -> dict[str, int]:
    """The localhost line of PLAY RECAP as numbers: {'ok': 3, 'changed': 0, 'failed': 0, ...}."""
    line = next(line for line in output.splitlines() if line.startswith("localhost") and "changed=" in line)
    return {key: int(value) for key, value in (field.split("=") for field in line.split(":", 1)[1].split())}


@pytest.mark.parametrize("models", ["", [], [{"name": "x", "state": "absent"}]], ids=["empty-survey-answer", "empty-list", "only-absent"])
def test_prune_with_nothing_to_keep_is_refused_before_any_request(tmp_path, stack, ollama_factory, models):
    server = ollama_factory()
    _pull(server.url, stack.models[0])
    output = _play(tmp_path, {"model_sync_url": server.url, "model_sync_models": models, "model_sync_prune": True, "model_sync_verify_inference": False})
    assert "model_sync_prune_all" in output
    assert _names(server.url) == [stack.models[0]]


def test_declared_entry_without_a_name_fails_in_preflight(tmp_path, ollama_factory):
    server = ollama_factory()
    output = _play(tmp_path, {"model_sync_url": server.url, "model_sync_models": [{"state": "present"}, "mlops/tiny-a"], "model_sync_verify_inference": False})
    assert "Invalid model_sync_models: every entry needs a non-empty name" in output
    assert _names(server.url) == []


@pytest.mark.parametrize(
    "bad",
    [{"model_sync_progress_interval": 0}, {"model_sync_progress_interval": 11}, {"model_sync_timeout": 0}],
    ids=lambda b: "-".join(map(str, b.items())),
)
def test_bad_durations_fail_in_preflight(tmp_path, bad, ollama_factory):
    server = ollama_factory()
    output = _play(tmp_path, {"model_sync_url": server.url, "model_sync_models": ["mlops/tiny-a"], **bad})
    assert f"{next(iter(bad))} must be a number of seconds" in output
    assert _names(server.url) == []


def test_check_mode_on_a_converged_server_changes_nothing_and_passes(tmp_path, stack, ollama_factory):
    server = ollama_factory()
    _pull(server.url, stack.models[0])
    extra = {"model_sync_url": server.url, "model_sync_models": [stack.models[0]], "model_sync_insecure": True}
    recap = _recap(_play(tmp_path, extra, succeed=True, args=("--check",)))
    assert (recap["changed"], recap["failed"]) == (0, 0)


def test_check_mode_on_an_empty_server_predicts_the_pulls_and_pulls_nothing(tmp_path, stack, ollama_factory):
    server = ollama_factory()
    extra = {"model_sync_url": server.url, "model_sync_models": stack.models[:2], "model_sync_insecure": True}
    output = _play(tmp_path, extra, succeed=True, args=("--check", "-v"))
    assert _recap(output)["changed"] == 1
    assert all(name in output for name in stack.models[:2])
    assert _names(server.url) == []


class _TokenProxy:
    """A proxy in front of a real Ollama that, like an authenticating Ingress, answers 401 without the bearer token."""

    def __init__(self, upstream: str, token: str) -> None:
        import http.server
        import threading

        proxy = self
        self.seen: list[str] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def _forward(self) -> None:
                proxy.seen.append(f"{self.command} {self.path}")
                if self.headers.get("Authorization") != f"Bearer {token}":
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = httpx.request(self.command, upstream + self.path, content=body, headers={"Content-Type": "application/json"}, timeout=120)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            do_GET = do_POST = do_HEAD = do_DELETE = _forward

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_every_ollama_request_carries_the_api_token_and_the_token_is_never_printed(tmp_path, stack, ollama_factory):
    server = ollama_factory()
    _pull(server.url, stack.models[0])
    token = "s3cret-token-for-the-proxy"
    proxy = _TokenProxy(server.url, token)
    try:
        extra = {"model_sync_url": proxy.url, "model_sync_models": [stack.models[0]], "model_sync_api_token": token, "model_sync_insecure": True}
        output = _play(tmp_path, extra, succeed=True, args=("-vvv",))
    finally:
        proxy.close()
    assert any(seen.startswith("POST /api/generate") for seen in proxy.seen), proxy.seen  # the health check went through it too
    assert token not in output
