"""Unit tests of the shared Ollama client (plugins/module_utils/_ollama_client.py).

Behaviour against a real server is in tests/integration/test_ollama_models_bare_server.py. Here:
the faults a real server cannot produce on demand, through ``httpx.MockTransport`` (a stall
mid-stream, a reset connection, a malformed line, 401, 404 with the registry's words, an
error line mid-stream, 5xx), real sockets where a fake would prove nothing (a closed port,
a TLS handshake with an untrusted certificate), and the parameter checks.
"""

from __future__ import annotations

import datetime
import http.server
import ipaddress
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ansible_collections.mlops.ollama.plugins.doc_fragments.ollama_connection import ModuleDocFragment
from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_client as oc
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_client import (
    CONNECTION_ARGSPEC,
    OllamaAuthError,
    OllamaClient,
    OllamaConnectionLost,
    OllamaError,
    OllamaNotFound,
    OllamaParameterError,
    OllamaProtocolError,
    OllamaRegistryError,
    OllamaRequestError,
    OllamaServerError,
    OllamaTimeout,
    OllamaUnreachable,
    error_result,
)

URL = "http://ollama.test:11434"
MODEL = "127.0.0.1:25000/mlops/tiny-a:latest"
LAYER = "sha256:56ae60ae607b15785b146f3428af44f8107f6959dad107f6c42bc317ce751f4e"


Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, **kwargs: Any) -> OllamaClient:
    kwargs.setdefault("retries", 0)
    kwargs.setdefault("retry_backoff", 0.0)
    kwargs.setdefault("read_timeout", 5.0)
    return OllamaClient(URL, transport=httpx.MockTransport(handler), **kwargs)


def ndjson(lines: list[Any]) -> bytes:
    return b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines)


class Script(httpx.SyncByteStream):
    """A response body that plays a script: bytes to send, pauses, and an exception to raise."""

    def __init__(self, *steps: bytes | float | BaseException) -> None:
        self.steps = steps

    def __iter__(self) -> Iterator[bytes]:
        for step in self.steps:
            if isinstance(step, bytes):
                yield step
            elif isinstance(step, BaseException):
                raise step
            else:
                time.sleep(step)


def streaming(*steps: bytes | float | BaseException) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "application/x-ndjson"}, stream=Script(*steps))


PULL_OK = [
    {"status": "pulling manifest"},
    {"status": "pulling 56ae60ae607b", "digest": LAYER, "total": 474240, "completed": 100000},
    {"status": "pulling 56ae60ae607b", "digest": LAYER, "total": 474240, "completed": 474240},
    {"status": "verifying sha256 digest"},
    {"status": "writing manifest"},
    {"status": "success"},
]


# --------------------------------------------------------------------------------------
# Plain requests
# --------------------------------------------------------------------------------------


def test_request_json_sends_token_and_records_requests() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"version": "0.11.4"})

    c = client(handler, api_token="s3cret-token")
    assert c.version() == "0.11.4"
    assert c.requests_made == ["GET /api/version"]
    assert seen[0].headers["authorization"] == "Bearer s3cret-token"
    assert "mlops.ollama" in seen[0].headers["user-agent"]


def test_empty_answer_is_an_empty_dict() -> None:
    """``DELETE /api/delete`` answers 200 with no body."""
    c = client(lambda request: httpx.Response(200))
    c.delete(MODEL)
    assert c.requests_made == ["DELETE /api/delete"]


def test_5xx_is_retried_with_backoff_then_succeeds() -> None:
    answers = iter([503, 502, 200])
    sleeps: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        return httpx.Response(status, json={"models": []} if status == 200 else {"error": "upstream unavailable"})

    c = client(handler, retries=3, retry_backoff=0.5, sleep=sleeps.append)
    assert c.tags() == []
    assert c.requests_made == ["GET /api/tags"] * 3
    assert sleeps == [0.5, 1.0]


def test_5xx_after_the_last_retry_is_a_server_error_with_the_servers_words() -> None:
    c = client(lambda request: httpx.Response(500, json={"error": "llama runner process has terminated"}), retries=2, sleep=lambda s: None)
    with pytest.raises(OllamaServerError) as info:
        c.tags()
    err = info.value
    assert err.status_code == 500
    assert err.server_message == "llama runner process has terminated"
    assert c.requests_made == ["GET /api/tags"] * 3
    text = str(err)
    assert URL in text and "llama runner process has terminated" in text and "What to try" in text


def test_retries_stop_at_the_timeout_budget() -> None:
    """No retry starts after ``timeout`` seconds, whatever ``retries`` says."""
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    c = client(lambda request: httpx.Response(503), retries=10, retry_backoff=1.0, read_timeout=5.0, sleep=sleep, clock=lambda: now[0])
    with pytest.raises(OllamaServerError):
        c.tags()
    # Attempts at t=0, 1, 3 (the next would start at 7 > 5).
    assert c.requests_made == ["GET /api/tags"] * 3
    assert now[0] == 3.0


@pytest.mark.parametrize("status", [401, 403])
def test_401_403_is_an_auth_error_and_not_retried(status: int) -> None:
    c = client(lambda request: httpx.Response(status, text="Unauthorized"), retries=3, api_token="hunter2-token")
    with pytest.raises(OllamaAuthError) as info:
        c.tags()
    assert c.requests_made == ["GET /api/tags"]
    text = str(info.value)
    assert "api_token" in text and f"HTTP {status}" in text
    assert "hunter2-token" not in text
    assert "hunter2-token" not in json.dumps(error_result(info.value))


def test_404_on_show_names_the_model() -> None:
    c = client(lambda request: httpx.Response(404, json={"error": "model 'nope:latest' not found"}))
    with pytest.raises(OllamaNotFound) as info:
        c.show("nope:latest")
    err = info.value
    assert err.model == "nope:latest" and err.status_code == 404
    assert "model 'nope:latest' not found" in str(err)


def test_404_without_a_model_suggests_checking_the_url() -> None:
    c = client(lambda request: httpx.Response(404, text="404 page not found"))
    with pytest.raises(OllamaNotFound) as info:
        c.tags()
    assert "points at an Ollama server" in info.value.hint


def test_400_is_a_request_error() -> None:
    c = client(lambda request: httpx.Response(400, json={"error": "invalid model name"}))
    with pytest.raises(OllamaRequestError) as info:
        c.show("x")
    assert info.value.server_message == "invalid model name"


@pytest.mark.parametrize("body", [b"<html>nginx</html>", b"[1, 2]", b'{"models": 3}'])
def test_answers_that_are_not_ollamas_are_protocol_errors(body: bytes) -> None:
    c = client(lambda request: httpx.Response(200, content=body))
    with pytest.raises(OllamaProtocolError):
        c.tags()


def test_connection_refused_is_unreachable_and_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    c = client(handler, retries=2, sleep=lambda s: None)
    with pytest.raises(OllamaUnreachable) as info:
        c.version()
    assert c.requests_made == ["GET /api/version"] * 3
    assert "check url" in info.value.hint


def test_connection_dropped_before_the_answer_is_connection_lost() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)

    with pytest.raises(OllamaConnectionLost):
        client(handler).tags()


def test_read_timeout_is_a_timeout_and_not_retried() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    c = client(handler, retries=3)
    with pytest.raises(OllamaTimeout) as info:
        c.generate("m", "hi", stream=False)
    assert c.requests_made == ["POST /api/generate"]
    assert "raise timeout" in info.value.hint


# --------------------------------------------------------------------------------------
# Streams
# --------------------------------------------------------------------------------------


def test_pull_yields_progress_until_success() -> None:
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return streaming(ndjson(PULL_OK))

    events = list(client(handler).pull(MODEL, insecure=True))
    assert [e["status"] for e in events][-1] == "success"
    assert bodies == [{"model": MODEL, "insecure": True, "stream": True}]


def test_stall_mid_stream_is_a_timeout_not_a_hang() -> None:
    c = client(lambda request: streaming(ndjson(PULL_OK[:2]), 5.0, ndjson(PULL_OK[2:])))
    start = time.monotonic()
    with pytest.raises(OllamaTimeout) as info:
        for _event in c.pull(MODEL, stall_timeout=0.5):
            pass
    assert time.monotonic() - start < 2.0
    assert "sent nothing" in info.value.message and info.value.retryable


def test_heartbeat_runs_while_the_stream_is_silent() -> None:
    beats: list[float] = []
    c = client(lambda request: streaming(ndjson(PULL_OK[:2]), 0.35, ndjson(PULL_OK[2:])))
    events = list(c.stream_json("/api/pull", {"model": MODEL}, stall_timeout=5.0, heartbeat=lambda: beats.append(time.monotonic()), heartbeat_interval=0.1))
    assert events[-1]["status"] == "success"
    assert len(beats) >= 2


def test_lines_without_progress_are_a_stall() -> None:
    """Ollama repeats the same line every 60 ms while a download is stuck: that is a stall too."""
    now = [0.0]

    def clock() -> float:
        now[0] += 0.25
        return now[0]

    stuck = {"status": "pulling 56ae60ae607b", "digest": LAYER, "total": 474240, "completed": 474000}
    c = client(lambda request: streaming(ndjson([PULL_OK[0], *[stuck] * 40, *PULL_OK[3:]])), clock=clock)
    with pytest.raises(OllamaTimeout) as info:
        for _event in c.pull(MODEL, stall_timeout=3.0):
            pass
    assert "made no progress" in info.value.message and "474000 of 474240" in info.value.message


def test_connection_reset_mid_stream_is_connection_lost() -> None:
    c = client(lambda request: streaming(ndjson(PULL_OK[:2]), httpx.ReadError("[Errno 104] Connection reset by peer")))
    events: list[dict[str, Any]] = []
    with pytest.raises(OllamaConnectionLost) as info:
        for event in c.pull(MODEL):
            events.append(event)
    assert len(events) == 2
    assert "Connection reset by peer" in str(info.value) and info.value.retryable


def test_malformed_line_is_a_protocol_error() -> None:
    c = client(lambda request: streaming(ndjson([PULL_OK[0], b'{"status": "pulling 56ae', *PULL_OK[1:]])))
    with pytest.raises(OllamaProtocolError) as info:
        list(c.pull(MODEL))
    assert "not a JSON object" in info.value.message


def test_manifest_404_error_line_is_not_found_with_the_registrys_words() -> None:
    c = client(lambda request: streaming(ndjson([{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}])))
    with pytest.raises(OllamaNotFound) as info:
        list(c.pull("127.0.0.1:25000/mlops/nope:latest"))
    err = info.value
    assert err.server_message == "pull model manifest: file does not exist"
    assert err.model == "127.0.0.1:25000/mlops/nope:latest" and not err.retryable
    assert "pull model manifest: file does not exist" in str(err) and "127.0.0.1:25000/mlops/nope:latest" in str(err)


def test_error_line_mid_stream_is_a_registry_error() -> None:
    said = 'max retries exceeded: Get "http://127.0.0.2:25001/docker/registry/v2/blobs/sha256/56/x/data": connection reset by peer'
    c = client(lambda request: streaming(ndjson([*PULL_OK[:2], {"error": said}])))
    events: list[dict[str, Any]] = []
    with pytest.raises(OllamaRegistryError) as info:
        for event in c.pull(MODEL):
            events.append(event)
    assert len(events) == 2
    assert info.value.server_message == said and info.value.retryable


@pytest.mark.parametrize(
    ("said", "kind", "hint_word"),
    [
        ("pull model manifest: 401: unauthorized: access denied", OllamaAuthError, "credentials"),
        ('pull model manifest: Get "https://r:5000/v2/x/y/manifests/latest": http: server gave HTTP response to HTTPS client', OllamaRegistryError, "insecure"),
        (
            'pull model manifest: Get "https://r:5000/v2/x/y/manifests/latest": '
            "tls: failed to verify certificate: x509: certificate signed by unknown authority",
            OllamaRegistryError,
            "CA",
        ),
    ],
)
def test_error_lines_are_classified(said: str, kind: type[OllamaError], hint_word: str) -> None:
    c = client(lambda request: streaming(ndjson([{"status": "pulling manifest"}, {"error": said}])))
    with pytest.raises(kind) as info:
        list(c.pull(MODEL))
    assert hint_word in info.value.hint


def test_401_on_pull_is_an_auth_error() -> None:
    c = client(lambda request: httpx.Response(401, json={"error": "unauthorized"}))
    with pytest.raises(OllamaAuthError):
        c.pull(MODEL)


def test_stream_that_ends_without_success_is_a_protocol_error() -> None:
    c = client(lambda request: streaming(ndjson(PULL_OK[:2])))
    with pytest.raises(OllamaProtocolError) as info:
        list(c.pull(MODEL))
    assert "without 'success'" in info.value.message and info.value.retryable


def test_error_line_in_generate_is_a_server_error() -> None:
    c = client(lambda request: streaming(ndjson([{"response": "Hi", "done": False}, {"error": "unexpected EOF"}])))
    stream = c.generate("m", "hi", stream=True)
    assert not isinstance(stream, dict)
    with pytest.raises(OllamaServerError):
        list(stream)


def test_closing_a_stream_early_closes_the_response() -> None:
    closed = threading.Event()

    class Body(httpx.SyncByteStream):
        def __iter__(self) -> Iterator[bytes]:
            yield ndjson([{"response": "a", "done": False}])
            time.sleep(0.2)
            yield ndjson([{"response": "", "done": True}])

        def close(self) -> None:
            closed.set()

    c = client(lambda request: httpx.Response(200, stream=Body()))
    stream = c.generate("m", "hi", stream=True)
    assert not isinstance(stream, dict)
    assert next(stream)["response"] == "a"
    stream.close()  # type: ignore[attr-defined]
    assert closed.wait(2)


# --------------------------------------------------------------------------------------
# Real sockets: a closed port, a TLS handshake
# --------------------------------------------------------------------------------------


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_url_fails_within_timeout_with_a_clear_message() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    c = OllamaClient(url, read_timeout=2.0, retries=5, retry_backoff=0.5)
    start = time.monotonic()
    with pytest.raises(OllamaUnreachable) as info:
        c.tags()
    assert time.monotonic() - start < 2.5
    assert url in str(info.value) and "could not connect" in str(info.value)
    assert len(c.requests_made) >= 2  # it did retry, inside the budget


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 with a self-signed certificate; yields (url, path of the certificate)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            body = json.dumps({"version": "0.11.4"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", cert_path
    server.shutdown()


def test_tls_failure_with_validate_certs_names_the_fix(tls_server: tuple[str, Path]) -> None:
    url, _cert = tls_server
    c = OllamaClient(url, retries=0, read_timeout=5.0)
    with pytest.raises(OllamaUnreachable) as info:
        c.version()
    text = str(info.value)
    assert "TLS" in text and "ca_path" in text and "validate_certs" in text and url in text


def test_tls_with_ca_path_or_without_validation_works(tls_server: tuple[str, Path]) -> None:
    url, cert = tls_server
    assert OllamaClient(url, retries=0, ca_path=str(cert)).version() == "0.11.4"
    assert OllamaClient(url, retries=0, validate_certs=False).version() == "0.11.4"


def test_unreadable_ca_path_is_a_parameter_error_before_any_request(tmp_path: Path) -> None:
    (tmp_path / "not-a-bundle.pem").write_text("this is not PEM\n")
    for path in (tmp_path / "missing.pem", tmp_path, tmp_path / "not-a-bundle.pem"):
        with pytest.raises(OllamaParameterError, match="ca_path"):
            OllamaClient("https://127.0.0.1:1", ca_path=str(path))


# --------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"read_timeout": -1}, "timeout"),
        ({"read_timeout": 0}, "timeout"),
        ({"connect_timeout": -5}, "connect_timeout"),
        ({"retries": -1}, "retries"),
        ({"retry_backoff": -0.5}, "retry_backoff"),
    ],
)
def test_out_of_range_options_are_rejected_before_any_request(kwargs: dict[str, Any], word: str) -> None:
    with pytest.raises(OllamaParameterError, match=word):
        OllamaClient(URL, **kwargs)


@pytest.mark.parametrize("url", ["", "127.0.0.1:11434", "ftp://x", "http://", "http://h:1/?q=1"])
def test_bad_urls_are_rejected(url: str) -> None:
    with pytest.raises(OllamaParameterError, match="url"):
        OllamaClient(url)


def test_url_credentials_never_reach_messages() -> None:
    c = OllamaClient("http://user:pa55word@127.0.0.1:1", retries=0, read_timeout=1)
    with pytest.raises(OllamaUnreachable) as info:
        c.tags()
    assert "pa55word" not in str(info.value) and c.endpoint == "http://***@127.0.0.1:1"
    assert "pa55word" not in repr(c) and "pa55word" not in c.url


def test_stall_timeout_must_be_positive() -> None:
    with pytest.raises(OllamaParameterError, match="stall_timeout"):
        client(lambda request: httpx.Response(200)).pull(MODEL, stall_timeout=-1)


def test_from_module_params_maps_the_argspec() -> None:
    params = {
        "url": "http://h:1/",
        "validate_certs": False,
        "ca_path": None,
        "api_token": "t",
        "connect_timeout": 2.0,
        "timeout": 7.0,
        "retries": 1,
        "retry_backoff": 0.1,
    }
    c = OllamaClient.from_module_params(params)
    assert (c.url, c.validate_certs, c.connect_timeout, c.read_timeout, c.retries, c.retry_backoff) == ("http://h:1", False, 2.0, 7.0, 1, 0.1)


def test_argspec_and_doc_fragment_agree() -> None:
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(documented) == set(CONNECTION_ARGSPEC)
    for name, spec in CONNECTION_ARGSPEC.items():
        doc = documented[name]
        assert doc["type"] == spec["type"], name
        assert doc.get("default") == spec.get("default"), name
        # A ": " inside an unquoted line turns it into a mapping, which ansible-doc refuses.
        assert all(isinstance(line, str) for line in doc["description"]), name
    suboptions = documented["kubernetes"]["suboptions"]
    assert set(suboptions) == set(CONNECTION_ARGSPEC["kubernetes"]["options"])
    for name, spec in CONNECTION_ARGSPEC["kubernetes"]["options"].items():
        doc = suboptions[name]
        assert (doc["type"], doc.get("default"), doc.get("aliases")) == (spec["type"], spec.get("default"), spec.get("aliases")), name
    assert CONNECTION_ARGSPEC["api_token"]["no_log"] is True and CONNECTION_ARGSPEC["kubernetes"]["options"]["api_key"]["no_log"] is True
    # url has no default in the spec, so that an explicit kubernetes option never meets one; the default applies later.
    assert "default" not in CONNECTION_ARGSPEC["url"] and oc.DEFAULT_URL == "http://ollama.ml.svc.cluster.local:11434"


def test_a_path_prefix_in_url_is_kept() -> None:
    """Behind a proxy that serves Ollama under a prefix."""
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return httpx.Response(200, json={"models": []})

    c = OllamaClient("http://gateway.test/ollama/", transport=httpx.MockTransport(handler))
    c.tags()
    assert paths == ["/ollama/api/tags"] and c.requests_made == ["GET /api/tags"]
