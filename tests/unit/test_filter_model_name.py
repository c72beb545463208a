"""The mlops.ollama.model_name filter gives roles the modules' own name rule, and names a bad value."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.ollama.plugins.filter.model_name import FilterModule, model_name
from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_names


@pytest.mark.parametrize(
    ("value", "registry", "expected"),
    [
        ("llama3.2", None, "llama3.2:latest"),
        ("llama3.2:1b", "", "llama3.2:1b"),
        ("llama3.2:1b", "reg.example.com:5000", "reg.example.com:5000/library/llama3.2:1b"),
        ("qwen2.5", "reg.example.com", "reg.example.com/library/qwen2.5:latest"),
        ("team/model", "reg.example.com", "reg.example.com/team/model:latest"),
        ("host:5000/ns/model", "reg.example.com", "host:5000/ns/model:latest"),
    ],
)
def test_display_name(value, registry, expected):
    assert model_name(value, registry) == expected


def test_the_filter_is_the_module_rule_not_a_copy(monkeypatch):
    monkeypatch.setattr("ansible_collections.mlops.ollama.plugins.filter.model_name.qualified_model_name", lambda *a, **k: "from-module-utils")
    assert model_name("x") == "from-module-utils"
    assert model_name.__module__.endswith("filter.model_name")
    assert _ollama_names.qualified_model_name("x") == "x:latest"


@pytest.mark.parametrize(("value", "registry", "named"), [("../x", None, "'../x'"), ("x", "http://reg", "'http://reg'"), (None, None, "None")])
def test_bad_value_is_named(value, registry, named):
    with pytest.raises(AnsibleFilterError, match="model name|registry") as info:
        model_name(value, registry)
    assert named in str(info.value)


def test_registered_name():
    assert FilterModule().filters() == {"model_name": model_name}


def test_the_error_names_what_the_value_is():
    with pytest.raises(AnsibleFilterError, match="ollama_deploy_readiness_models"):
        model_name("tiny a", None, what="ollama_deploy_readiness_models")
