# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Ollama client's exceptions, and how an answer or a stream's error line becomes one.

PRIVATE: this file is not part of the collection's public API and may change at
any time. ``_ollama_client`` re-exports every name here; import them from there.

Classification uses structure only: the HTTP status of Ollama's answer, the type of
a transport exception, and, for the ``{"error": "..."}`` lines of a pull (which carry
no status), Ollama's own format strings matched whole and anchored. No rule looks for
a word or a number anywhere in a message: a host name or a path may hold any of them.
Standard library only.
"""

from __future__ import annotations

import re
import ssl
from typing import Any

__all__ = [
    "OllamaAuthError",
    "OllamaConnectionLost",
    "OllamaError",
    "OllamaNotFound",
    "OllamaParameterError",
    "OllamaProtocolError",
    "OllamaRedirectError",
    "OllamaRegistryError",
    "OllamaRequestError",
    "OllamaServerError",
    "OllamaTimeout",
    "OllamaUnreachable",
    "OllamaVerificationError",
    "error_result",
    "http_error",
    "is_tls_error",
    "stream_error",
]

# Paths whose 5xx answers and {"error": ...} lines are about the upstream registry.
REGISTRY_PATHS = ("/api/pull", "/api/push")


class OllamaError(Exception):
    """Base of every error the client raises.

    ``str(error)`` is the whole message a person needs: what failed, at which endpoint,
    for which model, what the server said, and what to try.
    """

    #: short name of the kind of failure, used in results (``error.kind``)
    kind = "error"
    #: whether repeating the same request may succeed (connection drops, stalls, 5xx)
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        model: str | None = None,
        hint: str = "",
        server_message: str | None = None,
        status_code: int | None = None,
        request: str | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.model = model
        self.hint = hint
        self.server_message = server_message
        self.status_code = status_code
        self.request = request
        if retryable is not None:  # one instance may differ from its class (a registry 400 is not worth retrying)
            self.retryable = retryable

    def __str__(self) -> str:
        where = f"Ollama endpoint {self.endpoint}"
        if self.model:
            where += f", model {self.model}"
        if self.request:
            where += f", request {self.request}"
        text = f"{self.message} ({where})"
        if self.server_message and self.server_message not in self.message:
            text += f". The server said: {self.server_message}"
        if self.hint:
            text += f". What to try: {self.hint}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "kind": self.kind,
            "endpoint": self.endpoint,
            "model": self.model,
            "request": self.request,
            "status_code": self.status_code,
            "server_message": self.server_message,
            "hint": self.hint,
        }


class OllamaUnreachable(OllamaError):
    """No connection: DNS, refused, connect timeout, TLS failure."""

    kind = "unreachable"
    retryable = True


class OllamaConnectionLost(OllamaUnreachable):
    """The connection was dropped or reset after it was made (server killed or restarted mid-answer)."""

    kind = "connection_lost"


class OllamaAuthError(OllamaError):
    """401/403 from the endpoint (or the registry, during a pull)."""

    kind = "auth"


class OllamaNotFound(OllamaError):
    """404: the model is not on the server, or the registry has no such model / tag."""

    kind = "not_found"


class OllamaRegistryError(OllamaError):
    """The upstream registry failed a pull or push (an error line, or a 5xx from /api/pull)."""

    kind = "registry"
    retryable = True


class OllamaTimeout(OllamaError):
    """A read timed out, or a stream made no progress for ``stall_timeout`` seconds."""

    kind = "timeout"
    retryable = True


class OllamaProtocolError(OllamaError):
    """The answer was not what Ollama's API sends: malformed JSON / NDJSON, an unexpected shape."""

    kind = "protocol"
    retryable = True


class OllamaServerError(OllamaError):
    """A 5xx answer (after retries) or an error line from a non-registry endpoint."""

    kind = "server"
    retryable = True


class OllamaRequestError(OllamaError):
    """The server refused the request itself (400 or another 4xx): an invalid name, a missing field."""

    kind = "request"


class OllamaRedirectError(OllamaRequestError):
    """A 3xx answer the client will not follow (another host, a downgrade, a POST that would become a GET, too many hops)."""

    kind = "redirect"


class OllamaVerificationError(OllamaError):
    """After a pull the server does not show what the pull reported (model not listed, another layer, another digest)."""

    kind = "verification"


class OllamaParameterError(ValueError):
    """A connection option is out of range. Raised before any request; ``str()`` names the option."""


def error_result(exc: OllamaError) -> dict[str, Any]:
    """Keyword arguments for ``fail_json``: the full message and the structured error."""
    return {"msg": str(exc), "error": exc.as_dict()}


def is_tls_error(exc: BaseException) -> bool:
    """Whether an ``ssl.SSLError`` is anywhere in the exception's chain (httpx wraps httpcore wraps ssl)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


# --------------------------------------------------------------------------------------
# An HTTP answer of 400 or more
# --------------------------------------------------------------------------------------


def http_error(status: int, said: str, *, path: str, endpoint: str, model: str | None, request: str) -> OllamaError:
    """The exception for an answer with ``status`` >= 400; ``said`` is the server's own text."""
    common: dict[str, Any] = {"endpoint": endpoint, "model": model, "server_message": said, "status_code": status, "request": request}
    if status in (401, 403):
        return OllamaAuthError(
            f"the endpoint refused the request (HTTP {status})",
            hint="set api_token (or the OLLAMA_API_TOKEN environment variable) to a token the proxy in front of Ollama accepts",
            **common,
        )
    if status == 404:
        if model:
            return OllamaNotFound(
                f"model {model} was not found (HTTP 404)",
                hint=f"check the name with mlops.ollama.ollama_model_info (the server lists models as name:tag), or pull {model} first",
                **common,
            )
        return OllamaNotFound(
            f"{path} was not found (HTTP 404)",
            hint="check that url points at an Ollama server (not a proxy's default page) and has no extra path",
            **common,
        )
    if status == 429:  # Ollama itself answers 503 when its queue is full; 429 comes from a proxy's rate limit
        return OllamaServerError(
            "the endpoint is rate limiting requests (HTTP 429)", hint="retry later, or raise retries / retry_backoff", retryable=True, **common
        )
    if status >= 500:
        if path in REGISTRY_PATHS:
            return OllamaRegistryError(
                f"the pull failed on the server (HTTP {status})",
                hint="check the Ollama server's log and that it can reach the registry; then retry",
                **common,
            )
        return OllamaServerError(f"the server failed the request (HTTP {status})", hint="check the Ollama server's log (kubectl logs) and retry", **common)
    return OllamaRequestError(f"the server rejected the request (HTTP {status})", hint="check the parameters named in the server's message", **common)


# --------------------------------------------------------------------------------------
# An {"error": "..."} line in a stream
# --------------------------------------------------------------------------------------

# What Ollama v0.11.4 writes in a pull's error line (server/images.go PullModel, makeRequestWithRetry,
# server/download.go). The line has no status field, so Ollama's own format strings are the narrowest
# signal there is; each pattern is anchored at the start and, where the text is fixed, at the end:
#
#   "pull model manifest: " + cause          the manifest request failed, where cause is one of
#       "file does not exist"                   os.ErrNotExist: the registry answered 404
#       "unauthorized: access denied"           401 again after fetching a token
#       "<status>: <body>"                      any other status >= 400 (registry or its token server)
#       '<Method> "<url>": <reason>'            Go's url.Error: the registry (or its token service) could not be reached
#       anything else                           a manifest that is not JSON (json decoding error)
#   the same causes without the prefix         a layer (blob) request failed
#   "insecure protocol http"                   an http:// model name pulled without insecure
#   "max retries exceeded: ..."                a layer download failed repeatedly
#   "digest mismatch, file must be ..."        a layer arrived corrupt (Ollama deleted it)
_MANIFEST_PREFIX = "pull model manifest: "
_NOT_FOUND = "file does not exist"
_UNAUTHORIZED = "unauthorized: access denied"
_INSECURE = "insecure protocol http"
_STATUS_RE = re.compile(r"([1-5][0-9]{2})(?::\s(?P<body>.*))?", re.DOTALL)
_URL_ERROR_RE = re.compile(r'(?:Get|Head|Post|Put|Patch|Delete) "(?:[^"\\]|\\.)*": (?P<reason>.*)', re.DOTALL)
# Go's texts when a plain-HTTP server answers a TLS handshake (net/http, and crypto/tls: the second is what
# v0.11.4 shows against a plain-HTTP registry), then crypto/tls's and x509's prefixes for any other TLS failure.
_PLAIN_HTTP_REASONS = ("http: server gave HTTP response to HTTPS client", "tls: first record does not look like a TLS handshake")
_TLS_REASON_PREFIXES = ("tls: ", "x509: ")
# A 401 whose WWW-Authenticate names no token realm: Ollama then requests the empty realm and Go says this.
_NO_REALM_REASON = 'unsupported protocol scheme ""'

_HINT_NAME = "check the model name and tag (for a private registry: host[:port]/namespace/model:tag) and that it was pushed there"
_HINT_AUTH = "the Ollama server needs credentials for this registry (its own key for ollama.com, or a registry that allows anonymous pulls)"
_HINT_REACH = "check that the registry is up and reachable from the Ollama server (its network, proxy and DNS), then retry"


def stream_error(said: str, *, path: str, endpoint: str, model: str | None, request: str) -> OllamaError:
    """The exception for an ``{"error": "..."}`` line of a stream at ``path``."""
    common: dict[str, Any] = {"endpoint": endpoint, "model": model, "server_message": said, "request": request}
    if path != "/api/pull":
        if path in REGISTRY_PATHS:
            return OllamaRegistryError("the push failed at the registry", hint=_HINT_REACH, **common)
        return OllamaServerError("the server reported an error mid-stream", hint="check the Ollama server's log (kubectl logs) and retry", **common)
    text = said.strip()
    manifest = text.startswith(_MANIFEST_PREFIX)
    cause = text[len(_MANIFEST_PREFIX) :] if manifest else text
    what = f"model {model}" if model else "the model"
    if cause == _NOT_FOUND:
        if manifest:
            return OllamaNotFound(f"the registry has no {what}", hint=_HINT_NAME, **common)
        return OllamaNotFound(f"the registry lists {what} but lacks one of its layers", hint="push the model to the registry again", **common)
    if cause == _UNAUTHORIZED:
        return OllamaAuthError("the registry refused access (HTTP 401)", hint=_HINT_AUTH, **common)
    if cause == _INSECURE:
        return OllamaRegistryError(
            "the model name asks for a plain-HTTP registry",
            hint="set insecure: true for a plain-HTTP registry (or serve it over HTTPS)",
            retryable=False,
            **common,
        )
    status = _STATUS_RE.fullmatch(cause)
    if status:
        return _registry_status(int(status.group(1)), what, common)
    url_error = _URL_ERROR_RE.fullmatch(cause)
    if url_error:
        return _registry_unreachable(url_error.group("reason"), common)
    if text.startswith("max retries exceeded: ") or text.startswith("digest mismatch"):
        return OllamaRegistryError("downloading a layer failed", hint=_HINT_REACH, **common)
    if manifest:  # Ollama could not decode what the registry sent as the manifest
        return OllamaRegistryError(
            "the registry sent a manifest Ollama could not read",
            hint="check that the registry serves Ollama models (OCI manifests) at that name; a proxy's error page is not one",
            retryable=False,
            **common,
        )
    return OllamaRegistryError("the pull failed at the registry", hint=_HINT_REACH, **common)


def _registry_status(code: int, what: str, common: dict[str, Any]) -> OllamaError:
    if code in (401, 403):
        return OllamaAuthError(f"the registry refused access (HTTP {code})", hint=_HINT_AUTH, **common)
    if code == 404:
        return OllamaNotFound(f"the registry has no {what} (HTTP 404)", hint=_HINT_NAME, **common)
    if code == 429 or code >= 500:
        return OllamaRegistryError(f"the registry failed the request (HTTP {code})", hint=_HINT_REACH, **common)
    return OllamaRegistryError(
        f"the registry rejected the request (HTTP {code})", hint="check the model name and the registry's own message", retryable=False, **common
    )


def _registry_unreachable(reason: str, common: dict[str, Any]) -> OllamaError:
    if reason == _NO_REALM_REASON:
        return OllamaAuthError("the registry asks for credentials (HTTP 401) but names no token service", hint=_HINT_AUTH, **common)
    if reason in _PLAIN_HTTP_REASONS:
        return OllamaRegistryError(
            "the registry speaks plain HTTP", hint="set insecure: true for a plain-HTTP registry (or serve it over HTTPS)", retryable=False, **common
        )
    if reason.startswith(_TLS_REASON_PREFIXES):
        return OllamaRegistryError(
            "the Ollama server could not verify the registry's TLS certificate",
            hint="install the registry's CA in the Ollama server's image/pod, or use insecure: true only for a plain-HTTP test registry",
            retryable=False,
            **common,
        )
    return OllamaRegistryError("the Ollama server could not reach the registry", hint=_HINT_REACH, **common)
