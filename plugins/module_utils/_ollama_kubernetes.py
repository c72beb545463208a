# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Ollama reached through the Kubernetes API server's proxy: the ``kubernetes`` option of every Ollama module.

PRIVATE: this file is not part of the collection's public API and may change at any time.
The public surface is the ``kubernetes`` option (``mlops.ollama.ollama_connection`` fragment)
and ``ollama-health --service/--pod``.

``kubernetes_route(options)`` turns the option into a ``KubernetesRoute``: the proxy URL of a
Service (``services/<name>:<port>/proxy``) or of a pod (``pods/<name>:<port>/proxy``) and how
to authenticate to the API server. The credentials are chosen as kubernetes.core chooses them
(host with api_key or a client certificate; else kubeconfig and context; else the in-cluster
service account, then the default kubeconfig), from the same ``K8S_AUTH_*`` environment
variables, so a play that works with kubernetes.core.k8s works here. Nothing is sent while
the route is built: the kubeconfig is read, the API server is not asked.

``route.hop_error(...)`` tells an answer of the API server or its proxy (a ``Status`` object:
credentials refused, a missing RBAC verb, no ready endpoint, a pod that is not running) from
one of Ollama itself (``{"error": ...}``), so a failure names the hop that failed.
"""

from __future__ import annotations

import functools
import json
import os
import ssl
import traceback
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_errors import (
    OllamaAuthError,
    OllamaError,
    OllamaNotFound,
    OllamaParameterError,
    OllamaRequestError,
    OllamaUnreachable,
)
from ansible_collections.mlops.ollama.plugins.module_utils._values import is_k8s_name, is_port

try:
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config

    HAS_KUBERNETES = True
    KUBERNETES_IMPORT_ERROR: str | None = None
except ImportError:  # pragma: no cover - the url option works without it
    HAS_KUBERNETES = False
    KUBERNETES_IMPORT_ERROR = traceback.format_exc()

try:  # the argument spec's env fallback; the standalone command reads the same variables itself
    from ansible.module_utils.basic import env_fallback as _ansible_env_fallback
except ImportError:  # pragma: no cover - only scripts/ollama-health runs without Ansible
    _ansible_env_fallback = None

DEFAULT_PORT = 11434
DEFAULT_NAMESPACE = "ml"

#: the credentials' option names and the environment variables kubernetes.core reads for them
CREDENTIAL_ENV = {
    "kubeconfig": "K8S_AUTH_KUBECONFIG",
    "context": "K8S_AUTH_CONTEXT",
    "host": "K8S_AUTH_HOST",
    "api_key": "K8S_AUTH_API_KEY",
    "validate_certs": "K8S_AUTH_VERIFY_SSL",
    "ca_cert": "K8S_AUTH_SSL_CA_CERT",
    "client_cert": "K8S_AUTH_CERT_FILE",
    "client_key": "K8S_AUTH_KEY_FILE",
}


def _env(name: str) -> dict[str, Any]:
    return {"fallback": (_ansible_env_fallback, [CREDENTIAL_ENV[name]])} if _ansible_env_fallback is not None else {}


# The suboptions of the ``kubernetes`` option, documented by the ``mlops.ollama.ollama_connection`` fragment.
KUBERNETES_OPTIONS: dict[str, dict[str, Any]] = {
    "service": {"type": "str"},
    "pod": {"type": "str"},
    "pod_selector": {"type": "str"},
    "namespace": {"type": "str", "default": DEFAULT_NAMESPACE},
    "port": {"type": "int", "default": DEFAULT_PORT},
    "kubeconfig": {"type": "path", **_env("kubeconfig")},
    "context": {"type": "str", **_env("context")},
    "host": {"type": "str", **_env("host")},
    "api_key": {"type": "str", "no_log": True, **_env("api_key")},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"], **_env("validate_certs")},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"], **_env("ca_cert")},
    "client_cert": {"type": "path", "aliases": ["cert_file"], **_env("client_cert")},
    "client_key": {"type": "path", "aliases": ["key_file"], **_env("client_key")},
}


def options_from_environment(given: dict[str, Any]) -> dict[str, Any]:
    """``given`` with every credential it leaves unset read from its ``K8S_AUTH_*`` variable (for the command, which has no argument spec)."""
    options = dict(given)
    for name, variable in CREDENTIAL_ENV.items():
        value = os.environ.get(variable)
        if options.get(name) is None and value:
            options[name] = value.strip().lower() not in ("0", "false", "no", "off") if name == "validate_certs" else value
    return options


# The RBAC verb the API server checks for a proxied request of each HTTP method.
_PROXY_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True)
class KubernetesRoute:
    """Where requests go (``url``, the proxy's base) and how they authenticate; ``endpoint`` is the text to print."""

    kind: str  # "service" or "pod"
    name: str
    namespace: str
    port: int
    api_server: str
    url: str
    headers: dict[str, str] = field(repr=False)
    verify: bool | ssl.SSLContext = field(repr=False)

    @property
    def endpoint(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}:{self.port} through the Kubernetes API at {self.api_server}"

    @property
    def resource(self) -> str:
        return f"{self.kind}s/proxy"

    def rbac_hint(self, method: str) -> str:
        verb = _PROXY_VERBS.get(method.upper(), method.lower())
        return (
            f"grant the identity the {verb!r} verb on {self.resource!r} in namespace {self.namespace} (a Role rule with "
            f"resources: [{self.resource}] and verbs: [get, create, delete] covers every Ollama call); "
            "k3s_ml_namespace's automation Role has it"
        )

    def hop_error(self, status: int, body: str, *, method: str, model: str | None, request: str) -> OllamaError | None:
        """The error of an answer the API server or its proxy gave (a ``Status`` object), or None when Ollama answered."""
        said = _status_message(body)
        if said is None:
            return None
        common: dict[str, Any] = {"endpoint": self.endpoint, "model": model, "server_message": said, "status_code": status, "request": request}
        if status == 401:
            return OllamaAuthError(
                "the Kubernetes API server did not accept the credentials (HTTP 401)",
                hint="check kubeconfig and context, or K8S_AUTH_API_KEY: the token may have expired or belong to another cluster",
                **common,
            )
        if status == 403:
            return OllamaAuthError(
                f"the Kubernetes API server forbids this identity to proxy to the {self.kind} (HTTP 403)", hint=self.rbac_hint(method), **common
            )
        if status == 404:  # Ollama's own 404s are {"error": ...}: a Status means the object is not there
            return OllamaNotFound(
                f"the Kubernetes API server has no {self.kind} {self.name} in namespace {self.namespace} (HTTP 404)",
                hint=f"check the {self.kind} name and the namespace (kubectl -n {self.namespace} get {self.kind}s)",
                **common,
            )
        if status in (502, 503):
            what = (
                "no pod behind the Service is ready"
                if "no endpoints available" in said
                else f"the proxy could not reach Ollama in the {self.kind}"
            )
            return OllamaUnreachable(
                f"the Kubernetes API server's proxy failed: {what} (HTTP {status})",
                hint=f"check the pods behind it: kubectl -n {self.namespace} get pods -o wide, and their events and logs",
                retryable=True,
                **common,
            )
        return OllamaRequestError(
            f"the Kubernetes API server's proxy refused the request (HTTP {status})",
            hint=f"check that the {self.kind} is running and serves Ollama on port {self.port}",
            retryable=status >= 500,
            **common,
        )

    def unreachable_hint(self) -> str:
        return f"check that the Kubernetes API server {self.api_server} is reachable from the host this task runs on (kubeconfig, context or K8S_AUTH_HOST)"


def _status_message(body: str) -> str | None:
    """The message of a Kubernetes ``Status`` body, or None for anything else (Ollama answers ``{"error": ...}``)."""
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("kind") != "Status" or "apiVersion" not in data:
        return None
    return str(data.get("message") or data.get("reason") or "")


def _proxy_url(base: str, namespace: str, kind: str, name: str, port: int) -> str:
    return f"{base.rstrip('/')}/api/v1/namespaces/{quote(namespace)}/{kind}s/{quote(name)}:{port}/proxy"


def _fail(message: str) -> OllamaParameterError:
    return OllamaParameterError(message)


def check_target(options: dict[str, Any]) -> tuple[str, str, str, int]:
    """``(kind, name, namespace, port)`` of the ``kubernetes`` option, or ``OllamaParameterError`` naming the suboption."""
    if not isinstance(options, dict):
        raise _fail(f"kubernetes must be a dictionary such as {{service: ollama, namespace: ml}}, got {options!r}")
    service, pod, selector = options.get("service"), options.get("pod"), options.get("pod_selector")
    if sum(1 for given in (service, pod, selector) if given) != 1:
        raise _fail(
            "kubernetes needs exactly one of service (the Ollama Service, for example ollama), pod (one pod's name) and "
            "pod_selector (every running pod of a label selector)"
        )
    if selector:
        raise _fail(
            f"kubernetes.pod_selector={selector!r} names every pod of a selector: mlops.ollama.ollama_models and ollama_health act on each "
            "of them, this module talks to one endpoint; give kubernetes.service or kubernetes.pod"
        )
    kind, name = ("service", service) if service else ("pod", pod)
    namespace = options.get("namespace") or DEFAULT_NAMESPACE
    port = DEFAULT_PORT if options.get("port") is None else options.get("port")
    if not is_k8s_name(name):
        raise _fail(f"kubernetes.{kind}={name!r} is not a Kubernetes name: lowercase letters, digits and '-', at most 253 characters")
    if not is_k8s_name(namespace, label=True):
        raise _fail(f"kubernetes.namespace={namespace!r} is not a namespace name: lowercase letters, digits and '-', at most 63 characters")
    if not is_port(port):
        raise _fail(f"kubernetes.port={port!r} is not a port: give the Service's or the container's port number, 1 to 65535")
    return kind, name, namespace, int(port)


def kubernetes_route(options: dict[str, Any]) -> KubernetesRoute:
    """The route of the ``kubernetes`` option (see the file's docstring); ``OllamaParameterError`` on a bad value."""
    kind, name, namespace, port = check_target(options)
    access = _api_access(options)
    return KubernetesRoute(
        kind=kind,
        name=name,
        namespace=namespace,
        port=port,
        api_server=access.host,
        url=_proxy_url(access.host, namespace, kind, name, port),
        headers=access.headers,
        verify=access.verify,
    )


@dataclass(frozen=True)
class _ApiAccess:
    host: str
    headers: dict[str, str] = field(repr=False)
    verify: bool | ssl.SSLContext = field(repr=False)


def _api_access(options: dict[str, Any]) -> _ApiAccess:
    """The API server and its credentials, read once per process for the same credential options.

    A module builds a route to check its options, then its client, then one per pod of a selector: the kubeconfig
    (and an exec credential plugin behind it) is read for the first only.
    """
    given = tuple((name, options.get(name)) for name in CREDENTIAL_ENV)
    return _cached_api_access(given, os.environ.get("KUBECONFIG"))


@functools.lru_cache(maxsize=8)
def _cached_api_access(given: tuple[tuple[str, Any], ...], default_kubeconfig: str | None) -> _ApiAccess:
    del default_kubeconfig  # part of the cache key only: the default kubeconfig's path comes from the environment
    options = dict(given)
    if not HAS_KUBERNETES:
        raise _fail(f"the kubernetes option needs the kubernetes Python library (pip install kubernetes): {KUBERNETES_IMPORT_ERROR}")
    configuration = _api_configuration(options)
    host = (configuration.host or "").rstrip("/")
    if not host.startswith(("https://", "http://")):
        raise _fail(f"the Kubernetes API server address {host!r} is not a URL: set kubernetes.host (K8S_AUTH_HOST) or a kubeconfig with a server")
    return _ApiAccess(host, _auth_headers(configuration), _tls(configuration))


# --------------------------------------------------------------------------------------
# Every pod of a selector
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PodState:
    """One pod a selector matched: ``running`` when the proxy can reach it (Running, an IP, not being deleted)."""

    name: str
    phase: str
    ready: bool
    running: bool


def one_pod_options(options: dict[str, Any], pod: str) -> dict[str, Any]:
    """The ``kubernetes`` option of a selector, narrowed to one of its pods."""
    return {**options, "pod_selector": None, "service": None, "pod": pod}


def check_selector(options: dict[str, Any]) -> str:
    """The selector of a ``kubernetes`` option for every pod, every other suboption checked as for one pod."""
    selector = options.get("pod_selector") if isinstance(options, dict) else None
    if not isinstance(selector, str) or not selector.strip() or any(c.isspace() for c in selector.strip()):
        raise _fail(f"kubernetes.pod_selector={selector!r} must be a label selector without spaces, such as app.kubernetes.io/name=ollama")
    if options.get("service") or options.get("pod"):
        raise _fail("kubernetes.pod_selector is given with service or pod: give one of them")
    check_target(one_pod_options(options, "pod"))
    return selector.strip()


def select_pods(options: dict[str, Any], *, timeout: float) -> tuple[str, list[PodState]]:
    """The pods of ``kubernetes.pod_selector`` (sorted by name) and the text naming them; one Kubernetes request."""
    import httpx

    selector = check_selector(options)
    namespace = options.get("namespace") or DEFAULT_NAMESPACE
    access = _api_access(options)
    where = f"pods {selector} in namespace {namespace} through the Kubernetes API at {access.host}"
    request = f"GET /api/v1/namespaces/{namespace}/pods?labelSelector={selector}"
    try:
        with httpx.Client(headers=access.headers, verify=access.verify, timeout=timeout) as api:
            reply = api.get(f"{access.host}/api/v1/namespaces/{quote(namespace)}/pods", params={"labelSelector": selector})
    except httpx.HTTPError as exc:
        raise OllamaUnreachable(
            f"could not list the pods at the Kubernetes API server: {exc}", endpoint=where, request=request,
            hint="check that the API server is reachable (kubeconfig, context or K8S_AUTH_HOST)",
        ) from None
    if reply.status_code in (401, 403):
        raise OllamaAuthError(
            f"the Kubernetes API server refused to list the pods (HTTP {reply.status_code})",
            endpoint=where, request=request, status_code=reply.status_code, server_message=_status_message(reply.text),
            hint=f"grant the identity the 'list' verb on 'pods' in namespace {namespace} (k3s_ml_namespace's automation Role has it)",
        )
    if not reply.is_success:
        raise OllamaRequestError(
            f"the Kubernetes API server did not list the pods (HTTP {reply.status_code})", endpoint=where, request=request,
            status_code=reply.status_code, server_message=_status_message(reply.text) or reply.text[:300],
            hint="check kubernetes.pod_selector (a label selector such as app.kubernetes.io/name=ollama) and the namespace",
        )
    pods = [_pod_state(item) for item in reply.json().get("items") or []]
    return where, sorted(pods, key=lambda p: p.name)


def _pod_state(pod: dict[str, Any]) -> PodState:
    status = pod.get("status") or {}
    phase = str(status.get("phase") or "Unknown")
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    running = phase == "Running" and bool(status.get("podIP")) and not (pod.get("metadata") or {}).get("deletionTimestamp")
    return PodState(name=str(pod["metadata"]["name"]), phase=phase, ready=ready, running=running)


def _given(options: dict[str, Any], *names: str) -> bool:
    return all(options.get(name) not in (None, "") for name in names)


def _api_configuration(options: dict[str, Any]) -> Any:
    """kubernetes.core's choice of credentials (its ``_create_configuration``), with this option's names."""
    configuration = k8s_client.Configuration()
    enough = _given(options, "host", "api_key") or _given(options, "host", "client_cert", "client_key")
    try:
        if enough:
            pass
        elif _given(options, "kubeconfig") or _given(options, "context"):
            k8s_config.load_kube_config(config_file=options.get("kubeconfig"), context=options.get("context"), client_configuration=configuration)
        else:
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)
            except k8s_config.ConfigException:
                k8s_config.load_kube_config(client_configuration=configuration)
    except (k8s_config.ConfigException, OSError, ValueError, TypeError) as exc:
        raise _fail(
            f"no Kubernetes credentials for the kubernetes option: {exc}. Set kubernetes.kubeconfig (K8S_AUTH_KUBECONFIG) and "
            "kubernetes.context, or kubernetes.host with kubernetes.api_key (K8S_AUTH_HOST, K8S_AUTH_API_KEY)"
        ) from None
    if _given(options, "host"):
        configuration.host = str(options["host"]).rstrip("/")
    if _given(options, "api_key"):
        configuration.api_key = {"authorization": f"Bearer {options['api_key']}"}
        configuration.api_key_prefix = {}
    for option, attribute in (("ca_cert", "ssl_ca_cert"), ("client_cert", "cert_file"), ("client_key", "key_file")):
        if _given(options, option):
            setattr(configuration, attribute, options[option])
    if options.get("validate_certs") is not None:
        configuration.verify_ssl = bool(options["validate_certs"])
    return configuration


def _auth_headers(configuration: Any) -> dict[str, str]:
    refresh = getattr(configuration, "refresh_api_key_hook", None)
    if refresh is not None:  # an exec or OIDC kubeconfig user: the token is made now
        refresh(configuration)
    token = (configuration.api_key or {}).get("authorization") or (configuration.api_key or {}).get("BearerToken")
    if not token:
        return {}
    prefix = (configuration.api_key_prefix or {}).get("authorization")
    return {"Authorization": f"{prefix} {token}" if prefix and not token.startswith(prefix) else token}


def _tls(configuration: Any) -> bool | ssl.SSLContext:
    try:
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    except (OSError, ssl.SSLError) as exc:
        raise _fail(f"the Kubernetes credentials' certificate files could not be read: {exc}") from None
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
