# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The connection options of every Ollama module, checked once, and where a request may go.

PRIVATE: this file is not part of the collection's public API and may change at
any time. ``_ollama_client`` re-exports ``CONNECTION_ARGSPEC`` and the defaults;
import them from there.

``connection_settings()`` turns the options into a ``ConnectionSettings`` or raises
``OllamaParameterError`` naming the option, before any request or HTTP client is made.
``redirect_refusal()`` is the rule for which 3xx answers the client follows.
Standard library only (httpx URLs are passed in, not imported).
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_errors import OllamaParameterError
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_kubernetes import KUBERNETES_OPTIONS, KubernetesRoute, kubernetes_route
from ansible_collections.mlops.ollama.plugins.module_utils._values import check_duration, check_http_url, redact_url

DEFAULT_URL = "http://ollama.ml.svc.cluster.local:11434"
URL_ENV = "OLLAMA_URL"
TOKEN_ENV = "OLLAMA_API_TOKEN"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_RETRIES = 3
DEFAULT_RETRY_BACKOFF = 1.0
#: redirects followed for one request before it fails
MAX_REDIRECTS = 5

# The connection options of every Ollama module. Documented by the ``mlops.ollama.ollama_connection``
# doc fragment; keep the two in step (ansible-test's validate-modules compares them).
CONNECTION_ARGSPEC: dict[str, dict[str, Any]] = {
    # No default and no env fallback here: an explicit kubernetes option must not meet a url from the environment.
    # module_connection_options applies OLLAMA_URL, then DEFAULT_URL, when neither is given.
    "url": {"type": "str"},
    "kubernetes": {"type": "dict", "options": KUBERNETES_OPTIONS},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    # Read from OLLAMA_API_TOKEN by module_connection_options, for url only: through kubernetes it would replace the
    # API server's credentials.
    "api_token": {"type": "str", "no_log": True},
    "connect_timeout": {"type": "float", "default": DEFAULT_CONNECT_TIMEOUT},
    "timeout": {"type": "float", "default": DEFAULT_READ_TIMEOUT},
    "retries": {"type": "int", "default": DEFAULT_RETRIES},
    "retry_backoff": {"type": "float", "default": DEFAULT_RETRY_BACKOFF},
}


@dataclass(frozen=True)
class ConnectionSettings:
    """Checked connection options. ``url`` holds no credentials; ``endpoint`` is the text to print.

    ``route`` is set when requests go through the Kubernetes API server's proxy: ``url`` is then the proxy's base and
    ``headers`` carry the API server's credentials.
    """

    url: str
    endpoint: str
    validate_certs: bool
    ca_path: str | None
    verify: bool | ssl.SSLContext = field(repr=False)
    api_token: str | None = field(repr=False)
    basic_auth: tuple[str, str] | None = field(repr=False)
    connect_timeout: float
    read_timeout: float
    retries: int
    retry_backoff: float
    warnings: tuple[str, ...] = ()
    route: KubernetesRoute | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)


def _fail(message: str) -> OllamaParameterError:
    return OllamaParameterError(message)


def connection_settings(
    url: Any,
    *,
    validate_certs: Any = True,
    ca_path: Any = None,
    api_token: Any = None,
    connect_timeout: Any = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: Any = DEFAULT_READ_TIMEOUT,
    retries: Any = DEFAULT_RETRIES,
    retry_backoff: Any = DEFAULT_RETRY_BACKOFF,
    kubernetes: dict[str, Any] | None = None,
) -> ConnectionSettings:
    """Check every option (named as the modules name them: ``read_timeout`` is ``timeout``) or raise ``OllamaParameterError``.

    With ``kubernetes`` (and ``url`` None) requests go through the API server's proxy (``_ollama_kubernetes``).
    """
    if kubernetes is not None:
        return _through_kubernetes(
            url, kubernetes, validate_certs=validate_certs, ca_path=ca_path, api_token=api_token,
            connect_timeout=connect_timeout, read_timeout=read_timeout, retries=retries, retry_backoff=retry_backoff,
        )
    try:
        checked = check_http_url(url, "url", example=DEFAULT_URL)
        connect = check_duration(connect_timeout, "connect_timeout")
        read = check_duration(read_timeout, "timeout")
        backoff = check_duration(retry_backoff, "retry_backoff", allow_zero=True)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise _fail(f"retries={retries!r} is not a number of retries: give an integer, 0 or more (0 disables retries)")
    if not isinstance(validate_certs, bool):
        raise _fail(f"validate_certs={validate_certs!r} must be true or false")
    plain_url, basic = _split_credentials(checked)
    token = _check_token(api_token)
    if basic and token:
        raise _fail("url holds a user name and password and api_token is set: give one of them, both would be sent as the Authorization header")
    verify: bool | ssl.SSLContext = validate_certs
    if validate_certs and ca_path:
        verify = _ca_context(ca_path)
    warnings = _clear_text_warnings(plain_url, token=bool(token), basic=bool(basic))
    return ConnectionSettings(
        url=plain_url,
        endpoint=redact_url(checked),
        validate_certs=validate_certs,
        ca_path=ca_path or None,
        verify=verify,
        api_token=token,
        basic_auth=basic,
        connect_timeout=connect,
        read_timeout=read,
        retries=retries,
        retry_backoff=backoff,
        warnings=warnings,
    )


def _through_kubernetes(
    url: Any, kubernetes: dict[str, Any], *, validate_certs: Any, ca_path: Any, api_token: Any, **timing: Any
) -> ConnectionSettings:
    if url:
        raise _fail("url and kubernetes are both set: give url to reach Ollama directly, or kubernetes to reach it through the Kubernetes API, not both")
    if api_token:
        raise _fail(
            "api_token is for a proxy in front of url; through the kubernetes option the API server's credentials are sent instead (kubernetes.api_key)"
        )
    if validate_certs is not True or ca_path:
        raise _fail("validate_certs and ca_path apply to url; through the kubernetes option set kubernetes.validate_certs and kubernetes.ca_cert")
    route = kubernetes_route(kubernetes)
    plain = connection_settings(route.url, **timing)
    return ConnectionSettings(
        url=route.url,
        endpoint=route.endpoint,
        validate_certs=True,
        ca_path=None,
        verify=route.verify,
        api_token=None,
        basic_auth=None,
        connect_timeout=plain.connect_timeout,
        read_timeout=plain.read_timeout,
        retries=plain.retries,
        retry_backoff=plain.retry_backoff,
        route=route,
        headers=dict(route.headers),
    )


def module_connection_options(params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of ``connection_settings`` (and ``OllamaClient``) from a module's options; unset means default.

    Without ``url`` and ``kubernetes`` the URL is ``OLLAMA_URL`` from the environment, then ``DEFAULT_URL``.
    """

    def given(name: str, default: Any) -> Any:
        value = params.get(name)
        return default if value is None else value

    kubernetes = params.get("kubernetes")
    url = params.get("url") or (None if kubernetes is not None else os.environ.get(URL_ENV) or DEFAULT_URL)
    return {
        "url": url,
        "kubernetes": kubernetes,
        "validate_certs": given("validate_certs", True),
        "ca_path": params.get("ca_path"),
        "api_token": params.get("api_token") or (None if kubernetes is not None else os.environ.get(TOKEN_ENV) or None),
        "connect_timeout": given("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        "read_timeout": given("timeout", DEFAULT_READ_TIMEOUT),
        "retries": given("retries", DEFAULT_RETRIES),
        "retry_backoff": given("retry_backoff", DEFAULT_RETRY_BACKOFF),
    }


def _split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """``url`` without ``user:password@``, and those as the pair for HTTP basic authentication.

    Credentials in the URL become basic auth instead of being refused: a proxy with basic
    auth in front of Ollama is common, and the URL form is how users write it. They are
    never kept in the URL the client requests or prints.
    """
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port is not None else "")
    plain = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return plain, (unquote(parts.username or ""), unquote(parts.password or ""))


def _check_token(token: Any) -> str | None:
    if token is None or token == "":
        return None
    if not isinstance(token, str):
        raise _fail(f"api_token must be a string, got a {type(token).__name__}")
    # HTTP header values are ASCII without control characters; httpx would fail mid-request instead.
    # The value itself is never printed.
    if not token.isascii() or any(ord(c) < 0x20 or ord(c) == 0x7F for c in token) or token != token.strip():
        raise _fail(
            "api_token holds a line break, surrounding spaces, a control or a non-ASCII character and cannot be sent in an "
            "HTTP header: remove them (a token read from a file often ends with a newline)"
        )
    return token


def _ca_context(ca_path: Any) -> ssl.SSLContext:
    if not isinstance(ca_path, str):
        raise _fail(f"ca_path must be the path of a PEM CA bundle, got {ca_path!r}")
    if not os.path.exists(ca_path):
        raise _fail(f"ca_path {ca_path!r} does not exist: give the path of a PEM CA bundle on the host the task runs on")
    if os.path.isdir(ca_path):
        raise _fail(f"ca_path {ca_path!r} is a directory: give the PEM CA bundle file itself")
    try:
        return ssl.create_default_context(cafile=ca_path)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise _fail(f"ca_path {ca_path!r} could not be read as a PEM CA bundle: {exc}") from None


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _clear_text_warnings(url: str, *, token: bool, basic: bool) -> tuple[str, ...]:
    parts = urlsplit(url)
    if parts.scheme != "http" or is_loopback(parts.hostname) or not (token or basic):
        return ()
    what = "api_token" if token else "the user name and password in url"
    return (
        f"{what} is sent in clear text over http:// to {parts.hostname}: anyone on the network path can read it. "
        "Use an https:// url, or a loopback address (a port-forward on 127.0.0.1)",
    )


# --------------------------------------------------------------------------------------
# Redirects
# --------------------------------------------------------------------------------------

# 307 and 308 keep the method and the body; 301, 302 and 303 turn a POST into a GET in every client.
_BODY_KEEPING = (307, 308)


def redirect_refusal(method: str, status: int, source: Any, target: Any) -> str | None:
    """Why a ``status`` redirect of ``method`` from ``source`` to ``target`` (httpx URLs) is not followed, or None to follow it.

    Followed: a redirect to the same host that keeps or upgrades the scheme (http to https),
    and keeps the port unless the scheme is upgraded, for GET and HEAD with any 3xx, and for
    other methods only with 307/308. The token goes with the request, so another host is never
    followed, and neither is a downgrade to http.
    """
    if target.userinfo:
        return "the address carries credentials"
    if target.host.lower() != source.host.lower():
        return "it points at another host, and the client never sends api_token or credentials to another host"
    if source.scheme == "https" and target.scheme != "https":
        return "it downgrades https to http"
    if target.scheme == source.scheme and target.port != source.port:
        return "it points at another port"
    if method.upper() not in ("GET", "HEAD") and status not in _BODY_KEEPING:
        return f"HTTP {status} turns {method.upper()} into GET and drops the request body"
    return None
