# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Jinja tests for the kinds of value the roles take: ``x is mlops.ollama.k8s_quantity`` and the like.

Each test asks the rule in module_utils/_values.py, the one the modules use, so a role's preflight and a
module agree on what a quantity, a name, a port, a duration or a URL is. Documentation: one YAML file per
test beside this one (``ansible-doc -t test mlops.ollama.<name>``).
"""

from __future__ import annotations

from typing import Any, Callable

from ansible_collections.mlops.ollama.plugins.module_utils import _values


def _passes(check: Callable[..., Any], value: Any, **kwargs: Any) -> bool:
    try:
        check(value, "value", **kwargs)
    except ValueError:
        return False
    return True


def k8s_quantity(value: Any, allow_negative: bool = False, integer: bool = False) -> bool:
    return _values.is_quantity(value, allow_negative=allow_negative, integer=integer)


def k8s_quantity_at_most(value: Any, limit: Any) -> bool:
    return _values.quantity_at_most(value, limit)


def k8s_name(value: Any, label: bool = False, rfc1035: bool = False) -> bool:
    return _values.is_k8s_name(value, label=label, rfc1035=rfc1035)


def k8s_label_value(value: Any) -> bool:
    return _values.is_label_value(value)


def k8s_qualified_name(value: Any) -> bool:
    return _values.is_qualified_name(value)


def ingress_host(value: Any) -> bool:
    return _values.is_ingress_host(value)


def port(value: Any) -> bool:
    return _passes(_values.check_port, value)


def duration(value: Any, allow_zero: bool = False, maximum: float | None = None) -> bool:
    return _passes(_values.check_duration, value, allow_zero=allow_zero, maximum=maximum)


def go_duration(value: Any, allow_seconds: bool = False) -> bool:
    return _values.is_go_duration(value, allow_seconds=allow_seconds)


def http_url(value: Any) -> bool:
    return _values.is_http_url(value)


class TestModule:
    def tests(self) -> dict[str, Callable[..., bool]]:
        return {
            "k8s_quantity": k8s_quantity,
            "k8s_quantity_at_most": k8s_quantity_at_most,
            "k8s_name": k8s_name,
            "k8s_label_value": k8s_label_value,
            "k8s_qualified_name": k8s_qualified_name,
            "ingress_host": ingress_host,
            "port": port,
            "duration": duration,
            "go_duration": go_duration,
            "http_url": http_url,
        }
