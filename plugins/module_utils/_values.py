# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One rule per kind of value: Kubernetes quantity and name, port, URL, duration.

PRIVATE: this file is not part of the collection's public API and may change at
any time. Modules call these before any request or client is made; roles call
the same rules through the ``mlops.ollama`` test plugins in their preflight.

Each ``check_*`` returns the normalised value or raises ``ValueError`` whose text
names the parameter and says what to give instead. Standard library only.
"""

from __future__ import annotations

import ipaddress
import math
import re
from decimal import Context, Decimal
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# Kubernetes' quantity grammar (apimachinery resource.ParseQuantity): a signed decimal number, then a
# binary-SI suffix (Ki..Ei), a decimal-SI suffix (n u m k M G T P E) or a decimal exponent (e3, E-2).
# Stricter than the API server on purpose in two cases only: it refuses surrounding whitespace (the server
# trims it from JSON) and a number without any digit ('+', '-', '.', '.G'), which the server reads as 0.
QUANTITY_PATTERN = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
QUANTITY_RE = re.compile(QUANTITY_PATTERN)
_QUANTITY_PARTS_RE = re.compile(r"([+-]?)([0-9]*\.?[0-9]*)(.*)", re.DOTALL)
_QUANTITY_HELP = "a Kubernetes quantity such as 500m, 2, 1.5, 4Gi, 512Mi or 1e3"
_DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_INT64 = 2**63  # the server parses an exponent as a 64-bit integer
_EXPONENT_CLAMP = 10**17

# RFC 1123 label (namespaces), RFC 1035 label (Services: it starts with a letter) and RFC 1123 subdomain
# (most other object names).
DNS_LABEL_PATTERN = r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$"
DNS_1035_LABEL_PATTERN = r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^(?=.{1,253}$)[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL_RE = re.compile(DNS_LABEL_PATTERN)
DNS_1035_LABEL_RE = re.compile(DNS_1035_LABEL_PATTERN)
DNS_SUBDOMAIN_RE = re.compile(DNS_SUBDOMAIN_PATTERN)
# Label values, and the name part of label keys and resource names (qualified names: an optional subdomain prefix and '/').
LABEL_NAME_PATTERN = r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_LABEL_NAME_RE = re.compile(LABEL_NAME_PATTERN)


def _quantity_text(value: Any) -> str | None:
    """``value`` as the text the API server would parse, or None when no quantity can be written from it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str) or QUANTITY_RE.fullmatch(value) is None:  # fullmatch: '$' alone accepts a trailing newline
        return None
    suffix = _QUANTITY_PARTS_RE.fullmatch(value).group(3)  # type: ignore[union-attr]
    if suffix not in _BINARY_SUFFIXES and suffix not in _DECIMAL_SUFFIXES and not -_INT64 <= int(suffix[1:]) < _INT64:
        return None
    return value


def quantity_value(value: Any) -> Decimal | None:
    """The exact number a quantity stands for (``2Gi`` -> 2147483648, ``500m`` -> 0.5), or None if it is not one."""
    text = _quantity_text(value)
    if text is None:
        return None
    sign, number, suffix = _QUANTITY_PARTS_RE.fullmatch(text).groups()  # type: ignore[union-attr]
    if suffix in _BINARY_SUFFIXES:
        # Exact: the precision holds every digit of the number times 2**60.
        return Context(prec=len(number) + 40).multiply(Decimal(sign + number), Decimal(2 ** _BINARY_SUFFIXES[suffix]))
    exponent = _DECIMAL_SUFFIXES[suffix] if suffix in _DECIMAL_SUFFIXES else int(suffix[1:])
    # Decimal's exponents stop short of int64's; clamped this far out, the order of two quantities is unchanged.
    exponent = max(-_EXPONENT_CLAMP, min(_EXPONENT_CLAMP, exponent))
    return Decimal(f"{sign}{number}e{exponent}")


def is_quantity(value: Any, *, allow_negative: bool = False, integer: bool = False) -> bool:
    """Whether the API server would accept ``value`` as a resource quantity (ints and floats as written).

    ``integer``: only whole numbers, as the server demands of counted resources (``persistentvolumeclaims``,
    ``requests.nvidia.com/gpu``).
    """
    text = _quantity_text(value)
    if text is None or (not allow_negative and text.startswith("-")):
        return False
    if integer:
        number = quantity_value(text)
        # The server checks a count in thousandths held in an int64; past that its check overflows, so we stop there.
        return number is not None and (number == 0 or (abs(number) * 1000 < _INT64 and number == number.to_integral_value()))
    return True


def quantity_at_most(value: Any, limit: Any) -> bool:
    """Whether both are quantities and ``value`` is not more than ``limit`` (``1500m`` <= ``2``, ``1Gi`` <= ``1e10``)."""
    left, right = quantity_value(value), quantity_value(limit)
    return left is not None and right is not None and left.compare(right) <= 0


def check_quantity(value: Any, param: str, *, allow_negative: bool = False) -> str:
    if not is_quantity(value, allow_negative=allow_negative):
        raise ValueError(f"{param}={value!r} is not {_QUANTITY_HELP}{'' if allow_negative else ' (not negative)'}")
    return str(value)


def is_k8s_name(value: Any, *, label: bool = False, rfc1035: bool = False) -> bool:
    """An object name: an RFC 1123 subdomain (at most 253); with ``label`` an RFC 1123 label (at most 63);
    with ``rfc1035`` an RFC 1035 label (at most 63, starting with a letter: what Service names must be)."""
    pattern = DNS_1035_LABEL_RE if rfc1035 else DNS_LABEL_RE if label else DNS_SUBDOMAIN_RE
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def check_k8s_name(value: Any, param: str, *, label: bool = False, rfc1035: bool = False) -> str:
    if not is_k8s_name(value, label=label, rfc1035=rfc1035):
        short = label or rfc1035
        dots = "" if short else ", '.'"
        ends = "start with a letter and end with a letter or digit" if rfc1035 else "start and end with a letter or digit"
        raise ValueError(
            f"{param}={value!r} is not a valid Kubernetes name: use lowercase letters, digits and '-'{dots}, "
            f"{ends}, at most {63 if short else 253} characters"
        )
    return value


def is_label_value(value: Any) -> bool:
    """A label value: empty, or at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit."""
    return isinstance(value, str) and (value == "" or _LABEL_NAME_RE.fullmatch(value) is not None)


def is_qualified_name(value: Any) -> bool:
    """A label or annotation key, or a resource name: ``[prefix/]name``, the prefix an RFC 1123 subdomain."""
    if not isinstance(value, str):
        return False
    prefix, slash, name = value.rpartition("/")
    if slash and not is_k8s_name(prefix):
        return False
    return _LABEL_NAME_RE.fullmatch(name) is not None


def is_ingress_host(value: Any) -> bool:
    """An Ingress rule's host: a DNS name (an RFC 1123 subdomain, optionally ``*.`` first), not an IP address."""
    if not isinstance(value, str):
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return is_k8s_name(value[2:] if value.startswith("*.") else value)
    return False


def is_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def check_port(value: Any, param: str) -> int:
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value):  # not isdigit(): it takes '²' and other digits int() refuses
        value = int(value)
    if not is_port(value):
        raise ValueError(f"{param}={value!r} is not a port number: give an integer from 1 to 65535")
    return value


# A number of seconds written as text: digits, a point, an exponent, nothing else.
_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def is_duration(value: Any, *, allow_zero: bool = False) -> bool:
    """A finite number of seconds, more than 0 (or at least 0 with ``allow_zero``); NaN, infinity and booleans are not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return value >= 0 if allow_zero else value > 0


def check_duration(value: Any, param: str, *, allow_zero: bool = False, maximum: float | None = None) -> float:
    if isinstance(value, str) and _NUMBER_RE.fullmatch(value):  # not float() alone: it takes ' 5\n', 'nan' and 'inf'
        value = float(value)
    if not is_duration(value, allow_zero=allow_zero) or (maximum is not None and value > maximum):
        least = "0 or more" if allow_zero else "more than 0"
        most = f" and at most {maximum:g}" if maximum is not None else ""
        raise ValueError(f"{param}={value!r} is not a duration: give a finite number of seconds, {least}{most}")
    return float(value)


# A Go time.ParseDuration string ("5m", "1h30m", "-1s", "0"); Ollama's OLLAMA_KEEP_ALIVE also takes whole seconds.
_GO_DURATION_RE = re.compile(r"[-+]?(?:0|(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)")


def is_go_duration(value: Any, *, allow_seconds: bool = False) -> bool:
    """A Go duration string such as ``5m`` or ``1h30m`` (negative allowed); with ``allow_seconds`` also whole seconds."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return allow_seconds
    if not isinstance(value, str):
        return False
    return _GO_DURATION_RE.fullmatch(value) is not None or (allow_seconds and re.fullmatch(r"[-+]?[0-9]+", value) is not None)


def redact_url(url: str) -> str:
    """``url`` with any user name and password replaced by ``***``: safe to print."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = f"***@{host}" + (f":{port}" if port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def is_http_url(value: Any) -> bool:
    try:
        check_http_url(value, "url")
    except ValueError:
        return False
    return True


def check_http_url(value: Any, param: str, *, example: str = "http://ollama.ml.svc.cluster.local:11434") -> str:
    """An ``http://`` or ``https://`` URL with a host, a numeric port in range if any, and no query or fragment."""
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ValueError(f"{param} must be an http:// or https:// URL such as {example}, without surrounding whitespace, got {value!r}")
    url = value.rstrip("/")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"{param} {redact_url(url)!r} has an invalid host or port: the port must be a number from 1 to 65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{param} must be an http:// or https:// URL such as {example}, got {redact_url(url)!r} "
            "(OLLAMA_HOST-style host:port values need a scheme: http://host:11434)"
        )
    if port == 0:
        raise ValueError(f"{param} {redact_url(url)!r} has port 0: the port must be a number from 1 to 65535")
    if parts.query or parts.fragment:
        raise ValueError(f"{param} must not have a query or fragment, got {redact_url(url)!r}")
    return url
