"""The mlops.ollama Jinja tests, through Ansible's own templating, agree with the rules they wrap."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.mlops.ollama.plugins.test import values as plugin

TESTS = sorted(plugin.TestModule().tests())
PLUGIN_DIR = Path(plugin.__file__).parent
BIN = Path(sys.executable).parent

CASES = [
    ("x is mlops.ollama.k8s_quantity", "1e3", True),
    ("x is mlops.ollama.k8s_quantity", "4Gi\n", False),
    ("x is mlops.ollama.k8s_quantity", -1, False),
    ("x is mlops.ollama.k8s_quantity(allow_negative=true)", -1, True),
    ("x is mlops.ollama.k8s_quantity(integer=true)", "1.5", False),
    ("x is mlops.ollama.k8s_quantity_at_most('2')", "1500m", True),
    ("x is mlops.ollama.k8s_quantity_at_most('2Gi')", "3Gi", False),
    ("x is mlops.ollama.k8s_name", "ollama-tls", True),
    ("x is mlops.ollama.k8s_name(label=true)", "ml\n", False),
    ("x is mlops.ollama.k8s_name(rfc1035=true)", "1ollama", False),
    ("x is mlops.ollama.k8s_label_value", "0.17.4", True),
    ("x is mlops.ollama.k8s_qualified_name", "nvidia.com/gpu", True),
    ("x is mlops.ollama.ingress_host", "10.0.0.1", False),
    ("x is mlops.ollama.port", "11434", True),
    ("x is mlops.ollama.port", 0, False),
    ("x is mlops.ollama.duration", -5, False),
    ("x is mlops.ollama.duration(allow_zero=true)", 0, True),
    ("x is mlops.ollama.duration(maximum=60)", 61, False),
    ("x is mlops.ollama.go_duration", "5m", True),
    ("x is mlops.ollama.go_duration(allow_seconds=true)", "-1", True),
    ("x is mlops.ollama.http_url", "ollama:11434", False),
]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> list:
    """Every case's expression rendered by a real ansible-playbook run (one run for all)."""
    tmp = tmp_path_factory.mktemp("tests")
    tasks = [{"ansible.builtin.debug": {"msg": "{{ " + expression + " }}"}, "vars": {"x": value}} for expression, value, _expected in CASES]
    (tmp / "play.yml").write_text(json.dumps([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}]))
    env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    run = subprocess.run([str(BIN / "ansible-playbook"), "play.yml"], cwd=tmp, env=env, capture_output=True, text=True, check=True, timeout=300)
    return [task["hosts"]["localhost"]["msg"] for task in json.loads(run.stdout)["plays"][0]["tasks"]]


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)), ids=[f"{e}-{x!r}" for e, x, _expected in CASES])
def test_tests_in_templates(rendered, index, case):
    _expression, _value, expected = case
    assert rendered[index] is expected


@pytest.mark.parametrize("name", TESTS)
def test_every_test_has_its_documentation(name):
    doc = yaml.safe_load((PLUGIN_DIR / f"{name}.yml").read_text())
    assert doc["DOCUMENTATION"]["name"] == name
    assert doc["EXAMPLES"].strip() and doc["RETURN"]["_value"]["type"] == "bool"


def test_ansible_doc_shows_a_test():
    doc = subprocess.run(
        [str(BIN / "ansible-doc"), "-t", "test", "--json", "mlops.ollama.k8s_quantity"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "allow_negative" in doc and "integer" in doc


def test_no_documentation_without_a_test():
    assert sorted(p.stem for p in PLUGIN_DIR.glob("*.yml")) == TESTS
