"""model_sync reaches Ollama with the user's TLS and token settings on every request it makes, not on some."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "model_sync"
CONNECTION = {
    "validate_certs": "model_sync_validate_certs",
    "ca_path": "model_sync_ca_path",
    "api_token": "model_sync_api_token",
}


def _ollama_tasks(tasks: list[dict]) -> list[dict]:
    found = []
    for task in tasks or []:
        found += _ollama_tasks(task.get("block", [])) + _ollama_tasks(task.get("rescue", [])) + _ollama_tasks(task.get("always", []))
        found += [{"name": task["name"], "args": args} for module, args in task.items() if module.startswith("mlops.ollama.ollama_")]
    return found


TASKS = [task for path in sorted((ROLE / "tasks").glob("*.yml")) for task in _ollama_tasks(yaml.safe_load(path.read_text()))]


def test_the_role_has_ollama_tasks():
    assert len(TASKS) >= 3  # the check-mode sync, the background sync, the health check


@pytest.mark.parametrize("task", TASKS, ids=lambda t: t["name"])
def test_every_ollama_task_passes_the_connection_settings(task):
    for option, variable in CONNECTION.items():
        assert variable in str(task["args"].get(option, "")), f"{task['name']!r} does not pass {option} from {variable}"


def test_the_token_is_documented_as_secret():
    spec = yaml.safe_load((ROLE / "meta/argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert spec["model_sync_api_token"].get("no_log") is True
    defaults = yaml.safe_load((ROLE / "defaults/main.yml").read_text())
    assert set(CONNECTION.values()) <= set(defaults) <= set(spec)
