# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Read-only facts about an Ollama server: version, models (optionally filtered by JMESPath), details, loaded models.

PRIVATE: this file is not part of the collection's public API and may change at
any time. The public surface built on it is the ``mlops.ollama.ollama_model_info``
module: ``prepare_info`` checks its options before any request and ``execute_info``
gathers the facts through the module runner.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import OllamaClient, OllamaNotFound
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_names import ModelName, ModelParameterError, model_key, parse_model_name

try:
    import jmespath
except ImportError:  # pragma: no cover - exercised by ansible-test's import sanity test
    HAS_JMESPATH = False
    JMESPATH_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_JMESPATH = True
    JMESPATH_IMPORT_ERROR = None

if TYPE_CHECKING:  # pragma: no cover
    from ansible_collections.mlops.ollama.plugins.module_utils._ollama_module import ModuleRun

INFO_SECTIONS = ("version", "models", "details", "loaded")
_QUERY_EXAMPLES = '"[?size > `1000000`]" or "[?contains(name, \'llama\')]"'


@dataclass(frozen=True)
class InfoRequest:
    """What to gather, every option checked."""

    gather: list[str]
    names: list[ModelName]
    all_details: bool
    query: str | None
    include_tensors: bool


def check_query(query: str | None) -> str | None:
    """A JMESPath expression that compiles (needs jmespath), or ``None``."""
    if not query:
        return None
    try:
        jmespath.compile(query)
    except jmespath.exceptions.JMESPathError as exc:
        raise ModelParameterError(f"query {query!r} is not a valid JMESPath expression: {exc}; filter the model list, e.g. {_QUERY_EXAMPLES}") from None
    return query


def prepare_info(params: dict[str, Any], check_mode: bool) -> InfoRequest:
    return InfoRequest(
        gather=list(params["gather"]),
        names=[parse_model_name(n, param=f"models[{i}]") for i, n in enumerate(params["models"] or [])],
        all_details=bool(params["all_details"]),
        query=check_query(params.get("query")),
        include_tensors=bool(params["include_tensors"]),
    )


def execute_info(run: ModuleRun, request: InfoRequest) -> dict[str, Any]:
    try:
        return gather_info(
            run.client,
            gather=request.gather,
            names=request.names,
            all_details=request.all_details,
            query=request.query,
            include_tensors=request.include_tensors,
        )
    except ModelParameterError as exc:  # the query's answer is not a list
        run.fail(exc, changed=False, api_calls=list(run.client.requests_made))


def gather_info(
    client: OllamaClient, *, gather: list[str], names: list[ModelName], all_details: bool, query: str | None, include_tensors: bool
) -> dict[str, Any]:
    """Read-only facts: version, model list (optionally filtered by a JMESPath ``query``), ``/api/show`` details, loaded models."""
    result: dict[str, Any] = {"changed": False}
    if "version" in gather:
        result["version"] = client.version()
    listed: list[dict[str, Any]] | None = None
    if "models" in gather or all_details or query:
        listed = client.tags()
        result["models_total"] = len(listed)
        result["models"] = _queried(listed, query)
    if "details" in gather:
        targets = [n.display for n in names]
        if all_details and listed is not None:
            targets += _more_targets(result["models"] if query else listed, targets)
        result["details"], result["missing"] = _details(client, targets, include_tensors=include_tensors)
    if "loaded" in gather:
        result["loaded"] = client.ps()
    result["api_calls"] = list(client.requests_made)
    return result


def _queried(listed: list[dict[str, Any]], query: str | None) -> Any:
    if not query:
        return listed
    shown = jmespath.search(query, listed)
    if not isinstance(shown, list):
        raise ModelParameterError(f"query {query!r} returned {type(shown).__name__}, not a list; filter the list, e.g. {_QUERY_EXAMPLES}")
    return shown


def _more_targets(source: list[Any], targets: list[str]) -> list[str]:
    """The listed models ``targets`` does not already name (for ``all_details``)."""
    known = {model_key(t) for t in targets}
    extra: list[str] = []
    for entry in source:
        listed_name = entry.get("name") or entry.get("model") if isinstance(entry, dict) else None
        if listed_name and model_key(str(listed_name)) not in known:
            known.add(model_key(str(listed_name)))
            extra.append(str(listed_name))
    return extra


def _details(client: OllamaClient, targets: list[str], *, include_tensors: bool) -> tuple[dict[str, Any], list[str]]:
    details: dict[str, Any] = {}
    missing: list[str] = []
    for name in targets:
        try:
            show = client.show(name)
        except OllamaNotFound:
            details[name] = None
            missing.append(name)
            continue
        if not include_tensors:
            show.pop("tensors", None)
        details[name] = show
    return details, missing
