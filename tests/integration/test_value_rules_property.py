"""Property tests: our value rules accept exactly what the real servers accept.

Hypothesis generates candidate strings (grammar-shaped ones and near misses: stray whitespace, a trailing newline,
unknown suffixes, over-long parts). Each is put to the local stack's real server:

- quantities: a server-side dry-run create of a ResourceQuota with the string as a hard value (``requests.cpu``,
  and ``persistentvolumeclaims`` for whole numbers), against ``_values.is_quantity``;
- Kubernetes names: dry-run creates of a ConfigMap (RFC 1123 subdomain), a Namespace (RFC 1123 label) and a
  Service (RFC 1035 label), against ``_values.is_k8s_name``;
- model names: ``POST /api/copy`` of a stored tiny model to the string on the stack's Ollama (removed again at
  once), against ``_ollama_names.parse_model_name``.

Agreement is exact except where our rule is stricter on purpose, each case named in ``STRICTER`` below: a quantity
with surrounding whitespace (the API server trims it from JSON), a number without digits (``+``, ``.``, ``.G``, which
the server reads as 0), a negative zero, a count whose thousandths overflow an int64 (the server's own check overflows there), and
a Service name that starts with a digit (newer API servers take one, older ones do not).
A value our rule accepts and the server refuses is always a failure.
"""

from __future__ import annotations

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kubernetes import client
from kubernetes.client.rest import ApiException

from ansible_collections.mlops.ollama.plugins.module_utils import _ollama_names as names
from ansible_collections.mlops.ollama.plugins.module_utils import _values as v

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def accepted(call) -> bool:
    """Whether the API server accepts the dry-run request (400/422: refused as invalid)."""
    try:
        call()
    except ApiException as exc:
        if exc.status in (400, 422):
            return False
        raise
    return True


# ---- quantities ----

_number = st.one_of(
    st.from_regex(r"\A[+-]?[0-9]{1,4}(\.[0-9]{0,3})?\Z"),
    st.from_regex(r"\A[+-]?\.[0-9]{1,3}\Z"),
    st.sampled_from(["", "+", "-", ".", "0", "00", "-0", "1.", "+.5"]),
)
_suffix = st.one_of(
    st.sampled_from(["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]),
    st.sampled_from(["K", "KB", "ki", "i", "e", "E+", "Ee3", "Ki3", "m3", "g", "mi"]),
    st.from_regex(r"\A[eE][+-]?[0-9]{1,3}\Z"),
)
_space = st.sampled_from(["", "", "", " ", "\n", "\t"])
QUANTITIES = st.one_of(
    st.builds(lambda a, n, s, b: a + n + s + b, _space, _number, _suffix, _space),
    st.text(alphabet="0123456789.+-eEinumkKMGTP \n", max_size=6),
)


def _stricter_quantity(text: str) -> bool:
    """A string the server takes and our rule refuses on purpose."""
    core = text.strip()
    if core != text:
        return True  # surrounding whitespace
    if not any(ch.isdigit() for ch in core.split("e")[0].split("E")[0]):
        return True  # no digit in the number: the server reads 0
    return core.startswith("-") and v.quantity_value(core) == 0  # negative zero


def _quota(kube, hard: dict):
    body = {"metadata": {"generateName": "property-"}, "spec": {"hard": hard}}
    return lambda: client.CoreV1Api(kube).create_namespaced_resource_quota("default", body, dry_run="All")


@SETTINGS
@given(text=QUANTITIES)
def test_quantity_rule_agrees_with_the_api_server(kube, text):
    server = accepted(_quota(kube, {"requests.cpu": text}))
    ours = v.is_quantity(text)
    assert not ours or server, f"{text!r}: our rule accepts it, the API server refuses it"
    assert ours or not server or _stricter_quantity(text), f"{text!r}: the API server accepts it, our rule refuses it"


@SETTINGS
@given(text=QUANTITIES)
def test_whole_number_rule_agrees_with_the_api_server(kube, text):
    server = accepted(_quota(kube, {"persistentvolumeclaims": text}))
    ours = v.is_quantity(text, integer=True)
    assert not ours or server, f"{text!r}: our rule accepts it as a count, the API server refuses it"
    number = v.quantity_value(text.strip())
    too_large = number is not None and abs(number) * 1000 >= 2**63
    assert ours or not server or _stricter_quantity(text) or too_large, f"{text!r}: the API server accepts it as a count, our rule refuses it"


# ---- Kubernetes names ----

_label = st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,8}[a-z0-9])?\Z")
K8S_NAMES = st.one_of(
    st.builds(lambda parts, tail: ".".join(parts) + tail, st.lists(_label, min_size=1, max_size=3), _space),
    st.text(alphabet="az09-._A \n", max_size=12),
    st.builds(lambda n, c: c * n, st.integers(60, 66), st.sampled_from(["a", "0"])),
    st.builds(lambda n: ".".join(["a" * 63] * 5)[:n], st.integers(250, 256)),
)


@SETTINGS
@given(name=K8S_NAMES)
def test_name_rules_agree_with_the_api_server(kube, name):
    core = client.CoreV1Api(kube)
    configmap = accepted(lambda: core.create_namespaced_config_map("default", {"metadata": {"name": name}}, dry_run="All"))
    namespace = accepted(lambda: core.create_namespace({"metadata": {"name": name}}, dry_run="All"))
    service = accepted(lambda: core.create_namespaced_service("default", {"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}, dry_run="All"))
    assert v.is_k8s_name(name) is configmap, f"{name!r}: subdomain rule {not configmap}, ConfigMap name {configmap}"
    assert v.is_k8s_name(name, label=True) is namespace, f"{name!r}: label rule {not namespace}, Namespace name {namespace}"
    ours = v.is_k8s_name(name, rfc1035=True)
    assert not ours or service, f"{name!r}: our RFC 1035 rule accepts it, the API server refuses it as a Service name"
    # Stricter on purpose: newer API servers also take a Service name that starts with a digit (an RFC 1123 label); older ones do not.
    assert ours or not service or v.is_k8s_name(name, label=True), f"{name!r}: the API server accepts it as a Service name, our rule refuses it"


# ---- Ollama model names ----

_part = st.one_of(st.text(alphabet="aZ09_.-", min_size=0, max_size=6), st.builds(lambda n: "m" * n, st.integers(78, 82)))
MODEL_NAMES = st.one_of(
    st.builds(
        lambda host, ns, model, tag: "/".join(p for p in (host, ns) if p is not None) + ("/" if host or ns else "") + model + tag,
        st.one_of(st.none(), st.sampled_from(["registry.example.com", "127.0.0.1:5000", "Host_1", "a..b", ""])),
        st.one_of(st.none(), _part),
        _part,
        st.one_of(st.just(""), _part.map(lambda t: ":" + t)),
    ),
    st.text(alphabet="aZ0_.-:/@ \n", max_size=12),
)


@pytest.fixture(scope="module")
def ollama(stack):
    with httpx.Client(base_url=stack.ollama_url, timeout=30) as http:
        listed = {m["name"].lower() for m in http.get("/api/tags").raise_for_status().json()["models"]}
        yield http, stack.models[0], listed


@SETTINGS
@given(name=MODEL_NAMES)
def test_model_name_rule_agrees_with_ollama(ollama, name):
    http, source, listed = ollama
    try:
        ours = names.parse_model_name(name)
    except names.ModelParameterError:
        ours = None
    if ours is not None and ours.key in listed or name.strip().lower() in listed:
        return  # never copy onto (and then delete) a model the stack holds
    response = http.post("/api/copy", json={"source": source, "destination": name})
    if response.status_code == 200:
        http.request("DELETE", "/api/delete", json={"model": name}).raise_for_status()
    elif response.status_code not in (400, 404):
        response.raise_for_status()
    server = response.status_code == 200
    assert (
        ours is not None
    ) is server, f"{name!r}: our rule {'accepts' if ours else 'refuses'} it, Ollama answered {response.status_code} {response.text[:200]}"
