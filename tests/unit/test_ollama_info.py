"""ollama_model_info's facts (_ollama_info): the JMESPath query and the details, against a fake listing.

What a real server lists is tested in tests/integration/test_ollama_models_bare_server.py; here only
what the query does with a listing, which needs no server.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_info as info
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import OllamaClient
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_names import ModelParameterError, parse_model_name

LISTED = [
    {"name": "llama3.2:1b", "model": "llama3.2:1b", "digest": "a" * 64, "size": 1_300_000_000},
    {"name": "tiny:latest", "model": "tiny:latest", "digest": "b" * 64, "size": 1000},
]


def fake(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/api/tags":
        return httpx.Response(200, json={"models": LISTED})
    if request.url.path == "/api/show":
        if json.loads(request.content)["model"] == "tiny:latest":
            return httpx.Response(200, json={"modelfile": "FROM x", "tensors": [1, 2]})
        return httpx.Response(404, json={"error": "model not found"})
    return httpx.Response(404, json={"error": "no route"})


def client() -> OllamaClient:
    return OllamaClient("http://ollama.test:11434", retries=0, transport=httpx.MockTransport(fake))


def gather(**kwargs: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"gather": ["models", "details"], "names": [], "all_details": False, "query": None, "include_tensors": False, **kwargs}
    return info.gather_info(client(), **args)


def test_query_filters_the_list_and_all_details_follows_it() -> None:
    result = gather(query="[?size < `1000000`]", all_details=True)
    assert [m["name"] for m in result["models"]] == ["tiny:latest"] and result["models_total"] == 2
    assert result["details"] == {"tiny:latest": {"modelfile": "FROM x"}} and result["missing"] == []


def test_named_models_missing_from_the_server_are_reported() -> None:
    result = gather(names=[parse_model_name("absent-model")])
    assert result["details"] == {"absent-model:latest": None} and result["missing"] == ["absent-model:latest"]


def test_a_query_that_is_not_a_list_is_a_parameter_error() -> None:
    with pytest.raises(ModelParameterError, match="not a list"):
        gather(query="length(@)")


@pytest.mark.parametrize("query", ["[?size >", "[?name == ]"])
def test_a_query_that_does_not_compile_is_refused(query: str) -> None:
    with pytest.raises(ModelParameterError, match="not a valid JMESPath expression"):
        info.check_query(query)


def test_the_module_fails_cleanly_when_the_query_is_not_a_list(run_module: Callable[..., dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    real = OllamaClient.from_module_params.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(OllamaClient, "from_module_params", classmethod(lambda cls, params: real(cls, params, transport=httpx.MockTransport(fake))))
    result = run_module("ollama_model_info", {"url": "http://ollama.test:11434", "query": "length(@)", "gather": ["models"]})
    assert result["failed"] is True and result["changed"] is False
    assert "returned int, not a list" in result["msg"] and result["api_calls"] == ["GET /api/tags"]
