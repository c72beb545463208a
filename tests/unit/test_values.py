"""The value rules of module_utils/_values.py: what Kubernetes, Go and the modules accept, and nothing else."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ansible_collections.mlops.ollama.plugins.module_utils import _values as v

# What apimachinery's ParseQuantity accepts (see the property test against the real API server).
QUANTITIES = [
    "0",
    "1",
    "2",
    "500m",
    "1.5",
    "1.",
    ".5",
    "+1",
    "4Gi",
    "512Mi",
    "1Ki",
    "1Ei",
    "1E",
    "1k",
    "100n",
    "3u",
    "1e3",
    "1E3",
    "1e+3",
    "1e-3",
    "1.e3",
    "1.G",
    "007",
    "1e9223372036854775807",
    4,
    0,
    1.5,
    1e3,
    1e20,
]
NOT_QUANTITIES = [
    "",
    " ",
    "1Gi\n",
    " 1Gi",
    "1Gi ",
    "\n1",
    "1 Gi",
    "1K",
    "1KB",
    "1ki",
    "1i",
    "1e",
    "1e+",
    "1Ee3",
    "1Ki3",
    "1m3",
    "Gi",
    "+",
    "-",
    ".",
    ".G",
    "1,5",
    "1_000",
    "0x10",
    "١",
    "1e99999999999999999999",
    "nan",
    "inf",
    True,
    False,
    None,
    float("nan"),
    float("inf"),
    [],
    {},
]


@pytest.mark.parametrize("value", QUANTITIES)
def test_quantities_kubernetes_accepts(value):
    assert v.is_quantity(value)
    assert v.check_quantity(value, "q") == str(value)


@pytest.mark.parametrize("value", NOT_QUANTITIES)
def test_not_quantities(value):
    assert not v.is_quantity(value, allow_negative=True)
    with pytest.raises(ValueError, match=r"^q=.* is not a Kubernetes quantity"):
        v.check_quantity(value, "q")


@pytest.mark.parametrize("value", ["-1", "-500m", -1, -0.5, "-1e3"])
def test_negative_quantities_only_when_allowed(value):
    assert not v.is_quantity(value)
    assert v.is_quantity(value, allow_negative=True)


@pytest.mark.parametrize(
    ("value", "whole"),
    [
        ("2", True),
        (4, True),
        ("1e3", True),
        ("1k", True),
        ("1Ki", True),
        ("1.5", False),
        ("500m", False),
        ("1e-3", False),
        (1.5, False),
        ("1e30", False),
        ("0E20", True),
        ("0e-5", True),
        ("1Ei", False),
        ("9223372036854775", True),
        ("9223372036854776", False),
    ],
)
def test_integer_quantities(value, whole):
    assert v.is_quantity(value, integer=True) is whole


@pytest.mark.parametrize(
    ("value", "number"),
    [("500m", "0.5"), ("2Gi", "2147483648"), ("1e3", "1000"), ("1.5k", "1500"), ("100n", "0.0000001"), (".5Ki", "512"), (3, "3"), (0.25, "0.25")],
)
def test_quantity_value_is_exact(value, number):
    assert v.quantity_value(value) == Decimal(number)


@pytest.mark.parametrize(
    ("small", "big"),
    [("1500m", "2"), ("1Gi", "1e10"), ("1024Ki", "1Mi"), ("1Mi", "1024Ki"), ("999", "1k"), (1, "1001m"), ("1e-3", "1m"), ("1", "1e9223372036854775807")],
)
def test_quantity_at_most(small, big):
    assert v.quantity_at_most(small, big)


@pytest.mark.parametrize(("value", "limit"), [("3", "2"), ("2Gi", "2G"), ("1001m", 1), ("1Gi", "1Gi\n"), ("x", "1"), (True, 2)])
def test_quantity_not_at_most(value, limit):
    assert not v.quantity_at_most(value, limit)


@pytest.mark.parametrize(
    ("value", "subdomain", "label", "rfc1035"),
    [
        ("ml", True, True, True),
        ("ollama-tls", True, True, True),
        ("1ollama", True, True, False),
        ("a.b", True, False, False),
        ("a" * 63, True, True, True),
        ("a" * 64, True, False, False),
        ("a" * 253, True, False, False),
        ("a" * 254, False, False, False),
        ("ml\n", False, False, False),
        ("Ml", False, False, False),
        ("-ml", False, False, False),
        ("ml-", False, False, False),
        ("", False, False, False),
        (1, False, False, False),
    ],
)
def test_k8s_names(value, subdomain, label, rfc1035):
    assert v.is_k8s_name(value) is subdomain
    assert v.is_k8s_name(value, label=True) is label
    assert v.is_k8s_name(value, rfc1035=True) is rfc1035


def test_name_error_says_what_to_give():
    with pytest.raises(ValueError, match=r"ollama_deploy_name='1a' .* start with a letter .* at most 63"):
        v.check_k8s_name("1a", "ollama_deploy_name", rfc1035=True)


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("", True),
        ("0.17.4", True),
        ("a_b-c.d", True),
        ("a" * 63, True),
        ("a" * 64, False),
        ("-a", False),
        ("a b", False),
        ("a\n", False),
        ("a/b", False),
        (1, False),
    ],
)
def test_label_values(value, ok):
    assert v.is_label_value(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("cpu", True),
        ("nvidia.com/gpu", True),
        ("app.kubernetes.io/name", True),
        ("A_b", True),
        ("a/b/c", False),
        ("/a", False),
        ("Bad.Prefix/a", False),
        ("a/", False),
        ("", False),
        ("a\n", False),
    ],
)
def test_qualified_names(value, ok):
    assert v.is_qualified_name(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("ollama.example.com", True),
        ("*.example.com", True),
        ("localhost", True),
        ("10.0.0.1", False),
        ("::1", False),
        ("Ollama.example.com", False),
        ("a.example.com\n", False),
        ("*", False),
        ("a.*.com", False),
    ],
)
def test_ingress_hosts(value, ok):
    assert v.is_ingress_host(value) is ok


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (1, True),
        (65535, True),
        ("443", True),
        (0, False),
        (65536, False),
        (-1, False),
        (True, False),
        (80.0, False),
        ("80\n", False),
        (" 80", False),
        ("²", False),
        ("x", False),
    ],
)
def test_ports(value, ok):
    if ok:
        assert v.check_port(value, "p") == int(value)
    else:
        with pytest.raises(ValueError, match=r"^p=.* is not a port number"):
            v.check_port(value, "p")


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        (1, True),
        (0.5, True),
        ("300", True),
        ("1e2", True),
        (0, False),
        (-5, False),
        ("-5", False),
        ("nan", False),
        ("inf", False),
        (float("nan"), False),
        (float("inf"), False),
        (True, False),
        ("5\n", False),
        (" 5", False),
        ("5s", False),
        (None, False),
    ],
)
def test_durations(value, ok):
    if ok:
        assert v.check_duration(value, "t") == float(value)
    else:
        with pytest.raises(ValueError, match=r"^t=.* is not a duration"):
            v.check_duration(value, "t")


def test_duration_zero_and_maximum():
    assert v.check_duration(0, "t", allow_zero=True) == 0
    with pytest.raises(ValueError, match="at most 60"):
        v.check_duration(61, "t", maximum=60)


@pytest.mark.parametrize(
    ("value", "ok", "with_seconds"),
    [
        ("5m", True, True),
        ("1h30m", True, True),
        ("-1s", True, True),
        ("0", True, True),
        ("1.5h", True, True),
        ("300ms", True, True),
        ("-1", False, True),
        (300, False, True),
        ("5", False, True),
        ("5 m", False, False),
        ("5m\n", False, False),
        ("5min", False, False),
        ("", False, False),
        ("m", False, False),
        (True, False, False),
    ],
)
def test_go_durations(value, ok, with_seconds):
    assert v.is_go_duration(value) is ok
    assert v.is_go_duration(value, allow_seconds=True) is with_seconds


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("http://ollama:11434", True),
        ("https://a.example.com/", True),
        ("ollama:11434", False),
        ("http://a:0", False),
        ("http://a:99999", False),
        ("http://a/?x=1", False),
        (" http://a", False),
        ("http://a\n", False),
        ("ftp://a", False),
        (None, False),
    ],
)
def test_http_urls(value, ok):
    assert v.is_http_url(value) is ok
