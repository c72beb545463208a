"""The Ollama client against bad options and odd answers: redirects, error classification, secrets.

Faults come from ``httpx.MockTransport`` (a real Ollama never redirects, never answers an
empty 200 to /api/tags, never sends a registry error on demand). The error lines are the
exact texts Ollama v0.11.4 formats (server/images.go, server/download.go), with host names
and paths chosen to hold the words an older rule looked for.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import (
    CONNECTION_ARGSPEC,
    DEFAULT_URL,
    OllamaAuthError,
    OllamaClient,
    OllamaError,
    OllamaNotFound,
    OllamaParameterError,
    OllamaProtocolError,
    OllamaRedirectError,
    OllamaRegistryError,
    OllamaRequestError,
    OllamaServerError,
    OllamaUnreachable,
    error_result,
)
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_connection import MAX_REDIRECTS

URL = "http://ollama.test:11434"
MODEL = "registry.test:5000/mlops/tiny:latest"
TAGS = {"models": [{"name": "tiny:latest", "model": "tiny:latest", "digest": "sha256:" + "a" * 64}]}

Handler = Callable[[httpx.Request], httpx.Response]


def params(**overrides: Any) -> dict[str, Any]:
    """Module parameters as Ansible hands them over (every option present, defaults filled)."""
    base = {name: spec.get("default") for name, spec in CONNECTION_ARGSPEC.items()}
    base.update(url=URL, retries=0, retry_backoff=0.0)
    base.update(overrides)
    return base


def make(handler: Handler, url: str = URL, **overrides: Any) -> OllamaClient:
    return OllamaClient.from_module_params(params(url=url, **overrides), transport=httpx.MockTransport(handler), sleep=lambda s: None)


def pull_error(said: str) -> OllamaError:
    body = json.dumps({"status": "pulling manifest"}) + "\n" + json.dumps({"error": said}) + "\n"
    c = make(lambda request: httpx.Response(200, headers={"content-type": "application/x-ndjson"}, content=body.encode()))
    with pytest.raises(OllamaError) as info:
        list(c.pull(MODEL))
    return info.value


# --------------------------------------------------------------------------------------
# Redirects: never success by accident, followed only where it is safe
# --------------------------------------------------------------------------------------


def test_an_empty_redirect_is_never_read_as_no_models() -> None:
    """An Ingress answering 302 to a login page on another host: today's "no models" must be a failure."""
    c = make(lambda request: httpx.Response(302, headers={"location": "https://sso.example/login"}))
    with pytest.raises(OllamaRedirectError) as info:
        c.tags()
    text = str(info.value)
    assert "HTTP 302" in text and "GET /api/tags" in text and URL in text and "another host" in text


def test_a_redirect_of_delete_is_never_read_as_deleted() -> None:
    c = make(lambda request: httpx.Response(301, headers={"location": "https://ollama.test/api/delete"}))
    with pytest.raises(OllamaRedirectError) as info:
        c.delete("tiny:latest")
    assert "HTTP 301" in str(info.value) and "DELETE /api/delete" in str(info.value)
    assert "https://ollama.test" in info.value.hint  # the final URL to put in url
    assert c.requests_made == ["DELETE /api/delete"]


def test_get_upgraded_to_https_on_the_same_host_is_followed_with_the_token() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.scheme == "http":
            return httpx.Response(308, headers={"location": f"https://ollama.test{request.url.path}"})
        return httpx.Response(200, json=TAGS)

    c = make(handler, url="http://ollama.test", api_token="tok-1")
    assert c.tags() == TAGS["models"]
    assert [str(r.url) for r in seen] == ["http://ollama.test/api/tags", "https://ollama.test/api/tags"]
    assert all(r.headers["authorization"] == "Bearer tok-1" for r in seen)
    assert c.requests_made == ["GET /api/tags", "GET https://ollama.test/api/tags"]
    assert any("set url to https://ollama.test" in w for w in c.warnings)


def test_post_301_is_not_followed_and_names_the_final_url() -> None:
    """301/302/303 turn a POST into a GET: following would send a pull without its body."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(301, headers={"location": "https://ollama.test/api/pull"})

    c = make(handler, url="http://ollama.test")
    with pytest.raises(OllamaRedirectError) as info:
        c.pull(MODEL)
    assert len(seen) == 1
    assert "POST /api/pull" in str(info.value) and "GET" in str(info.value)
    assert "https://ollama.test" in info.value.hint and not info.value.retryable


def test_post_307_to_the_same_host_is_followed_with_its_body() -> None:
    bodies: list[tuple[str, bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append((str(request.url), request.content))
        if request.url.scheme == "http":
            return httpx.Response(307, headers={"location": "https://ollama.test/api/show"})
        return httpx.Response(200, json={"modelfile": "FROM x", "details": {}})

    c = make(handler, url="http://ollama.test")
    assert c.show("tiny:latest")["modelfile"] == "FROM x"
    assert [json.loads(b) for _u, b in bodies] == [{"model": "tiny:latest"}] * 2


def test_redirect_to_another_host_never_sends_the_token_there() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return httpx.Response(307, headers={"location": "https://elsewhere.example/api/tags"})

    c = make(handler, api_token="tok-2")
    with pytest.raises(OllamaRedirectError):
        c.tags()
    assert hosts == ["ollama.test"]


@pytest.mark.parametrize(
    ("url", "location", "why"),
    [
        ("https://ollama.test", "http://ollama.test/api/tags", "downgrades"),
        (URL, "http://ollama.test:8080/api/tags", "another port"),
        (URL, "http://user:secret-pw@ollama.test:11434/api/tags", "credentials"),
    ],
)
def test_unsafe_same_host_redirects_are_refused(url: str, location: str, why: str) -> None:
    c = make(lambda request: httpx.Response(302, headers={"location": location}), url=url)
    with pytest.raises(OllamaRedirectError) as info:
        c.tags()
    assert why in str(info.value)
    assert "secret-pw" not in json.dumps(error_result(info.value))


def test_redirect_loops_stop_after_the_hop_limit() -> None:
    c = make(lambda request: httpx.Response(302, headers={"location": str(request.url)}))
    with pytest.raises(OllamaRedirectError) as info:
        c.version()
    assert f"more than {MAX_REDIRECTS}" in str(info.value)
    assert len(c.requests_made) == MAX_REDIRECTS + 1


@pytest.mark.parametrize("status", [300, 304])
def test_3xx_without_location_names_the_status(status: int) -> None:
    c = make(lambda request: httpx.Response(status))
    with pytest.raises(OllamaRedirectError) as info:
        c.tags()
    assert f"HTTP {status}" in str(info.value) and "GET /api/tags" in str(info.value)


def test_a_redirect_in_a_stream_is_followed_when_safe() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.scheme == "http":
            return httpx.Response(308, headers={"location": "https://ollama.test/api/pull"})
        return httpx.Response(200, content=b'{"status": "success"}\n')

    assert [e["status"] for e in make(handler, url="http://ollama.test").pull(MODEL)] == ["success"]


# --------------------------------------------------------------------------------------
# Classification by status and Ollama's own formats, never by words anywhere in a message
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "said",
    [
        'pull model manifest: Get "https://registry403.example:5000/v2/team403/forbidden/manifests/latest": '
        "dial tcp: lookup registry403.example: no such host",
        'max retries exceeded: Get "http://10.0.40.3:5000/v2/unauthorized/blobs/sha256:403403": unexpected EOF',
    ],
)
def test_403_or_forbidden_in_a_host_or_path_is_not_an_auth_error_and_is_retried(said: str) -> None:
    err = pull_error(said)
    assert type(err) is OllamaRegistryError and err.retryable  # pylint: disable=unidiomatic-typecheck
    assert "credentials" not in err.hint


def test_a_host_named_certificate_is_not_a_tls_problem() -> None:
    err = pull_error('pull model manifest: Get "https://certificate-x509.example/v2/a/b/manifests/latest": dial tcp 10.0.0.9:443: connect: connection refused')
    assert err.retryable and "CA" not in err.hint and "reachable" in err.hint


def test_a_not_found_word_in_a_proxy_error_is_not_a_missing_model() -> None:
    err = pull_error('pull model manifest: Get "https://r.example/v2/a/b/manifests/latest": proxyconnect tcp: page not found')
    assert type(err) is OllamaRegistryError and err.retryable  # pylint: disable=unidiomatic-typecheck


# The first seven are what Ollama v0.11.4 sent, pulling with insecure: true from a plain-HTTP registry that answered
# 403, 404, an HTML page, 503, 401 without a token realm, 400; then a closed port, then the same registry without insecure.
@pytest.mark.parametrize(
    ("said", "kind", "retryable"),
    [
        ('pull model manifest: 403: {"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}', OllamaAuthError, False),
        ("pull model manifest: file does not exist", OllamaNotFound, False),
        ("pull model manifest: invalid character '<' looking for beginning of value", OllamaRegistryError, False),
        ("pull model manifest: 503: maintenance", OllamaRegistryError, True),
        ('pull model manifest: Get "?nonce=D7a2FnMCVq2CHfScieC_1w&scope=&service=&ts=1796157166": unsupported protocol scheme ""', OllamaAuthError, False),
        ('pull model manifest: 400: {"errors":[{"code":"NAME_INVALID"}]}', OllamaRegistryError, False),
        (
            'pull model manifest: Get "http://127.0.0.1:25919/v2/t/closed/manifests/latest": dial tcp 127.0.0.1:25919: connect: connection refused',
            OllamaRegistryError,
            True,
        ),
        (
            'pull model manifest: Get "https://127.0.0.1:25911/v2/t/missing/manifests/latest": tls: first record does not look like a TLS handshake',
            OllamaRegistryError,
            False,
        ),
        ("file does not exist", OllamaNotFound, False),  # a layer the registry lists but does not hold
        ("pull model manifest: unauthorized: access denied", OllamaAuthError, False),
        ('pull model manifest: 403: {"errors":[{"code":"DENIED"}]}', OllamaAuthError, False),
        ("pull model manifest: 401: token server said no", OllamaAuthError, False),
        ("pull model manifest: 503: <html>maintenance</html>", OllamaRegistryError, True),
        ("pull model manifest: 429: slow down", OllamaRegistryError, True),
        ('pull model manifest: 400: {"errors":[{"code":"NAME_INVALID"}]}', OllamaRegistryError, False),
        ("pull model manifest: invalid character '<' looking for beginning of value", OllamaRegistryError, False),
        ("insecure protocol http", OllamaRegistryError, False),
        ('pull model manifest: Get "https://r:5000/v2/x/y/manifests/latest": http: server gave HTTP response to HTTPS client', OllamaRegistryError, False),
        ("digest mismatch, file must be downloaded again: want sha256:aa, got sha256:bb", OllamaRegistryError, True),
    ],
)
def test_ollamas_pull_errors_by_their_format(said: str, kind: type[OllamaError], retryable: bool) -> None:
    err = pull_error(said)
    assert type(err) is kind and err.retryable is retryable and err.server_message == said  # pylint: disable=unidiomatic-typecheck


def test_a_plain_http_registry_is_told_apart_from_a_bad_certificate() -> None:
    plain = pull_error('pull model manifest: Get "https://r:5000/v2/t/m/manifests/latest": tls: first record does not look like a TLS handshake')
    assert "insecure" in plain.hint and "CA" not in plain.hint
    cert = pull_error(
        'pull model manifest: Get "https://r:5000/v2/t/m/manifests/latest": tls: failed to verify certificate: x509: certificate signed by unknown authority'
    )
    assert "CA" in cert.hint


def test_http_errors_follow_the_status_not_the_body() -> None:
    c = make(lambda request: httpx.Response(500, json={"error": "upstream said 403 forbidden unauthorized"}))
    with pytest.raises(OllamaServerError):
        c.tags()


def test_a_connect_error_mentioning_ssl_in_a_host_name_is_not_a_tls_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known: ssl-tls-gateway.test", request=request)

    c = make(handler, retries=2)
    with pytest.raises(OllamaUnreachable) as info:
        c.tags()
    assert "could not connect" in info.value.message and "ca_path" not in info.value.hint
    assert len(c.requests_made) == 3


def test_429_is_retried() -> None:
    answers = iter([429, 200])
    c = make(lambda request: httpx.Response(status := next(answers), json=TAGS if status == 200 else {"error": "rate"}), retries=2)
    assert c.tags() == TAGS["models"] and len(c.requests_made) == 2


# --------------------------------------------------------------------------------------
# Bad options fail before any request, naming the option
# --------------------------------------------------------------------------------------


def _never(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request may be sent, got {request.method} {request.url}")


@pytest.mark.parametrize(
    ("overrides", "word"),
    [
        ({"url": "http://h:abc"}, "url"),
        ({"url": "http://h:0"}, "url"),
        ({"url": "http://h:65536"}, "url"),
        ({"url": "http://h:99999/x"}, "url"),
        ({"url": "http://[::1"}, "url"),
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": math.inf}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"connect_timeout": math.nan}, "connect_timeout"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"retry_backoff": math.nan}, "retry_backoff"),
        ({"retry_backoff": math.inf}, "retry_backoff"),
        ({"retry_backoff": -0.1}, "retry_backoff"),
        ({"retries": -1}, "retries"),
        ({"retries": True}, "retries"),
        ({"retries": 2.5}, "retries"),
        ({"validate_certs": "no"}, "validate_certs"),
        ({"api_token": "tok\n"}, "api_token"),
        ({"api_token": "tök"}, "api_token"),
        ({"url": "http://u:p@ollama.test", "api_token": "t"}, "api_token"),
    ],
)
def test_bad_options_fail_before_any_request(overrides: dict[str, Any], word: str) -> None:
    with pytest.raises(OllamaParameterError, match=word) as info:
        make(_never, **{"url": URL, **overrides})
    assert "tok\n" not in str(info.value)


@pytest.mark.parametrize("kind", ["missing", "directory", "garbage"])
def test_a_bad_ca_path_fails_before_any_request(tmp_path: Path, kind: str) -> None:
    path = {"missing": tmp_path / "nope.pem", "directory": tmp_path, "garbage": tmp_path / "g.pem"}[kind]
    (tmp_path / "g.pem").write_text("not a certificate\n")
    with pytest.raises(OllamaParameterError, match="ca_path") as info:
        make(_never, url="https://ollama.test", ca_path=str(path))
    assert {"missing": "does not exist", "directory": "is a directory", "garbage": "PEM"}[kind] in str(info.value)


def test_ca_path_is_ignored_without_certificate_validation(tmp_path: Path) -> None:
    make(_never, url="https://ollama.test", validate_certs=False, ca_path=str(tmp_path / "nope.pem"))


@pytest.mark.parametrize("value", [math.nan, math.inf, -1, 0])
def test_per_call_timeouts_are_checked(value: float) -> None:
    c = make(_never)
    with pytest.raises(OllamaParameterError, match="stall_timeout"):
        c.pull(MODEL, stall_timeout=value)
    with pytest.raises(OllamaParameterError, match="timeout"):
        c.generate("m", "hi", stream=False, timeout=value)


def test_defaults_are_valid() -> None:
    c = OllamaClient.from_module_params({})
    assert c.url == DEFAULT_URL and c.retries == 3 and c.warnings == []


# --------------------------------------------------------------------------------------
# Secrets: credentials in the URL, tokens over plain http
# --------------------------------------------------------------------------------------


def test_url_credentials_become_basic_auth_and_are_masked_everywhere() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(404, text="404 page not found")

    c = make(handler, url="https://alice:s%3Acret@ollama.test/")
    with pytest.raises(OllamaNotFound) as info:
        c.tags()
    assert seen[0].headers["authorization"] == httpx.BasicAuth("alice", "s:cret")._auth_header
    assert seen[0].url.userinfo == b""
    shown = [str(info.value), json.dumps(error_result(info.value)), repr(c), c.endpoint, c.url, *c.requests_made]
    assert not any("cret" in text or "alice" in text for text in shown), shown
    assert c.endpoint == "https://***@ollama.test"


def test_the_token_is_never_in_repr() -> None:
    c = make(_never, api_token="tok-secret-9")
    assert "tok-secret-9" not in repr(c)


@pytest.mark.parametrize(
    ("url", "token", "warned"),
    [
        ("http://ollama.example:11434", "t", True),
        ("http://u:p@ollama.example:11434", None, True),
        ("https://ollama.example", "t", False),
        ("http://127.0.0.1:11434", "t", False),
        ("http://localhost:11434", "t", False),
        ("http://[::1]:11434", "t", False),
        ("http://ollama.example:11434", None, False),
    ],
)
def test_a_secret_over_plain_http_to_a_remote_host_warns(url: str, token: str | None, warned: bool) -> None:
    heard: list[str] = []
    c = OllamaClient.from_module_params(params(url=url, api_token=token), warn=heard.append)
    assert bool(c.warnings) is warned and heard == c.warnings
    if warned:
        assert "clear text" in c.warnings[0] and "https://" in c.warnings[0]
        assert "p@" not in c.warnings[0]


# --------------------------------------------------------------------------------------
# Answers that are not Ollama's
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, b""), (204, b""), (200, b"{}"), (200, b'{"models": null}'), (200, b'{"error": "nope"}')],
)
def test_a_list_without_models_is_not_an_empty_list(status: int, body: bytes) -> None:
    c = make(lambda request: httpx.Response(status, content=body))
    with pytest.raises(OllamaProtocolError):
        c.tags()
    with pytest.raises(OllamaProtocolError):
        c.ps()


@pytest.mark.parametrize("body", [b"", b"{}"])
def test_an_empty_show_is_not_a_model(body: bytes) -> None:
    c = make(lambda request: httpx.Response(200, content=body))
    with pytest.raises(OllamaProtocolError):
        c.show("tiny:latest")


def test_an_empty_answer_to_generate_is_a_protocol_error() -> None:
    c = make(lambda request: httpx.Response(200))
    with pytest.raises(OllamaProtocolError, match="empty body"):
        c.generate("m", "hi", stream=False)


def test_a_2xx_html_page_on_a_pull_is_a_protocol_error() -> None:
    c = make(lambda request: httpx.Response(200, headers={"content-type": "text/html"}, content=b"<html><body>Sign in</body></html>\n"))
    with pytest.raises(OllamaProtocolError):
        list(c.pull(MODEL))


def test_a_4xx_that_is_not_special_keeps_the_servers_words() -> None:
    c = make(lambda request: httpx.Response(413, text="<html>413 Request Entity Too Large</html>"))
    with pytest.raises(OllamaRequestError) as info:
        c.show("x")
    assert info.value.status_code == 413 and "413" in str(info.value)
