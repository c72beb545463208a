# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ollama model names and digests: the one rule for what a name means, used by every module, role and script.

PRIVATE: this file is not part of the collection's public API and may change at
any time. Roles reach the rule through the ``mlops.ollama.model_name`` filter;
the ``ollama-health`` CLI ships this file beside its own.

It imports nothing but the standard library, so a script can carry it alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

DEFAULT_REGISTRY = "registry.ollama.ai"
DEFAULT_NAMESPACE = "library"
DEFAULT_TAG = "latest"

# Ollama's own rules (types/model/name.go in v0.11): every part starts with a letter, digit
# or underscore; a registry host may hold dots and a :port, a namespace neither, a model and
# a tag dots but no colon; at most 350 characters for the host and 80 for each other part.
# A registry is only recognised in front of a namespace (``host/namespace/model``): with two
# parts the first is the namespace, as in Ollama.
_HOST = r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,349}"
_NAMESPACE = r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}"
_MODEL = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,79}"
MODEL_NAME_PATTERN = rf"^(?:(?P<registry>{_HOST})/(?=[^/]+/))?(?:(?P<namespace>{_NAMESPACE})/)?(?P<model>{_MODEL})(?::(?P<tag>{_TAG}))?$"
MODEL_NAME_RE = re.compile(MODEL_NAME_PATTERN)
NAME_FORMAT_HELP = "use [registry/][namespace/]model[:tag], e.g. llama3.2:1b, library/qwen2.5:0.5b or registry.example.com:5000/team/model:v1"

_DIGEST_RE = re.compile(r"^(?:sha256:)?([0-9a-f]{12,64})$")


class ModelParameterError(ValueError):
    """Bad input found before any request; ``str()`` names the parameter and the fix."""


@dataclass(frozen=True)
class ModelName:
    """A parsed, valid Ollama model reference."""

    registry: str | None
    namespace: str | None
    model: str
    tag: str

    @property
    def display(self) -> str:
        """The name as ``/api/tags`` lists it (Ollama's ``DisplayShortest``): defaults dropped, tag always shown."""
        registry = self.registry or DEFAULT_REGISTRY
        namespace = self.namespace or DEFAULT_NAMESPACE
        if registry.lower() != DEFAULT_REGISTRY:
            return f"{registry}/{namespace}/{self.model}:{self.tag}"
        if namespace.lower() != DEFAULT_NAMESPACE:
            return f"{namespace}/{self.model}:{self.tag}"
        return f"{self.model}:{self.tag}"

    @property
    def key(self) -> str:
        """What two names must share to be the same model (Ollama compares names case-insensitively)."""
        return self.display.lower()

    @property
    def registry_host(self) -> str:
        return self.registry or DEFAULT_REGISTRY

    @property
    def repository(self) -> str:
        return f"{self.namespace or DEFAULT_NAMESPACE}/{self.model}"

    def __str__(self) -> str:
        return self.display


def _name_problem(value: str) -> str:
    """Why ``value`` is not a valid name, in words (only called when the pattern did not match)."""
    if not value:
        return "it is empty"
    if any(ch.isspace() for ch in value):
        return "it contains whitespace"
    if "://" in value:
        return "it has a URL scheme; name the registry as host[:port] and set insecure: true for a plain-HTTP registry"
    if "@" in value:
        return "digest references (name@sha256:...) are not supported; pin the manifest digest with the digest option instead"
    if value.startswith(("/", ".", "~")) or ".." in value or "\\" in value:
        return "it looks like a path, not a model name"
    last = value.rpartition("/")[2]
    parts = value.split("/")
    if len(parts) > 3:
        return f"it has {len(parts)} parts separated by '/'; at most 3 (registry/namespace/model)"
    if any(not part for part in parts):
        return "it has an empty part between '/'"
    model, sep, tag = last.partition(":")
    if sep and not tag:
        return "the tag after ':' is empty"
    if sep and len(tag) > 80:
        return f"the tag is {len(tag)} characters long; at most 80"
    if len(model) > 80:
        return f"the model part is {len(model)} characters long; at most 80"
    if len(parts) == 2 and ("." in parts[0] or ":" in parts[0]):
        return f"{parts[0]!r} looks like a registry host, but a registry needs a namespace after it (registry/namespace/model)"
    if len(parts) >= 2 and len(parts[-2]) > 80:
        return "the namespace is longer than 80 characters"
    if len(parts) == 3 and len(parts[0]) > 350:
        return "the registry host is longer than 350 characters"
    return "a part starts with a character other than a letter, digit or underscore, or holds a character Ollama does not allow there"


def parse_model_name(value: Any, *, param: str = "name") -> ModelName:
    """Parse and validate a model reference, before any request; ``ModelParameterError`` names ``param``."""
    if not isinstance(value, str):
        raise ModelParameterError(f"{param} must be a string model name, got {type(value).__name__} {value!r}; {NAME_FORMAT_HELP}")
    match = MODEL_NAME_RE.fullmatch(value)  # fullmatch: '$' alone would accept a trailing newline
    if match is None:
        shown = value if len(value) <= 80 else value[:60] + f"... ({len(value)} characters)"
        raise ModelParameterError(f"{param} {shown!r} is not a valid Ollama model name: {_name_problem(value)}; {NAME_FORMAT_HELP}")
    return ModelName(
        registry=match.group("registry"),
        namespace=match.group("namespace"),
        model=match.group("model"),
        tag=match.group("tag") or DEFAULT_TAG,
    )


def parse_registry_host(value: Any, *, param: str = "registry") -> str | None:
    """A registry to pull plain names from: ``host[:port]`` (no scheme, no path); ``None``/empty for the name's own."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.fullmatch(_HOST, value) or "/" in value:
        raise ModelParameterError(
            f"{param} {value!r} is not a registry host: give host[:port] such as registry.example.com:5000, without a scheme "
            "or path (set insecure: true for a plain-HTTP registry)"
        )
    return value


def with_registry(name: ModelName, registry: str | None) -> ModelName:
    """``name`` pulled from ``registry`` when it names no registry of its own (the namespace defaults to ``library``).

    Only a three-part name (``host/namespace/model``) names a registry, as in Ollama: ``llama3.2:1b``,
    ``qwen2.5`` and ``team/model`` all take ``registry``; ``other.host/team/model`` keeps its own.
    """
    if not registry or name.registry is not None:
        return name
    return replace(name, registry=registry, namespace=name.namespace or DEFAULT_NAMESPACE)


def qualified_model_name(value: Any, registry: Any = None, *, param: str = "name") -> str:
    """The display name of ``value`` pulled from ``registry`` (when it names none): what ``/api/tags`` will list."""
    return with_registry(parse_model_name(value, param=param), parse_registry_host(registry)).display


def normalize_model_name(value: str) -> str:
    """``llama3.2`` -> ``llama3.2:latest``; ``registry.ollama.ai/library/x`` -> ``x:latest``. Raises on invalid names."""
    return parse_model_name(value).display


def model_key(name: str) -> str:
    """What two names must share to be the same model, as Ollama compares them (defaults filled in, case ignored).

    Tolerant: a name Ollama would refuse (it can only be a typo in a declaration, or an odd listed entry) is
    compared as written, trimmed and lower-cased, so it matches nothing by accident and raises nothing.
    """
    try:
        return parse_model_name(name).key
    except ModelParameterError:
        return name.strip().lower()


def find_model(tags: Iterable[dict[str, Any]], name: ModelName | str) -> dict[str, Any] | None:
    """The ``/api/tags`` entry for ``name`` (matched as Ollama matches names), or ``None``."""
    key = name.key if isinstance(name, ModelName) else model_key(name)
    for entry in tags:
        for field_name in ("name", "model"):
            listed = entry.get(field_name)
            if isinstance(listed, str) and model_key(listed) == key:
                return entry
    return None


def digest_hex(value: Any) -> str | None:
    """``sha256:abc...`` or ``abc...`` -> ``abc...`` (lower case); ``None`` for anything else."""
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text.startswith("sha256:"):
        text = text[len("sha256:") :]
    return text if re.fullmatch(r"[0-9a-f]{64}", text) else None


def parse_pinned_digest(value: Any, *, param: str = "digest") -> str | None:
    """A pinned manifest digest: the full 64 hex digits (``sha256:`` optional) or a prefix of at least 12 (``ollama list``'s ID)."""
    if value is None or value == "":
        return None
    match = _DIGEST_RE.match(str(value).strip().lower()) if isinstance(value, str) else None
    if match is None:
        raise ModelParameterError(
            f"{param} {value!r} is not a manifest digest: give the sha256 as listed by ollama_model_info (64 hex digits, "
            "'sha256:' optional) or at least its first 12 hex digits (the ID 'ollama list' shows)"
        )
    return match.group(1)


def digest_matches(pinned: str | None, actual: str | None) -> bool:
    return pinned is None or (actual is not None and actual.startswith(pinned))


def model_facts(entry: dict[str, Any] | None) -> dict[str, Any] | None:
    """The returned shape of a model: ``name``, ``digest``, ``size``, ``modified_at``."""
    if entry is None:
        return None
    return {
        "name": entry.get("name") or entry.get("model"),
        "digest": entry.get("digest"),
        "size": entry.get("size"),
        "modified_at": entry.get("modified_at"),
    }


def model_listing(tags: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``{name: digest}`` of a model list, sorted: the ``before`` / ``after`` of diff mode."""
    listing = {str(m.get("name") or m.get("model")): m.get("digest") for m in tags}
    return {"models": dict(sorted(listing.items()))}
