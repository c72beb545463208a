"""One table of model names through every path that reads one: the modules' rule, model_sync's variables, its drift
script and the health check. They must all agree on the name Ollama lists, or a model is pulled from the wrong
registry, re-pulled on every drift run, or reported missing.

No server is needed: the role's variables and templates are rendered by ansible-playbook, and the drift script runs
against a fake ``ollama`` command that prints an ``ollama list`` table and records the pulls it is asked for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_names import find_model, model_key, parse_model_name, parse_registry_host, with_registry

REPO = Path(__file__).resolve().parents[2]
ROLE = REPO / "roles" / "model_sync"
MIRROR = "mirror.example.com:5000"

# (declared, registry, what Ollama lists once it is pulled)
TABLE = [
    ("llama3.2", None, "llama3.2:latest"),
    ("llama3.2:1b", None, "llama3.2:1b"),
    ("qwen2.5", None, "qwen2.5:latest"),
    ("library/qwen2.5:0.5b", None, "qwen2.5:0.5b"),
    ("team/model", None, "team/model:latest"),
    ("registry.ollama.ai/library/gemma3:1b", None, "gemma3:1b"),
    ("host:5000/ns/model:v1", None, "host:5000/ns/model:v1"),
    ("host:5000/ns/model", None, "host:5000/ns/model:latest"),
    ("Team/Mixed.Case:Q4_K_M", None, "Team/Mixed.Case:Q4_K_M"),
    ("llama3.2", MIRROR, f"{MIRROR}/library/llama3.2:latest"),
    ("llama3.2:1b", MIRROR, f"{MIRROR}/library/llama3.2:1b"),
    ("qwen2.5", MIRROR, f"{MIRROR}/library/qwen2.5:latest"),
    ("library/qwen2.5:0.5b", MIRROR, f"{MIRROR}/library/qwen2.5:0.5b"),
    ("team/model", MIRROR, f"{MIRROR}/team/model:latest"),
    ("registry.ollama.ai/library/gemma3:1b", MIRROR, "gemma3:1b"),
    ("host:5000/ns/model:v1", MIRROR, "host:5000/ns/model:v1"),
    ("host:5000/ns/model", MIRROR, "host:5000/ns/model:latest"),
    ("Team/Mixed.Case:Q4_K_M", MIRROR, f"{MIRROR}/Team/Mixed.Case:Q4_K_M"),
]
REGISTRIES = [None, MIRROR]


def _rows(registry: str | None) -> list[tuple[str, str]]:
    return [(declared, listed) for declared, reg, listed in TABLE if reg == registry]


def _ids(registry: str | None) -> str:
    return f"registry={registry or 'unset'}"


@pytest.fixture(scope="module", params=REGISTRIES, ids=_ids)
def rendered(request, tmp_path_factory) -> dict:
    """model_sync's declared models (as a list, a survey string and dicts) and its drift ConfigMap, rendered by Ansible."""
    registry = request.param
    names = [declared for declared, _listed in _rows(registry)]
    tmp = tmp_path_factory.mktemp("render")
    out = tmp / "out.json"
    template = ROLE / "templates" / "drift-configmap.yaml.j2"
    render = {
        "name": "Render the declared models and the drift ConfigMap",
        "ansible.builtin.copy": {
            "dest": str(out),
            "mode": "0600",
            "content": "{{ {'declared': _model_sync_declared, 'configmap': lookup('ansible.builtin.template', '%s') | from_yaml} | to_json }}" % template,
        },
    }
    playbook = tmp / "render.yml"
    play = {"hosts": "localhost", "gather_facts": False, "vars_files": [str(ROLE / "defaults/main.yml"), str(ROLE / "vars/main.yml")], "tasks": [render]}
    playbook.write_text(yaml.safe_dump([play]))
    shapes = {}
    for shape, models in {"list": names, "string": ",\n ".join(names) + " ", "dicts": [{"name": n} for n in names]}.items():
        extra = tmp / f"{shape}.json"
        extra.write_text(json.dumps({"model_sync_models": models, "model_sync_registry": registry or ""}))
        _run_playbook(playbook, extra)
        result = json.loads(out.read_text())
        shapes[shape] = result["declared"]
        shapes.setdefault("configmap", result["configmap"])
    return {"registry": registry, **shapes}


def _run_playbook(playbook: Path, extra_file: Path) -> None:
    env = {**os.environ, "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_STDOUT_CALLBACK": "default"}
    result = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}", "-e", f"@{extra_file}", str(playbook)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


@pytest.mark.parametrize(("declared", "registry", "listed"), TABLE)
def test_module_rule(declared, registry, listed):
    name = with_registry(parse_model_name(declared), parse_registry_host(registry))
    assert name.display == listed


@pytest.mark.parametrize(("declared", "registry", "listed"), TABLE)
def test_health_finds_the_listed_model(declared, registry, listed):
    wanted = with_registry(parse_model_name(declared), parse_registry_host(registry))
    assert model_key(listed) == wanted.key
    assert find_model([{"name": "other:latest"}, {"name": listed}], wanted) == {"name": listed}
    # Ollama compares names without case: a listing in other case is the same model.
    assert find_model([{"name": listed.lower()}], wanted.display) == {"name": listed.lower()}


@pytest.mark.parametrize("shape", ["list", "string", "dicts"])
def test_role_declares_what_ollama_lists(rendered, shape):
    expected = [listed for _declared, listed in _rows(rendered["registry"])]
    assert [entry["name"] for entry in rendered[shape]] == expected
    assert {entry["state"] for entry in rendered[shape]} == {"present"}


def test_role_pulls_plain_dotted_and_tagged_names_from_the_registry(rendered):
    """The defect: a name whose first part held a dot or a colon (llama3.2:1b, qwen2.5) was pulled from the public registry."""
    names = [entry["name"] for entry in rendered["list"]]
    prefix = f"{MIRROR}/library/" if rendered["registry"] else ""
    assert f"{prefix}llama3.2:1b" in names
    assert f"{prefix}qwen2.5:latest" in names


def _fake_ollama(tmp: Path) -> Path:
    """A stand-in for the Ollama CLI: ``list`` prints $FAKE_LISTED as a table, ``pull`` records its arguments and lists the model."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    script = bin_dir / "ollama"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        "  list)\n"
        "    printf 'NAME                          ID              SIZE      MODIFIED\\n'\n"
        '    while read -r name; do printf \'%s    8eeb52dfb3bb    1.3 GB    2 days ago\\n\' "$name"; done < "$FAKE_LISTED" ;;\n'
        '  pull) shift; echo "$*" >> "$FAKE_PULLS"; for name; do :; done; echo "$name" >> "$FAKE_LISTED" ;;\n'
        '  *) echo "unexpected: $*" >&2; exit 2 ;;\n'
        "esac\n"
    )
    script.chmod(0o755)
    return bin_dir


def _run_drift(rendered: dict, tmp: Path, listed: list[str]) -> tuple[list[str], str]:
    config = tmp / "config"
    config.mkdir()
    (config / "sync.sh").write_text(rendered["configmap"]["data"]["sync.sh"])
    (config / "models").write_text(rendered["configmap"]["data"]["models"])
    (tmp / "listed").write_text("".join(f"{name}\n" for name in listed))
    pulls = tmp / "pulls"
    pulls.touch()
    env = {**os.environ, "PATH": f"{_fake_ollama(tmp)}:{os.environ['PATH']}", "FAKE_LISTED": str(tmp / "listed"), "FAKE_PULLS": str(pulls)}
    result = subprocess.run(["/bin/sh", str(config / "sync.sh")], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return pulls.read_text().splitlines(), result.stdout


def test_drift_pulls_every_missing_model_by_its_listed_name(rendered, tmp_path):
    expected = [listed for _declared, listed in _rows(rendered["registry"])]
    pulls, _out = _run_drift(rendered, tmp_path, [])
    assert pulls == expected


def test_drift_pulls_nothing_when_every_model_is_listed(rendered, tmp_path):
    """The defect: a name with a colon (host:5000/ns/model) was taken as tagged, never matched the listing, and was re-pulled on every run."""
    listed = [listed for _declared, listed in _rows(rendered["registry"])]
    pulls, out = _run_drift(rendered, tmp_path, listed)
    assert pulls == []
    assert "0 model(s) pulled" in out


def test_drift_matches_names_without_case_as_ollama_does(rendered, tmp_path):
    listed = [listed.lower() for _declared, listed in _rows(rendered["registry"])]
    pulls, _out = _run_drift(rendered, tmp_path, listed)
    assert pulls == []
