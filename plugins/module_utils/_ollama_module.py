# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one way an Ollama module runs: argument spec, libraries, parameter checks, client, errors, result.

PRIVATE: this file is not part of the collection's public API and may change at
any time. The public surfaces built on it are the ``mlops.ollama.ollama_model``,
``ollama_models``, ``ollama_model_info`` and ``ollama_health`` modules.

A module builds its ``AnsibleModule`` from ``argument_spec(own)`` and calls
``run_ollama_module(module, prepare, execute)``:

1. httpx (and jmespath, when ``query`` is set) must be importable;
2. the connection options, then ``prepare(params, check_mode)``, check every option and
   return what to do; nothing has been sent and no client exists yet, so a bad value
   fails naming the option and nothing else happens;
3. the client comes from ``client_factory`` (``OllamaClient.from_module_params``);
4. ``execute(run, prepared)`` returns the result; it may call ``run.fail(...)`` to fail
   with a partial result (what was done before an error);
5. ``OllamaError`` becomes ``fail_json`` here, with the structured error; any other
   exception is a bug and fails as "An unexpected error occurred" with its traceback.
"""

from __future__ import annotations

import copy
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import (
    CONNECTION_ARGSPEC,
    HAS_HTTPX,
    HTTPX_IMPORT_ERROR,
    OllamaClient,
    OllamaError,
    OllamaParameterError,
    error_result,
)
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_connection import connection_settings, module_connection_options
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_info import HAS_JMESPATH, JMESPATH_IMPORT_ERROR
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_kubernetes import check_selector, one_pod_options, select_pods

if TYPE_CHECKING:  # pragma: no cover
    from ansible.module_utils.basic import AnsibleModule

ClientFactory = Callable[[dict[str, Any]], OllamaClient]
Prepared = TypeVar("Prepared")


def argument_spec(own: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The connection options plus a module's own (deep copies: Ansible mutates specs)."""
    spec = copy.deepcopy(CONNECTION_ARGSPEC)
    spec.update(copy.deepcopy(own))
    return spec


def check_connection_params(params: dict[str, Any]) -> None:
    """The connection options, checked by the client's own rule before any client exists (``OllamaParameterError``)."""

    connection_settings(**module_connection_options(params))


class ModuleRun:
    """What ``execute`` works with: the module's options, the client, and the one way to fail."""

    def __init__(self, module: AnsibleModule, client: OllamaClient, client_factory: ClientFactory, params: dict[str, Any] | None = None) -> None:
        self.module = module
        self.client = client
        self._factory = client_factory
        self._params = params

    @property
    def params(self) -> dict[str, Any]:
        return self._params if self._params is not None else self.module.params

    @property
    def check_mode(self) -> bool:
        return bool(self.module.check_mode)

    @property
    def diff(self) -> bool:
        return bool(self.module._diff)

    def warn(self, message: str) -> None:
        self.module.warn(message)

    def another_client(self, **overrides: Any) -> OllamaClient:
        """A second client on the same endpoint, with some options changed (``retries=0``)."""
        return self._factory({**self.params, **overrides})

    def fail(self, error: BaseException | str, **result: Any) -> NoReturn:
        forward_warnings(self.module, self.client)
        fail(self.module, error, **result)


class _PodFailed(Exception):
    """``run.fail`` of one pod of a selector: the other pods still run, the module fails once at the end."""

    def __init__(self, error: BaseException | str, result: dict[str, Any]) -> None:
        super().__init__(str(error))
        self.error = error
        self.result = result


class _PodRun(ModuleRun):
    def fail(self, error: BaseException | str, **result: Any) -> NoReturn:
        raise _PodFailed(error, result)


def one_pod_params(params: dict[str, Any], pod: str) -> dict[str, Any]:
    """A module's options with its ``kubernetes.pod_selector`` narrowed to one pod."""
    return {**params, "kubernetes": one_pod_options(params["kubernetes"], pod)}


def _pod_failure(exc: BaseException, client: OllamaClient | None, result: dict[str, Any]) -> dict[str, Any]:
    shown = error_result(exc) if isinstance(exc, OllamaError) else {"msg": str(exc)}
    return {**result, **shown, "failed": True, "api_calls": list(client.requests_made) if client is not None else []}


def run_every_pod(module: AnsibleModule, prepared: Any, execute: Callable[[ModuleRun, Any], dict[str, Any]], factory: ClientFactory) -> NoReturn:
    """``execute`` once per running pod of ``kubernetes.pod_selector``, each through its own proxy; one result with ``pods``.

    A pod that fails does not stop the others; the module then fails naming each failed pod. Pods that match but
    cannot be reached (Pending, being deleted) are listed in ``pods_not_running`` with a warning.
    """
    params = module.params
    try:
        where, pods = select_pods(params["kubernetes"], timeout=float(params.get("timeout") or 60))
    except OllamaError as exc:
        fail(module, exc)
    running = [p for p in pods if p.running]
    idle = [p.name for p in pods if not p.running]
    if not running:
        states = ", ".join(f"{p.name} {p.phase}" for p in pods) or "none matched"
        fail(module, f"no running pod to talk to among the {where} ({states}): check the Deployment's pods and kubernetes.pod_selector")
    if idle:
        module.warn(f"pods not running, left out: {', '.join(idle)}")
    results: dict[str, dict[str, Any]] = {}
    for pod in running:
        pod_params = one_pod_params(params, pod.name)
        client: OllamaClient | None = None
        try:
            client = factory(pod_params)
            results[pod.name] = {**execute(_PodRun(module, client, factory, pod_params), prepared), "ready": pod.ready}
        except _PodFailed as exc:
            results[pod.name] = _pod_failure(exc.error, client, exc.result)
        except (OllamaError, OllamaParameterError) as exc:
            results[pod.name] = _pod_failure(exc, client, {})
        forward_warnings(module, client)
    failed = [name for name, result in results.items() if result.get("failed")]
    summary = {
        "changed": any(r.get("changed") for r in results.values()),
        "pods": results,
        "pods_not_running": idle,
        "api_calls": [f"{name}: {call}" for name, result in results.items() for call in result.get("api_calls") or []],
    }
    checked = [r for r in results.values() if isinstance(r.get("status_code"), int)]
    if checked:  # ollama_health: the worst pod's verdict is the module's
        worst = max(checked, key=lambda r: r["status_code"])
        summary.update(
            status=worst.get("status"),
            status_code=worst["status_code"],
            message="; ".join(f"{name}: {result.get('message') or result.get('status')}" for name, result in results.items()),
            summary=[f"{name}: {line}" for name, result in results.items() for line in result.get("summary") or []],
        )
    if failed:
        detail = "; ".join(f"{name}: {results[name].get('msg')}" for name in failed)
        module.fail_json(msg=f"{len(failed)} of {len(running)} pods of the {where} failed: {detail}", **summary)
    module.exit_json(**summary)
    raise AssertionError("exit_json returned")  # pragma: no cover - exit_json exits


def forward_warnings(module: AnsibleModule, client: OllamaClient | None) -> None:
    """The client's warnings (a token over plain http, a redirect followed) shown to the user, before the module ends."""
    for text in getattr(client, "warnings", None) or ():
        module.warn(text)


def fail(module: AnsibleModule, error: BaseException | str, **result: Any) -> NoReturn:
    """The one place an error becomes ``fail_json``."""
    result.setdefault("changed", False)
    if isinstance(error, OllamaError):
        module.fail_json(**error_result(error), exception=traceback.format_exc(), **result)
    if isinstance(error, OSError):
        module.fail_json(msg=f"{error.filename or 'a file'} could not be written: {error.strerror or error}", exception=traceback.format_exc(), **result)
    module.fail_json(msg=str(error), **result)
    raise AssertionError("fail_json returned")  # pragma: no cover - fail_json exits


def require_libraries(module: AnsibleModule) -> None:
    from ansible.module_utils.basic import missing_required_lib

    if not HAS_HTTPX:
        module.fail_json(msg=missing_required_lib("httpx"), exception=HTTPX_IMPORT_ERROR)
    if module.params.get("query") and not HAS_JMESPATH:
        module.fail_json(msg=missing_required_lib("jmespath") + " (needed by the query option)", exception=JMESPATH_IMPORT_ERROR)


def run_ollama_module(
    module: AnsibleModule,
    prepare: Callable[[dict[str, Any], bool], Prepared],
    execute: Callable[[ModuleRun, Prepared], dict[str, Any]],
    *,
    client_factory: ClientFactory | None = None,
    every_pod: bool = False,
) -> NoReturn:
    """Run one Ollama module (see the file's docstring); always ends in ``exit_json`` or ``fail_json``.

    ``every_pod``: the module accepts ``kubernetes.pod_selector`` and then runs once per pod (``run_every_pod``).
    """
    require_libraries(module)
    selector = every_pod and bool((module.params.get("kubernetes") or {}).get("pod_selector"))
    try:
        if selector:
            check_selector(module.params["kubernetes"])
        check_connection_params(one_pod_params(module.params, "pod") if selector else module.params)
        prepared = prepare(module.params, bool(module.check_mode))
    except ValueError as exc:  # ModelParameterError, OllamaParameterError and the value rules' errors
        fail(module, exc)
    factory = client_factory or OllamaClient.from_module_params
    if selector:
        run_every_pod(module, prepared, execute, factory)
    client: OllamaClient | None = None
    try:
        client = factory(module.params)
        result = execute(ModuleRun(module, client, factory), prepared)
    except OllamaParameterError as exc:  # found only when the client first connects: an unreadable ca_path
        forward_warnings(module, client)
        fail(module, exc)
    except OllamaError as exc:
        forward_warnings(module, client)
        fail(module, exc, api_calls=list(client.requests_made) if client is not None else [])
    except Exception as exc:  # noqa: BLE001 - anything else is a bug: fail cleanly, keep the traceback
        forward_warnings(module, client)
        module.fail_json(msg=f"An unexpected error occurred: {type(exc).__name__}: {exc}", exception=traceback.format_exc(), changed=False)
    forward_warnings(module, client)
    module.exit_json(**result)
    raise AssertionError("exit_json returned")  # pragma: no cover - exit_json exits
