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

import math
import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

# Kubernetes' quantity grammar (apimachinery resource.ParseQuantity): a signed decimal number, then a
# binary-SI suffix (Ki..Ei), a decimal-SI suffix (n u m k M G T P E) or a decimal exponent (e3, E-2).
QUANTITY_PATTERN = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?$"
QUANTITY_RE = re.compile(QUANTITY_PATTERN)
_QUANTITY_HELP = "a Kubernetes quantity such as 500m, 2, 1.5, 4Gi, 512Mi or 1e3"

# RFC 1123 label (namespaces, Services, container ports' names) and subdomain (most other object names).
DNS_LABEL_PATTERN = r"^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^(?=.{1,253}$)[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$"
DNS_LABEL_RE = re.compile(DNS_LABEL_PATTERN)
DNS_SUBDOMAIN_RE = re.compile(DNS_SUBDOMAIN_PATTERN)


def is_quantity(value: Any, *, allow_negative: bool = False) -> bool:
    """Whether the API server would accept ``value`` as a resource quantity (ints and floats as written)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return False
        return allow_negative or value >= 0
    if not isinstance(value, str) or QUANTITY_RE.fullmatch(value) is None:  # fullmatch: '$' alone accepts a trailing newline
        return False
    return allow_negative or not value.startswith("-")


def check_quantity(value: Any, param: str, *, allow_negative: bool = False) -> str:
    if not is_quantity(value, allow_negative=allow_negative):
        raise ValueError(f"{param}={value!r} is not {_QUANTITY_HELP}{'' if allow_negative else ' (not negative)'}")
    return str(value)


def is_k8s_name(value: Any, *, label: bool = False) -> bool:
    """An object name: an RFC 1123 subdomain (at most 253), or with ``label`` an RFC 1123 label (at most 63)."""
    pattern = DNS_LABEL_RE if label else DNS_SUBDOMAIN_RE
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def check_k8s_name(value: Any, param: str, *, label: bool = False) -> str:
    if not is_k8s_name(value, label=label):
        limit = 63 if label else 253
        dots = "" if label else ", '.'"
        raise ValueError(
            f"{param}={value!r} is not a valid Kubernetes name: use lowercase letters, digits and '-'{dots}, "
            f"start and end with a letter or digit, at most {limit} characters"
        )
    return value


def is_port(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65535


def check_port(value: Any, param: str) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not is_port(value):
        raise ValueError(f"{param}={value!r} is not a port number: give an integer from 1 to 65535")
    return value


def is_duration(value: Any, *, allow_zero: bool = False) -> bool:
    """A finite number of seconds, more than 0 (or at least 0 with ``allow_zero``); NaN, infinity and booleans are not."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return value >= 0 if allow_zero else value > 0


def check_duration(value: Any, param: str, *, allow_zero: bool = False, maximum: float | None = None) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if not is_duration(value, allow_zero=allow_zero) or (maximum is not None and value > maximum):
        least = "0 or more" if allow_zero else "more than 0"
        most = f" and at most {maximum:g}" if maximum is not None else ""
        raise ValueError(f"{param}={value!r} is not a duration: give a finite number of seconds, {least}{most}")
    return float(value)


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
