"""Model names and digests (_ollama_names): the one rule every module, role and script uses."""

from __future__ import annotations

import pytest

from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_names as om
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_names import ModelParameterError

# --------------------------------------------------------------------------------------
# Names
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "display"),
    [
        ("llama3.2", "llama3.2:latest"),
        ("llama3.2:1b", "llama3.2:1b"),
        ("library/llama3.2:1b", "llama3.2:1b"),
        ("registry.ollama.ai/library/llama3.2", "llama3.2:latest"),
        ("REGISTRY.OLLAMA.AI/library/qwen2.5:0.5b", "qwen2.5:0.5b"),
        ("someone/model", "someone/model:latest"),
        ("registry.ollama.ai/someone/model:v1", "someone/model:v1"),
        ("127.0.0.1:25000/mlops/tiny-a", "127.0.0.1:25000/mlops/tiny-a:latest"),
        ("127.0.0.1:25000/mlops/tiny-a:latest", "127.0.0.1:25000/mlops/tiny-a:latest"),
        ("registry.example.com:5000/team/model_x:v1.2-rc", "registry.example.com:5000/team/model_x:v1.2-rc"),
        ("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"),
        ("_x", "_x:latest"),
        ("ns.with.dots/x/y:z", "ns.with.dots/x/y:z"),
        ("m" * 80, "m" * 80 + ":latest"),
    ],
)
def test_valid_names_normalise_as_ollama_lists_them(name: str, display: str) -> None:
    assert om.normalize_model_name(name) == display


def test_keys_compare_case_insensitively() -> None:
    assert om.parse_model_name("Llama3.2:1B").key == om.parse_model_name("llama3.2:1b").key == "llama3.2:1b"


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("   ", "whitespace"),
        ("llama 3", "whitespace"),
        ("llama3\n", "whitespace"),
        ("../x", "path"),
        ("./model", "path"),
        ("/etc/passwd", "path"),
        ("a/../b", "path"),
        ("x" * 300, "300 characters"),
        ("m" * 81, "at most 80"),
        ("llama3:" + "t" * 81, "at most 80"),
        ("llama3:", "tag after ':' is empty"),
        ("http://registry:5000/ns/model", "scheme"),
        ("model@sha256:" + "0" * 64, "digest references"),
        ("registry.example.com/model", "needs a namespace"),
        ("127.0.0.1:25000/model", "needs a namespace"),
        ("a/b/c/d", "at most 3"),
        ("a//b", "empty part"),
        ("-model", "starts with"),
    ],
)
def test_invalid_names_are_rejected_with_the_reason(name: str, why: str) -> None:
    with pytest.raises(ModelParameterError) as info:
        om.parse_model_name(name, param="name")
    text = str(info.value)
    assert text.startswith("name ")
    assert why in text
    assert "[registry/][namespace/]model[:tag]" in text


def test_long_names_are_shortened_in_messages() -> None:
    with pytest.raises(ModelParameterError) as info:
        om.parse_model_name("x" * 300)
    assert len(str(info.value)) < 400


def test_non_strings_are_rejected() -> None:
    with pytest.raises(ModelParameterError, match="must be a string"):
        om.parse_model_name(["llama3"], param="models[0]")


def test_the_pattern_is_the_documented_one() -> None:
    assert om.MODEL_NAME_RE.pattern == om.MODEL_NAME_PATTERN
    match = om.MODEL_NAME_RE.fullmatch("a/b")
    assert match is not None and match.group("registry") is None and match.group("namespace") == "a"


TAGS = [
    {"name": "llama3.2:1b", "model": "llama3.2:1b", "digest": "a" * 64, "size": 1, "modified_at": "t"},
    {"name": "127.0.0.1:25000/mlops/tiny-a:latest", "model": "127.0.0.1:25000/mlops/tiny-a:latest", "digest": "b" * 64, "size": 2, "modified_at": "t"},
]


@pytest.mark.parametrize(
    ("name", "digest"),
    [
        ("llama3.2:1b", "a" * 64),
        ("library/llama3.2:1b", "a" * 64),
        ("LLAMA3.2:1b", "a" * 64),
        ("127.0.0.1:25000/mlops/tiny-a", "b" * 64),
        ("llama3.2", None),
        ("127.0.0.1:25000/mlops/tiny-b", None),
    ],
)
def test_find_model(name: str, digest: str | None) -> None:
    entry = om.find_model(TAGS, name)
    assert (entry or {}).get("digest") == digest


# --------------------------------------------------------------------------------------
# Digests
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("sha256:" + "A" * 64, "a" * 64),
        ("a" * 64, "a" * 64),
        ("103b7bf2e96b", "103b7bf2e96b"),
        (None, None),
        ("", None),
    ],
)
def test_pinned_digests(value: str | None, expected: str | None) -> None:
    assert om.parse_pinned_digest(value) == expected


@pytest.mark.parametrize("value", ["sha256:xyz", "103b7bf2e9", "a" * 65, "md5:" + "a" * 32])
def test_bad_pinned_digests(value: str) -> None:
    with pytest.raises(ModelParameterError, match="digest"):
        om.parse_pinned_digest(value)


def test_digest_matching() -> None:
    assert om.digest_matches(None, None)
    assert om.digest_matches("103b7bf2e96b", "103b7bf2e96b" + "0" * 52)
    assert not om.digest_matches("103b7bf2e96c", "103b7bf2e96b" + "0" * 52)
    assert not om.digest_matches("103b7bf2e96b", None)
