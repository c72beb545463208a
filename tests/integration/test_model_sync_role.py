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


def _play(tmp_path: Path, extra_vars: dict, timeout: float = 300, succeed: bool = False) -> str:
    """Run the role; returns everything ansible-playbook printed, after checking it failed (or, with succeed, passed)."""
    playbook = tmp_path / "sync.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  roles:\n    - role: mlops.ollama.model_sync\n")
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps(extra_vars))
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_STDOUT_CALLBACK": "default"}
    result = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}", str(playbook), "-e", f"@{vars_file}"],
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
