# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one HTTP client every mlops.ollama module uses to talk to an Ollama server.

PRIVATE: this file is not part of the collection's public API and may change at
any time. The public surfaces built on it are the ``mlops.ollama.ollama_*``
modules (their options come from ``CONNECTION_ARGSPEC`` and the
``mlops.ollama.ollama_connection`` documentation fragment).

What it owns, so no module has to:

* the connection options and their checks (in ``_ollama_connection``, re-exported here):
  a bad option fails in ``OllamaClient(...)`` / ``from_module_params``, before any request;
* retries with exponential backoff on connection errors, 429 and 5xx answers, inside a
  time budget of ``timeout`` seconds, so an unreachable endpoint fails in bounded time;
* redirects: only to the same host, never downgrading to http, and a POST or DELETE only
  with 307/308; any other 3xx fails naming the status, the request and the endpoint;
* streaming NDJSON (``/api/pull``, streaming ``/api/generate`` and ``/api/chat``)
  read by a watchdog, so a stream that stops sending is an ``OllamaTimeout`` after
  ``stall_timeout`` seconds, never a hang, even when the transport itself cannot
  time out (an in-process fake);
* one exception hierarchy (``OllamaError`` and subclasses, in ``_ollama_errors``,
  re-exported here), each carrying the endpoint, the model, the server's own words and
  what to try; ``error_result()`` turns one into the keyword arguments of ``fail_json``;
* ``requests_made``: every HTTP request sent ("GET /api/tags"), for audits and tests;
* ``warnings``: what the caller should pass on to the user (``module.warn``).

Credentials never reach a message: ``endpoint`` is the URL with any ``user:password@``
masked, and the token is only ever in the ``Authorization`` header.

It imports nothing from Ansible, so ``scripts/ollama-health`` runs with only
``python3`` and ``httpx`` installed.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_connection import (
    CONNECTION_ARGSPEC,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_RETRIES,
    DEFAULT_RETRY_BACKOFF,
    DEFAULT_URL,
    MAX_REDIRECTS,
    connection_settings,
    module_connection_options,
    redirect_refusal,
)
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_errors import (
    REGISTRY_PATHS,
    OllamaAuthError,
    OllamaConnectionLost,
    OllamaError,
    OllamaNotFound,
    OllamaParameterError,
    OllamaProtocolError,
    OllamaRedirectError,
    OllamaRegistryError,
    OllamaRequestError,
    OllamaServerError,
    OllamaTimeout,
    OllamaUnreachable,
    OllamaVerificationError,
    error_result,
    http_error,
    is_tls_error,
    stream_error,
)
from ansible_collections.mlops.ollama.plugins.module_utils._values import check_duration, redact_url

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
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_RETRIES",
    "DEFAULT_RETRY_BACKOFF",
    "DEFAULT_URL",
    "HAS_HTTPX",
    "HTTPX_IMPORT_ERROR",
    "REGISTRY_PATHS",
    "OllamaAuthError",
    "OllamaClient",
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
]

MAX_BACKOFF_S = 30.0
USER_AGENT = "mlops.ollama (Ansible collection; httpx)"


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


def _check_stall(value: Any) -> float:
    try:
        return check_duration(value, "stall_timeout")
    except ValueError as exc:
        raise OllamaParameterError(str(exc)) from None


class _StreamEnd:
    """Marker the reader thread puts on the queue when the body ended."""


class OllamaClient:
    """Synchronous client of Ollama's HTTP API (v0.11+).

    Every option is checked here (see ``_ollama_connection.connection_settings``): a bad
    one raises ``OllamaParameterError`` naming it, before any request or HTTP client exists.

    ``transport`` replaces the network (``httpx.MockTransport`` in fault tests).
    ``requests_made`` lists every request sent, retries and redirects included, as ``"METHOD /path"``
    (a followed redirect as ``"METHOD <redacted absolute URL>"``).
    ``endpoint`` is the URL to print: any ``user:password@`` in ``url`` is masked as ``***@``
    (those credentials are sent as HTTP basic auth; ``url`` keeps neither).

    ``warnings`` is a list of strings for the user, in the order they arose: a token or
    credentials sent over plain http:// to a host that is not loopback (at construction),
    a redirect that was followed (once per target). A module forwards them with
    ``for text in client.warnings: module.warn(text)`` before it exits or fails; ``warn``,
    if given, is also called with each one as it arises.
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
        kubernetes: dict[str, Any] | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        if not HAS_HTTPX:  # pragma: no cover - modules check HAS_HTTPX first
            raise RuntimeError(f"the httpx Python library is required: {HTTPX_IMPORT_ERROR}")
        self._settings = connection_settings(
            url,
            validate_certs=validate_certs,
            ca_path=ca_path,
            api_token=api_token,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries=retries,
            retry_backoff=retry_backoff,
            kubernetes=kubernetes,
        )
        s = self._settings
        #: the Kubernetes API proxy route requests take (the kubernetes option), or None for a direct url
        self.route = s.route
        self.url = s.url
        self.endpoint = s.endpoint
        self.validate_certs = s.validate_certs
        self.ca_path = s.ca_path
        self.connect_timeout = s.connect_timeout
        self.read_timeout = s.read_timeout
        self.retries = s.retries
        self.retry_backoff = s.retry_backoff
        self._transport = transport
        self._sleep = sleep
        self._clock = clock
        self._warn = warn
        self._http_client: httpx.Client | None = None
        # False: every request on a connection of its own (set before the first request; see _http).
        self.keep_alive = True
        self._lock = threading.Lock()
        self.requests_made: list[str] = []
        self.warnings: list[str] = []
        self._redirects_warned: set[str] = set()
        for text in s.warnings:
            self._add_warning(text)

    @classmethod
    def from_module_params(cls, params: dict[str, Any], transport: httpx.BaseTransport | None = None, **overrides: Any) -> OllamaClient:
        """A client from the options of ``CONNECTION_ARGSPEC`` (``timeout`` is the read timeout).

        The one entry modules use: every option is checked before anything is made, and a bad
        one raises ``OllamaParameterError`` naming it. ``transport`` replaces the network in
        tests; ``overrides`` (``sleep=``, ``clock=``, ``warn=``) go to the constructor as they are.
        """

        return cls(**module_connection_options(params), transport=transport, **overrides)

    def __repr__(self) -> str:
        return f"OllamaClient({self.endpoint!r}, retries={self.retries}, timeout={self.read_timeout:g})"

    def _add_warning(self, text: str) -> None:
        self.warnings.append(text)
        if self._warn is not None:
            self._warn(text)

    # -- plumbing ----------------------------------------------------------------------

    @property
    def _http(self) -> httpx.Client:
        with self._lock:
            if self._http_client is None:
                s = self._settings
                headers = {"User-Agent": USER_AGENT, "Accept": "application/json, application/x-ndjson", **s.headers}
                if s.api_token:
                    headers["Authorization"] = f"Bearer {s.api_token}"
                self._http_client = httpx.Client(
                    base_url=s.url,
                    headers=headers,
                    auth=httpx.BasicAuth(*s.basic_auth) if s.basic_auth else None,
                    verify=s.verify,
                    timeout=httpx.Timeout(self.read_timeout, connect=self.connect_timeout),
                    transport=self._transport,
                    # Redirects are followed by _follow, by this client's own rule.
                    follow_redirects=False,
                    trust_env=True,
                    limits=httpx.Limits() if self.keep_alive else httpx.Limits(max_keepalive_connections=0),
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
        """Send one logical request with retries; return a 2xx response.

        Connection failures (including a connection dropped before any answer), 429 and 5xx
        answers are retried up to ``retries`` times with exponential backoff, but no retry
        starts after ``timeout`` seconds, and each connect attempt is bounded by what is left
        of that budget. Redirects are followed by ``_follow``'s rule.
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
                response = self._follow(method, path, body, timeout=timeout, stream=stream, model=model, request=request)
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
                if 200 <= response.status_code < 300:
                    return response
                if stream:
                    response.read()
                    response.close()
                error = self._status_error(response, path, model, request)
            if not error.retryable or attempt > self.retries:
                raise error
            delay = self._backoff(attempt)
            if self._clock() - start + delay > budget:
                raise error
            self._sleep(delay)

    def _follow(self, method: str, path: str, body: dict[str, Any] | None, *, timeout: Any, stream: bool, model: str | None, request: str) -> httpx.Response:
        """Send the request and follow the redirects ``redirect_refusal`` allows, at most ``MAX_REDIRECTS``.

        A 3xx is never returned: an empty 301 would otherwise read as "no models" or
        "already deleted". A redirect that is not followed is an ``OllamaRedirectError``.
        """
        target: Any = path
        for hop in range(MAX_REDIRECTS + 1):
            response = self._http.send(self._http.build_request(method, target, json=body, timeout=timeout), stream=stream)
            if not 300 <= response.status_code < 400:
                return response
            if stream:
                response.close()
            if hop == MAX_REDIRECTS:
                break
            status = response.status_code
            location = response.headers.get("location")
            common: dict[str, Any] = {"endpoint": self.endpoint, "model": model, "status_code": status, "request": request}
            if not location:
                raise OllamaRedirectError(
                    f"the server answered HTTP {status} without a Location to follow",
                    hint="check that url points at Ollama itself, not at a proxy's or a portal's page",
                    **common,
                )
            try:
                next_url = response.url.join(location)
            except httpx.InvalidURL:
                raise OllamaRedirectError(f"the server redirected (HTTP {status}) to an invalid address", **common) from None
            shown = redact_url(str(next_url))
            refusal = redirect_refusal(method, status, response.url, next_url)
            if refusal:
                raise OllamaRedirectError(
                    f"the server redirected {method} {path} (HTTP {status}) to {shown}, which the client does not follow: {refusal}",
                    hint=f"set url to the address the server redirects to (for example {_base_of(shown, path)}) if that is the endpoint you mean",
                    **common,
                )
            self._warn_redirect(status, shown, path)
            self.requests_made.append(f"{method} {shown}")
            target = next_url
        raise OllamaRedirectError(
            f"the server redirected more than {MAX_REDIRECTS} times",
            hint="a redirect loop, usually between a proxy and an Ingress; set url to the final address",
            endpoint=self.endpoint,
            model=model,
            status_code=response.status_code,
            request=request,
        )

    def _warn_redirect(self, status: int, shown: str, path: str) -> None:
        base = _base_of(shown, path)
        if base in self._redirects_warned:
            return
        self._redirects_warned.add(base)
        self._add_warning(f"url {self.endpoint} redirects (HTTP {status}) to {base}: set url to {base} to save a round trip on every request")

    def _unreachable(self, exc: Exception, model: str | None, request: str) -> OllamaUnreachable:
        if self.route is not None:
            return OllamaUnreachable(
                f"could not connect to the Kubernetes API server: {exc or type(exc).__name__}",
                endpoint=self.endpoint,
                model=model,
                request=request,
                hint=self.route.unreachable_hint(),
            )
        if is_tls_error(exc):
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

    def _status_error(self, response: httpx.Response, path: str, model: str | None, request: str) -> OllamaError:
        status = response.status_code
        if self.route is not None and status >= 400:
            hop = self.route.hop_error(status, response.text, method=request.split(" ", 1)[0], model=model, request=request)
            if hop is not None:
                return hop
        if status >= 400:
            return http_error(status, _server_message(response), path=path, endpoint=self.endpoint, model=model, request=request)
        # 1xx cannot reach here and 3xx are handled by _follow; anything else that is not 2xx is not Ollama's.
        return OllamaProtocolError(
            f"the server answered HTTP {status}, which Ollama does not send",
            endpoint=self.endpoint,
            model=model,
            request=request,
            status_code=status,
            hint="check that url points at an Ollama server and not at another service or a proxy",
        )

    def _decode(self, response: httpx.Response, model: str | None, request: str, *, allow_empty: bool = False) -> dict[str, Any]:
        text = response.text
        if not text.strip():
            if allow_empty:
                return {}
            raise OllamaProtocolError(
                f"the server answered HTTP {response.status_code} with an empty body",
                endpoint=self.endpoint,
                model=model,
                request=request,
                status_code=response.status_code,
                hint="check that url points at an Ollama server and not at a proxy that answers for it",
            )
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
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        model: str | None = None,
        timeout: float | None = None,
        allow_empty: bool = False,
    ) -> dict[str, Any]:
        """One JSON request; returns the decoded object. Retries connection errors, 429 and 5xx.

        An empty body is an ``OllamaProtocolError`` unless ``allow_empty`` (then ``{}``): only
        ``DELETE /api/delete`` answers that way, and elsewhere it means a proxy answered.
        """
        request = f"{method} {path}"
        if timeout is not None:
            timeout = _check_timeout(timeout)
        response = self._send(method, path, body, model=model, read_timeout=timeout, stream=False)
        return self._decode(response, model, request, allow_empty=allow_empty)

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
        stall = _check_stall(stall_timeout)
        request = f"POST {path}"
        # The socket read timeout sits a little above the watchdog: the watchdog decides, the
        # socket timeout only makes sure an abandoned reader thread ends eventually.
        response = self._send("POST", path, body, model=model, read_timeout=stall + 5.0, stream=True)
        return self._iter_ndjson(response, path, model, request, stall, heartbeat, heartbeat_interval)

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
        """The exception for an ``{"error": "..."}`` line (see ``_ollama_errors.stream_error`` for the rule)."""
        return stream_error(said, path=path, endpoint=self.endpoint, model=model, request=request)

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
        # Ollama always sends "models" (an empty list when there are none); an object without it
        # is another service's answer, and reading it as "no models" would make a sync pull or prune.
        models = data.get("models", ())
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
        data = self.request_json("POST", "/api/show", body, model=name)
        if not data:
            raise OllamaProtocolError(
                "/api/show answered an empty object",
                endpoint=self.endpoint,
                model=name,
                request="POST /api/show",
                hint="check that url points at an Ollama server",
            )
        return data

    def delete(self, name: str) -> None:
        """``DELETE /api/delete``; ``OllamaNotFound`` when the server has no such model."""
        self.request_json("DELETE", "/api/delete", {"model": name}, model=name, allow_empty=True)

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
        stall = _check_stall(stall_timeout)
        stream = self.stream_json(
            "/api/pull", {"model": name, "insecure": bool(insecure), "stream": True}, model=name, stall_timeout=stall, heartbeat=heartbeat
        )
        return self._pull_events(stream, name, stall)

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
        timeout = None if timeout is None else _check_timeout(timeout)
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
        timeout = None if timeout is None else _check_timeout(timeout)
        body: dict[str, Any] = {"model": model, "messages": messages, "stream": bool(stream)}
        if options:
            body["options"] = options
        if stream:
            return self.stream_json("/api/chat", body, model=model, stall_timeout=timeout or self.read_timeout)
        return self.request_json("POST", "/api/chat", body, model=model, timeout=timeout)


def _check_timeout(value: Any) -> float:
    try:
        return check_duration(value, "timeout")
    except ValueError as exc:
        raise OllamaParameterError(str(exc)) from None


def _base_of(url: str, path: str) -> str:
    """The base URL to suggest for ``url``, the target of a redirect of ``path``: ``url`` without that path at its end."""
    if path != "/" and url.endswith(path):
        return url[: -len(path)]
    return url.rstrip("/")
