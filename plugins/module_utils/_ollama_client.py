# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one HTTP client every mlops.ollama module uses to talk to an Ollama server.

PRIVATE: this file is not part of the collection's public API and may change at
any time. The public surfaces built on it are the ``mlops.ollama.ollama_*``
modules (their options come from ``CONNECTION_ARGSPEC`` and the
``mlops.ollama.ollama_connection`` documentation fragment).

What it owns, so no module has to:

* the connection options (endpoint, TLS, bearer token, timeouts, retries) and
  their validation;
* retries with exponential backoff on connection errors and 5xx answers, inside a
  time budget of ``timeout`` seconds, so an unreachable endpoint fails in bounded time;
* streaming NDJSON (``/api/pull``, streaming ``/api/generate`` and ``/api/chat``)
  read by a watchdog, so a stream that stops sending is an ``OllamaTimeout`` after
  ``stall_timeout`` seconds, never a hang, even when the transport itself cannot
  time out (an in-process fake);
* one exception hierarchy (``OllamaError`` and subclasses), each carrying the
  endpoint, the model, the server's own words and what to try; ``error_result()``
  turns one into the keyword arguments of ``fail_json``;
* ``requests_made``: every HTTP request sent ("GET /api/tags"), for audits and tests.

It imports nothing from Ansible, so ``scripts/ollama-health`` runs with only
``python3`` and ``httpx`` installed.
"""

from __future__ import annotations

import json
import queue
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

try:
    import httpx
except ImportError:  # pragma: no cover - exercised by ansible-test's import sanity test
    import traceback

    HAS_HTTPX = False
    HTTPX_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_HTTPX = True
    HTTPX_IMPORT_ERROR = None

__all__ = [
    "CONNECTION_ARGSPEC",
    "DEFAULT_URL",
    "HAS_HTTPX",
    "HTTPX_IMPORT_ERROR",
    "OllamaAuthError",
    "OllamaClient",
    "OllamaConnectionLost",
    "OllamaError",
    "OllamaNotFound",
    "OllamaParameterError",
    "OllamaProtocolError",
    "OllamaRegistryError",
    "OllamaRequestError",
    "OllamaServerError",
    "OllamaTimeout",
    "OllamaUnreachable",
    "OllamaVerificationError",
    "error_result",
]

DEFAULT_URL = "http://ollama.ml.svc.cluster.local:11434"
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_RETRIES = 3
DEFAULT_RETRY_BACKOFF = 1.0
MAX_BACKOFF_S = 30.0
USER_AGENT = "mlops.ollama (Ansible collection; httpx)"

# Paths whose 5xx answers and {"error": ...} lines are about the upstream registry.
REGISTRY_PATHS = ("/api/pull", "/api/push")


try:  # the argument spec's env fallback; the standalone command (no Ansible installed) never reads it
    from ansible.module_utils.basic import env_fallback as _ansible_env_fallback
except ImportError:  # pragma: no cover - only scripts/ollama-health runs without Ansible
    _ansible_env_fallback = None


def _env(*names: str) -> dict[str, Any]:
    """``fallback`` to environment variables, when Ansible is there to read them."""
    return {"fallback": (_ansible_env_fallback, list(names))} if _ansible_env_fallback is not None else {}


# The connection options of every Ollama module. Documented by the ``mlops.ollama.ollama_connection``
# doc fragment; keep the two in step (ansible-test's validate-modules compares them).
CONNECTION_ARGSPEC: dict[str, dict[str, Any]] = {
    "url": {"type": "str", "default": DEFAULT_URL, **_env("OLLAMA_URL")},
    "validate_certs": {"type": "bool", "default": True},
    "ca_path": {"type": "path"},
    "api_token": {"type": "str", "no_log": True, **_env("OLLAMA_API_TOKEN")},
    "connect_timeout": {"type": "float", "default": DEFAULT_CONNECT_TIMEOUT},
    "timeout": {"type": "float", "default": DEFAULT_READ_TIMEOUT},
    "retries": {"type": "int", "default": DEFAULT_RETRIES},
    "retry_backoff": {"type": "float", "default": DEFAULT_RETRY_BACKOFF},
}


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


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
    ) -> None:
        super().__init__(message)
        self.message = message
        self.endpoint = endpoint
        self.model = model
        self.hint = hint
        self.server_message = server_message
        self.status_code = status_code
        self.request = request

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


class OllamaVerificationError(OllamaError):
    """After a pull the server does not show what the pull reported (model not listed, another layer, another digest)."""

    kind = "verification"


class OllamaParameterError(ValueError):
    """A connection option is out of range. Raised before any request; ``str()`` names the option."""


def error_result(exc: OllamaError) -> dict[str, Any]:
    """Keyword arguments for ``fail_json``: the full message and the structured error."""
    return {"msg": str(exc), "error": exc.as_dict()}


# --------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------


def _redact_url(url: str) -> str:
    """The URL without any ``user:password@``, for messages."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


def _server_message(response: Any) -> str:
    """The server's own words: Ollama answers errors as ``{"error": "..."}``."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:500] if text else str(response.reason_phrase)
    if isinstance(body, dict) and body.get("error"):
        return str(body["error"])
    return str(response.text).strip()[:500]


def _is_tls_error(exc: BaseException) -> bool:
    text = f"{exc!r} {exc}".lower()
    context = exc.__context__ or exc.__cause__
    return isinstance(context, ssl.SSLError) or any(word in text for word in ("certificate", "ssl", "tls", "handshake"))


class _StreamEnd:
    """Marker the reader thread puts on the queue when the body ended."""


class OllamaClient:
    """Synchronous client of Ollama's HTTP API (v0.11+).

    ``transport`` replaces the network (``httpx.MockTransport`` in fault tests).
    ``requests_made`` lists every request sent, retries included, as ``"METHOD /path"``.
    """

    def __init__(
        self,
        url: str,
        *,
        validate_certs: bool = True,
        ca_path: str | None = None,
        api_token: str | None = None,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not HAS_HTTPX:  # pragma: no cover - modules check HAS_HTTPX first
            raise RuntimeError(f"the httpx Python library is required: {HTTPX_IMPORT_ERROR}")
        self.url = _validate_url(url)
        self.endpoint = _redact_url(self.url)
        _check_positive("connect_timeout", connect_timeout)
        _check_positive("timeout", read_timeout)
        if retries is None or retries < 0:
            raise OllamaParameterError(f"retries must be 0 or more, got {retries!r}")
        if retry_backoff is None or retry_backoff < 0:
            raise OllamaParameterError(f"retry_backoff must be 0 or more seconds, got {retry_backoff!r}")
        self.validate_certs = bool(validate_certs)
        self.ca_path = ca_path
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        self.retries = int(retries)
        self.retry_backoff = float(retry_backoff)
        self._api_token = api_token or None
        self._transport = transport
        self._sleep = sleep
        self._clock = clock
        self._http_client: httpx.Client | None = None
        self._lock = threading.Lock()
        self.requests_made: list[str] = []

    @classmethod
    def from_module_params(cls, params: dict[str, Any], **overrides: Any) -> OllamaClient:
        """A client from the options of ``CONNECTION_ARGSPEC`` (``timeout`` is the read timeout).

        ``overrides`` go to the constructor as they are (``transport=``, ``sleep=`` in tests).
        """
        return cls(
            params.get("url") or DEFAULT_URL,
            validate_certs=params.get("validate_certs", True) is not False,
            ca_path=params.get("ca_path"),
            api_token=params.get("api_token"),
            connect_timeout=_number(params, "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
            read_timeout=_number(params, "timeout", DEFAULT_READ_TIMEOUT),
            retries=int(_number(params, "retries", DEFAULT_RETRIES)),
            retry_backoff=_number(params, "retry_backoff", DEFAULT_RETRY_BACKOFF),
            **overrides,
        )

    # -- plumbing ----------------------------------------------------------------------

    @property
    def _http(self) -> httpx.Client:
        with self._lock:
            if self._http_client is None:
                verify: Any = self.validate_certs
                if self.validate_certs and self.ca_path:
                    try:
                        verify = ssl.create_default_context(cafile=self.ca_path)
                    except (OSError, ssl.SSLError) as exc:
                        raise OllamaParameterError(f"ca_path {self.ca_path!r} could not be read as a CA bundle: {exc}") from None
                headers = {"User-Agent": USER_AGENT, "Accept": "application/json, application/x-ndjson"}
                if self._api_token:
                    headers["Authorization"] = f"Bearer {self._api_token}"
                self._http_client = httpx.Client(
                    base_url=self.url,
                    headers=headers,
                    verify=verify,
                    timeout=httpx.Timeout(self.read_timeout, connect=self.connect_timeout),
                    transport=self._transport,
                    follow_redirects=False,
                    trust_env=True,
                )
            return self._http_client

    def _reset_http(self) -> None:
        """Drop the connection pool (after a stalled stream whose reader may still hold a connection)."""
        with self._lock:
            old, self._http_client = self._http_client, None
        if old is not None:
            try:
                old.close()
            except Exception:  # noqa: BLE001 - closing a broken pool must not hide the real error
                pass

    def close(self) -> None:
        self._reset_http()

    def __enter__(self) -> OllamaClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _backoff(self, attempt: int) -> float:
        return float(min(self.retry_backoff * (2 ** (attempt - 1)), MAX_BACKOFF_S))

    def _send(self, method: str, path: str, body: dict[str, Any] | None, *, model: str | None, read_timeout: float | None, stream: bool) -> httpx.Response:
        """Send one logical request with retries; return a response with status < 400.

        Connection failures (including a connection dropped before any answer) and 5xx answers
        are retried up to ``retries`` times with exponential backoff, but no retry starts after
        ``timeout`` seconds, and each connect attempt is bounded by what is left of that budget.
        """
        request = f"{method} {path}"
        read = float(read_timeout if read_timeout is not None else self.read_timeout)
        budget = self.read_timeout
        start = self._clock()
        attempt = 0
        while True:
            attempt += 1
            remaining = max(budget - (self._clock() - start), 0.1)
            timeout = httpx.Timeout(read, connect=min(self.connect_timeout, remaining), write=read, pool=read)
            self.requests_made.append(request)
            error: OllamaError
            try:
                req = self._http.build_request(method, path, json=body, timeout=timeout)
                response = self._http.send(req, stream=stream)
            except httpx.TimeoutException as exc:
                if isinstance(exc, httpx.ConnectTimeout):
                    error = self._unreachable(exc, model, request)
                else:
                    raise self._timeout(exc, model, request, read) from None
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                error = OllamaConnectionLost(
                    f"the connection was dropped before the server answered: {exc}",
                    endpoint=self.endpoint,
                    model=model,
                    request=request,
                    hint="the server may have been restarting; check that Ollama is up (its pod, its logs) and retry",
                )
            except httpx.TransportError as exc:
                error = self._unreachable(exc, model, request)
            else:
                if response.status_code < 400:
                    return response
                if stream:
                    response.read()
                    response.close()
                error = self._http_error(response, path, model, request)
                if response.status_code < 500:
                    raise error
            if not error.retryable or attempt > self.retries:
                raise error
            delay = self._backoff(attempt)
            if self._clock() - start + delay > budget:
                raise error
            self._sleep(delay)

    def _unreachable(self, exc: Exception, model: str | None, request: str) -> OllamaUnreachable:
        if _is_tls_error(exc):
            return OllamaUnreachable(
                f"TLS with the endpoint failed: {exc}",
                endpoint=self.endpoint,
                model=model,
                request=request,
                hint=(
                    "the server's certificate could not be verified; set ca_path to the CA bundle that signed it "
                    "(or, for a throwaway test only, validate_certs: false), and check that url names the certificate's host"
                ),
            )
        return OllamaUnreachable(
            f"could not connect: {exc or type(exc).__name__}",
            endpoint=self.endpoint,
            model=model,
            request=request,
            hint=(
                "check url (scheme, host, port) and that Ollama is running and reachable from the host this task runs on; "
                f"the default {DEFAULT_URL} resolves only inside the cluster (use a port-forward, Ingress or NodePort URL from outside)"
            ),
        )

    def _timeout(self, exc: Exception, model: str | None, request: str, seconds: float) -> OllamaTimeout:
        return OllamaTimeout(
            f"the server did not answer within {seconds:g} s ({type(exc).__name__})",
            endpoint=self.endpoint,
            model=model,
            request=request,
            hint="raise timeout (a first request to a model loads it, which can take minutes on CPU), or check the server's load",
        )

    def _http_error(self, response: httpx.Response, path: str, model: str | None, request: str) -> OllamaError:
        status = response.status_code
        said = _server_message(response)
        common: dict[str, Any] = {"endpoint": self.endpoint, "model": model, "server_message": said, "status_code": status, "request": request}
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
        if status >= 500:
            if path in REGISTRY_PATHS:
                return OllamaRegistryError(
                    f"the pull failed on the server (HTTP {status})",
                    hint="check the Ollama server's log and that it can reach the registry; then retry",
                    **common,
                )
            return OllamaServerError(f"the server failed the request (HTTP {status})", hint="check the Ollama server's log (kubectl logs) and retry", **common)
        return OllamaRequestError(f"the server rejected the request (HTTP {status})", hint="check the parameters named in the server's message", **common)

    def _decode(self, response: httpx.Response, model: str | None, request: str) -> dict[str, Any]:
        text = response.text
        if not text.strip():
            return {}
        try:
            data = json.loads(text)
        except ValueError:
            raise OllamaProtocolError(
                f"the answer is not JSON: {text[:200]!r}",
                endpoint=self.endpoint,
                model=model,
                request=request,
                status_code=response.status_code,
                hint="check that url points at an Ollama server and not at another service or a proxy's error page",
            ) from None
        if not isinstance(data, dict):
            raise OllamaProtocolError(
                f"the answer is JSON but not an object: {text[:200]!r}",
                endpoint=self.endpoint,
                model=model,
                request=request,
                status_code=response.status_code,
                hint="check that url points at an Ollama server",
            )
        return data

    # -- generic calls -----------------------------------------------------------------

    def request_json(
        self, method: str, path: str, body: dict[str, Any] | None = None, *, model: str | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """One JSON request; returns the decoded object (``{}`` for an empty body). Retries connection errors and 5xx."""
        request = f"{method} {path}"
        response = self._send(method, path, body, model=model, read_timeout=timeout, stream=False)
        return self._decode(response, model, request)

    def stream_json(
        self,
        path: str,
        body: dict[str, Any],
        *,
        model: str | None = None,
        stall_timeout: float = 60.0,
        heartbeat: Callable[[], None] | None = None,
        heartbeat_interval: float = 1.0,
    ) -> Iterator[dict[str, Any]]:
        """POST ``body`` and iterate the NDJSON answer, one dict per line.

        The request is sent (with retries) before this returns, so HTTP errors raise here;
        the lines are read lazily. Raises, while iterating:

        * ``OllamaTimeout`` when no line arrives for ``stall_timeout`` seconds (a watchdog
          thread reads the body, so this holds for any transport);
        * the error class matching an ``{"error": ...}`` line (registry errors for
          ``/api/pull`` and ``/api/push``), with the server's text;
        * ``OllamaProtocolError`` for a line that is not a JSON object;
        * ``OllamaConnectionLost`` when the connection drops mid-stream.

        ``heartbeat`` (if given) is called about every ``heartbeat_interval`` seconds while
        waiting for a line, so callers can report liveness during silent phases.
        """
        _check_positive("stall_timeout", stall_timeout)
        request = f"POST {path}"
        # The socket read timeout sits a little above the watchdog: the watchdog decides, the
        # socket timeout only makes sure an abandoned reader thread ends eventually.
        response = self._send("POST", path, body, model=model, read_timeout=float(stall_timeout) + 5.0, stream=True)
        return self._iter_ndjson(response, path, model, request, float(stall_timeout), heartbeat, heartbeat_interval)

    def _iter_ndjson(
        self,
        response: httpx.Response,
        path: str,
        model: str | None,
        request: str,
        stall_timeout: float,
        heartbeat: Callable[[], None] | None,
        heartbeat_interval: float,
    ) -> Iterator[dict[str, Any]]:
        lines: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()

        def reader() -> None:
            try:
                for line in response.iter_lines():
                    if stop.is_set():
                        return
                    lines.put(line)
                lines.put(_StreamEnd())
            except BaseException as exc:  # noqa: BLE001 - handed to the consumer thread
                lines.put(exc)

        thread = threading.Thread(target=reader, name=f"ollama-stream {path}", daemon=True)
        thread.start()
        stalled = False
        try:
            last = self._clock()
            while True:
                wait = min(heartbeat_interval, stall_timeout) if heartbeat else stall_timeout
                try:
                    item = lines.get(timeout=max(wait, 0.01))
                except queue.Empty:
                    idle = self._clock() - last
                    if idle >= stall_timeout:
                        stalled = True
                        raise OllamaTimeout(
                            f"the stream sent nothing for {idle:.0f} s (stall_timeout {stall_timeout:g} s)",
                            endpoint=self.endpoint,
                            model=model,
                            request=request,
                            hint="the server or the registry stalled; retrying resumes a pull. If the server is busy "
                            "(verifying a large model sends no progress for a while), raise stall_timeout",
                        ) from None
                    if heartbeat:
                        heartbeat()
                    continue
                last = self._clock()
                if isinstance(item, _StreamEnd):
                    return
                if isinstance(item, BaseException):
                    raise self._stream_exception(item, model, request, stall_timeout) from None
                if not item.strip():
                    continue
                event = self._parse_line(item, model, request)
                if event.get("error"):
                    raise self._error_line(str(event["error"]), path, model, request)
                yield event
        finally:
            stop.set()
            try:
                response.close()
            except Exception:  # noqa: BLE001 - closing a dead stream must not hide the real error
                pass
            if stalled:
                # The reader thread may still be blocked on that connection; never hand it out again.
                self._reset_http()

    def _parse_line(self, line: str, model: str | None, request: str) -> dict[str, Any]:
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            raise OllamaProtocolError(
                f"the stream sent a line that is not a JSON object: {line[:200]!r}",
                endpoint=self.endpoint,
                model=model,
                request=request,
                hint="check that url points at Ollama directly or through a proxy that does not buffer or rewrite streams; then retry",
            )
        return event

    def _stream_exception(self, exc: BaseException, model: str | None, request: str, stall_timeout: float) -> OllamaError:
        if isinstance(exc, OllamaError):
            return exc
        if isinstance(exc, httpx.TimeoutException):
            return self._timeout(exc, model, request, stall_timeout)
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError, httpx.NetworkError)):
            return OllamaConnectionLost(
                f"the connection was dropped mid-stream: {exc or type(exc).__name__}",
                endpoint=self.endpoint,
                model=model,
                request=request,
                hint="the server may have restarted; retrying resumes a pull where Ollama left it. Check the server's log if it keeps happening",
            )
        if isinstance(exc, httpx.HTTPError):
            return self._unreachable(exc, model, request)
        return OllamaProtocolError(
            f"reading the stream failed: {type(exc).__name__}: {exc}",
            endpoint=self.endpoint,
            model=model,
            request=request,
            hint="retry; if it persists, check the server and any proxy in between",
        )

    def _error_line(self, said: str, path: str, model: str | None, request: str) -> OllamaError:
        """The exception for an ``{"error": "..."}`` line, classified by what the server said."""
        lower = said.lower()
        common: dict[str, Any] = {"endpoint": self.endpoint, "model": model, "server_message": said, "request": request}
        if path in REGISTRY_PATHS:
            if "file does not exist" in lower or "manifest unknown" in lower or "not found" in lower or "name unknown" in lower:
                return OllamaNotFound(
                    f"the registry has no model {model}" if model else "the registry has no such model",
                    hint="check the model name and tag (for a private registry: host[:port]/namespace/model:tag) and that it was pushed there",
                    **common,
                )
            if "unauthorized" in lower or "access denied" in lower or "401" in lower or "403" in lower or "forbidden" in lower:
                return OllamaAuthError(
                    "the registry refused access",
                    hint="the Ollama server needs credentials for this registry (its own key for ollama.com, or a registry that allows anonymous pulls)",
                    **common,
                )
            if "http response to https client" in lower or "insecure protocol" in lower:
                return OllamaRegistryError(
                    "the registry speaks plain HTTP",
                    hint="set insecure: true for a plain-HTTP registry (or serve it over HTTPS)",
                    **common,
                )
            if "certificate" in lower or "x509" in lower or "tls" in lower:
                return OllamaRegistryError(
                    "the Ollama server could not verify the registry's TLS certificate",
                    hint="install the registry's CA in the Ollama server's image/pod, or use insecure: true only for a plain-HTTP test registry",
                    **common,
                )
            return OllamaRegistryError(
                "the pull failed at the registry" if path == "/api/pull" else "the push failed at the registry",
                hint="check that the registry is up and reachable from the Ollama server (its network, proxy and DNS), then retry",
                **common,
            )
        return OllamaServerError("the server reported an error mid-stream", hint="check the Ollama server's log (kubectl logs) and retry", **common)

    # -- the API -------------------------------------------------------------------------

    def root_text(self) -> str:
        """``GET /``: ``Ollama is running`` on a healthy server."""
        response = self._send("GET", "/", None, model=None, read_timeout=None, stream=False)
        return response.text

    def version(self) -> str:
        data = self.request_json("GET", "/api/version")
        version = data.get("version")
        if not isinstance(version, str):
            raise OllamaProtocolError(
                f"/api/version answered without a version: {data!r}",
                endpoint=self.endpoint,
                request="GET /api/version",
                hint="check that url points at an Ollama server",
            )
        return version

    def tags(self) -> list[dict[str, Any]]:
        """``GET /api/tags``: the models on the server (``name``, ``model``, ``digest``, ``size``, ``modified_at``, ``details``)."""
        return self._list("GET", "/api/tags")

    def ps(self) -> list[dict[str, Any]]:
        """``GET /api/ps``: the models loaded in memory."""
        return self._list("GET", "/api/ps")

    def _list(self, method: str, path: str) -> list[dict[str, Any]]:
        data = self.request_json(method, path)
        models = data.get("models")
        if models is None:
            return []
        if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
            raise OllamaProtocolError(
                f"{path} answered an unexpected shape: {str(data)[:200]}",
                endpoint=self.endpoint,
                request=f"{method} {path}",
                hint="check that url points at an Ollama server",
            )
        return models

    def show(self, name: str, *, verbose: bool = False) -> dict[str, Any]:
        """``POST /api/show``: a model's details, template, parameters, capabilities."""
        body: dict[str, Any] = {"model": name}
        if verbose:
            body["verbose"] = True
        return self.request_json("POST", "/api/show", body, model=name)

    def delete(self, name: str) -> None:
        """``DELETE /api/delete``; ``OllamaNotFound`` when the server has no such model."""
        self.request_json("DELETE", "/api/delete", {"model": name}, model=name)

    def pull(
        self,
        name: str,
        *,
        insecure: bool = False,
        stall_timeout: float = 60.0,
        heartbeat: Callable[[], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """``POST /api/pull`` (streaming): yields Ollama's progress dicts, ending with ``{"status": "success"}``.

        A stall is an ``OllamaTimeout``: either no line for ``stall_timeout`` seconds, or lines
        that show no progress (same status, layer and byte count) for that long. A stream that
        ends without ``success`` is an ``OllamaProtocolError``. Error lines raise the matching
        error (``OllamaNotFound`` for ``pull model manifest: file does not exist``, ...).
        """
        _check_positive("stall_timeout", stall_timeout)
        stream = self.stream_json(
            "/api/pull", {"model": name, "insecure": bool(insecure), "stream": True}, model=name, stall_timeout=stall_timeout, heartbeat=heartbeat
        )
        return self._pull_events(stream, name, float(stall_timeout))

    def _pull_events(self, stream: Iterator[dict[str, Any]], name: str, stall_timeout: float) -> Iterator[dict[str, Any]]:
        last_key: tuple[Any, ...] | None = None
        last_change = self._clock()
        status = None
        try:
            for event in stream:
                key = (event.get("status"), event.get("digest"), event.get("completed"), event.get("total"))
                now = self._clock()
                if key != last_key:
                    last_key, last_change = key, now
                elif now - last_change >= stall_timeout:
                    done = event.get("completed")
                    total = event.get("total")
                    where = f" at {done} of {total} bytes" if isinstance(done, int) and isinstance(total, int) else ""
                    raise OllamaTimeout(
                        f"the pull made no progress for {now - last_change:.0f} s ({event.get('status')!s}{where}; stall_timeout {stall_timeout:g} s)",
                        endpoint=self.endpoint,
                        model=name,
                        request="POST /api/pull",
                        hint="the registry or the network stalled; retrying resumes the download where Ollama left it. Raise stall_timeout on slow links",
                    )
                status = event.get("status", status)
                yield event
                if status == "success":
                    return
        finally:
            close = getattr(stream, "close", None)
            if callable(close):
                close()
        raise OllamaProtocolError(
            f"the pull stream ended without 'success' (last status {status!r})",
            endpoint=self.endpoint,
            model=name,
            request="POST /api/pull",
            hint="the server may have been stopped mid-pull; retry (the download resumes)",
        )

    def generate(
        self, model: str, prompt: str, *, stream: bool, options: dict[str, Any] | None = None, timeout: float | None = None
    ) -> dict[str, Any] | Iterator[dict[str, Any]]:
        """``POST /api/generate``. Streaming: an iterator of chunks (stall watchdog = ``timeout`` or the read timeout)."""
        body: dict[str, Any] = {"model": model, "prompt": prompt, "stream": bool(stream)}
        if options:
            body["options"] = options
        if stream:
            return self.stream_json("/api/generate", body, model=model, stall_timeout=timeout or self.read_timeout)
        return self.request_json("POST", "/api/generate", body, model=model, timeout=timeout)

    def chat(
        self, model: str, messages: list[dict[str, Any]], *, stream: bool, options: dict[str, Any] | None = None, timeout: float | None = None
    ) -> dict[str, Any] | Iterator[dict[str, Any]]:
        """``POST /api/chat``. Streaming: an iterator of chunks (stall watchdog = ``timeout`` or the read timeout)."""
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": bool(stream)}
        if options:
            body["options"] = options
        if stream:
            return self.stream_json("/api/chat", body, model=model, stall_timeout=timeout or self.read_timeout)
        return self.request_json("POST", "/api/chat", body, model=model, timeout=timeout)


# --------------------------------------------------------------------------------------
# Parameter checks
# --------------------------------------------------------------------------------------


def _validate_url(url: str) -> str:
    if not isinstance(url, str) or not url.strip():
        raise OllamaParameterError(f"url must be an http:// or https:// URL such as {DEFAULT_URL}, got {url!r}")
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise OllamaParameterError(
            f"url must be an http:// or https:// URL such as {DEFAULT_URL}, got {_redact_url(url)!r} "
            "(OLLAMA_HOST-style host:port values need a scheme: http://host:11434)"
        )
    if parts.query or parts.fragment:
        raise OllamaParameterError(f"url must not have a query or fragment, got {_redact_url(url)!r}")
    return url


def _check_positive(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise OllamaParameterError(f"{name} must be a number of seconds greater than 0, got {value!r}")


def _number(params: dict[str, Any], name: str, default: float) -> float:
    value = params.get(name)
    return default if value is None else value
