# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubernetes client for the collection's watch modules.

PRIVATE: this file may change at any time; the public surface is the modules.

The connection options, their K8S_AUTH_* environment variables and the way a
kubeconfig / in-cluster config / host+token is chosen are kubernetes.core's own
(``AUTH_ARG_SPEC`` and ``get_api_client``), so a task that works with
kubernetes.core.k8s works with these modules, including AWX's Kubernetes
credential (K8S_AUTH_HOST, K8S_AUTH_API_KEY, K8S_AUTH_VERIFY_SSL) without a
kubeconfig. We then talk to the API through the plain ``ApiClient`` with raw
JSON (``_preload_content=False``): watches need the byte stream, and dicts are
what the modules return anyway.
"""

from __future__ import annotations

import copy
import json
import traceback
from typing import Any, Callable, Iterator, Mapping

from ansible.module_utils.basic import missing_required_lib

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule

    HAS_K8S_CORE = True
    K8S_CORE_IMPORT_ERROR: str | None = None
except ImportError:  # pragma: no cover - the collection dependency is missing
    HAS_K8S_CORE = False
    K8S_CORE_IMPORT_ERROR = traceback.format_exc()
    AUTH_ARG_SPEC = {}
    AnsibleK8SModule = None  # type: ignore[assignment,misc]

try:
    from kubernetes.client.exceptions import ApiException

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR: str | None = None
except ImportError:  # pragma: no cover - handled in module setup
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

    class ApiException(Exception):  # type: ignore[no-redef]
        status = 0
        reason = ""
        body = ""


class K8sWatchError(Exception):
    """Root of the collection's Kubernetes errors; the modules turn it into fail_json in one place."""

    def __init__(self, msg: str, **result: Any) -> None:
        super().__init__(msg)
        self.msg = msg
        self.result = result


class K8sApiError(K8sWatchError):
    """The API server answered with an error status."""

    def __init__(self, msg: str, status: int = 0, reason: str = "", **result: Any) -> None:
        super().__init__(msg, **result)
        self.status = status
        self.reason = reason


class K8sNotFound(K8sApiError):
    """The object does not exist."""


class K8sTimeout(K8sWatchError):
    """A wait did not reach its target in time."""


class K8sInputError(K8sWatchError):
    """The module's parameters do not make sense (checked before anything is changed)."""


def auth_argspec() -> dict[str, Any]:
    """kubernetes.core's connection options, unchanged (documented by kubernetes.core.k8s_auth_options)."""
    return copy.deepcopy(AUTH_ARG_SPEC)


def new_module(argument_spec: dict[str, Any], **kwargs: Any) -> Any:
    """An AnsibleK8SModule (kubernetes.core's wrapper, which checks the kubernetes library) over AnsibleModule."""
    from ansible.module_utils.basic import AnsibleModule

    if not HAS_K8S_CORE:
        module = AnsibleModule(argument_spec=argument_spec, **kwargs)
        module.fail_json(msg=missing_required_lib("the kubernetes.core collection"), exception=K8S_CORE_IMPORT_ERROR)
    return AnsibleK8SModule(module_class=AnsibleModule, argument_spec=argument_spec, check_pyyaml=False, **kwargs)


def _api_error(exc: ApiException, what: str) -> K8sApiError:
    status = int(getattr(exc, "status", 0) or 0)
    reason = str(getattr(exc, "reason", "") or "")
    detail = reason
    body = getattr(exc, "body", None)
    if body:
        try:
            detail = json.loads(body).get("message") or reason
        except (ValueError, AttributeError):
            detail = str(body)[:300]
    cls = K8sNotFound if status == 404 else K8sApiError
    return cls(f"{what}: HTTP {status} {detail}".rstrip(), status=status, reason=reason)


class K8sClient:
    """Raw-JSON access to the few endpoints the watch modules use; records each call in ``api_calls``."""

    def __init__(self, api_client: Any, request_timeout: float = 30.0) -> None:
        self.api_client = api_client
        self.request_timeout = request_timeout
        self.api_calls: list[str] = []

    @classmethod
    def from_module(cls, module: Any) -> "K8sClient":
        """Build from a module's connection options (or K8S_AUTH_* / kubeconfig / in-cluster), as kubernetes.core does."""
        try:
            k8s = get_api_client(module=module)
        except Exception as exc:  # kubernetes.core raises CoreException and the config loaders their own
            raise K8sWatchError(f"Could not create the Kubernetes API client: {exc}") from exc
        return cls(k8s.client.client)

    # -- plumbing -----------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        what: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        stream: bool = False,
        timeout: float | tuple[float, float] | None = None,
    ) -> Any:
        params = [(k, v) for k, v in (query or {}).items() if v is not None]
        self.api_calls.append(f"{method} {path}" + ("?" + "&".join(f"{k}={v}" for k, v in params) if params else ""))
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        try:
            request = self.api_client.param_serialize(method, path, query_params=params, header_params=headers, body=body, auth_settings=["BearerToken"])
            resp = self.api_client.call_api(*request, _request_timeout=timeout if timeout is not None else self.request_timeout)
        except ApiException as exc:
            raise _api_error(exc, what) from exc
        raw = resp.response  # the urllib3 response, not read yet
        if not 200 <= resp.status <= 299:
            data = raw.data
            exc = ApiException(status=resp.status, reason=resp.reason)
            exc.body = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
            raise _api_error(exc, what)
        if stream:
            return raw
        data = raw.data
        return json.loads(data) if data else {}

    def get(self, path: str, what: str, query: Mapping[str, Any] | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._call("GET", path, what, query)
        return result

    def post(self, path: str, body: Any, what: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call("POST", path, what, body=body)
        return result

    def patch(self, path: str, body: Any, what: str, patch_type: str = "application/merge-patch+json", field_manager: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._call("PATCH", path, what, {"fieldManager": field_manager}, body=body, content_type=patch_type)
        return result

    def stream(self, path: str, what: str, query: Mapping[str, Any], read_timeout: float) -> Any:
        """Open a streaming GET (a watch or a log follow); the caller reads and closes the urllib3 response."""
        return self._call("GET", path, what, query, stream=True, timeout=(10.0, read_timeout))

    # -- typed paths ---------------------------------------------------------------------------
    @staticmethod
    def deployment_path(namespace: str, name: str = "") -> str:
        return f"/apis/apps/v1/namespaces/{namespace}/deployments" + (f"/{name}" if name else "")

    @staticmethod
    def pods_path(namespace: str, name: str = "") -> str:
        return f"/api/v1/namespaces/{namespace}/pods" + (f"/{name}" if name else "")

    @staticmethod
    def events_path(namespace: str) -> str:
        return f"/api/v1/namespaces/{namespace}/events"

    def read_deployment(self, namespace: str, name: str) -> dict[str, Any]:
        return self.get(self.deployment_path(namespace, name), f"Deployment {namespace}/{name}")

    def list_pods(self, namespace: str, selector: str | None = None) -> dict[str, Any]:
        return self.get(self.pods_path(namespace), f"Pods in {namespace}", {"labelSelector": selector})

    def list_events(self, namespace: str, field_selector: str | None = None) -> dict[str, Any]:
        return self.get(self.events_path(namespace), f"Events in {namespace}", {"fieldSelector": field_selector})


def iter_lines(resp: Any) -> Iterator[str]:
    """Lines of a streaming response as they arrive (a watch event per line, or a log line)."""
    buf = b""
    for chunk in resp.stream(amt=None, decode_content=False):
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield line.decode("utf-8", errors="replace")
    if buf:
        yield buf.decode("utf-8", errors="replace")


def close_stream(resp: Any) -> None:
    """Unblock a reader of ``resp`` from another thread and release it."""
    try:
        resp.shutdown()  # urllib3 >= 2.3: shuts the socket down, a blocked read returns
    except Exception:  # noqa: BLE001 - best effort on older urllib3 / closed responses
        pass
    try:
        resp.close()
    except Exception:  # noqa: BLE001
        pass


def check_input(check: Callable[[Mapping[str, Any]], Any], params: Mapping[str, Any]) -> None:
    """Run a parameter check whose ValueError names the parameter, as the module's input error."""
    try:
        check(params)
    except ValueError as exc:
        raise K8sInputError(str(exc)) from exc


def run_k8s_module(module: Any, body: Any, check: Callable[[Mapping[str, Any]], Any] | None = None) -> None:
    """Check the module's own parameters, then run ``body(module, client)`` (returning the result dict); errors to fail_json, once.

    The check comes before the client exists, so a bad parameter is reported as such even when the cluster is unreachable.
    """
    try:
        if check is not None:
            check_input(check, module.params)
        client = K8sClient.from_module(module)
        result = body(module, client)
    except K8sWatchError as exc:
        extra = _warned(module, dict(exc.result))
        module.fail_json(msg=exc.msg, **extra)
    except Exception as exc:  # noqa: BLE001 - anything else is a bug: show it with its traceback
        module.fail_json(msg=f"Unexpected error talking to Kubernetes: {exc}", exception=traceback.format_exc())
    else:
        module.exit_json(**_warned(module, result))


def _warned(module: Any, result: dict[str, Any]) -> dict[str, Any]:
    """Hand the result's ``warnings`` to ``module.warn`` (returning them in the result is deprecated)."""
    for warning in result.pop("warnings", None) or []:
        module.warn(warning)
    return result
