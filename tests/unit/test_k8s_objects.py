"""Reading Kubernetes objects: label selectors, timestamps, conditions."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.mlops.ollama.plugins.module_utils import _k8s_objects as ko
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import K8sInputError

from _pods import pod as _pod


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["x", "y"]}]}, "tier in (x,y)"),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["x"]}]}, "tier notin (x)"),
        ({"matchExpressions": [{"key": "gpu", "operator": "Exists"}, {"key": "old", "operator": "DoesNotExist"}]}, "gpu,!old"),
        ({}, ""),
        (None, ""),
    ],
)
def test_label_selector(selector: Any, expected: str) -> None:
    assert ko.label_selector(selector) == expected


def test_label_selector_rejects_unknown_operator() -> None:
    with pytest.raises(K8sInputError, match="Unsupported label selector operator 'Gt'"):
        ko.label_selector({"matchExpressions": [{"key": "k", "operator": "Gt", "values": ["1"]}]})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-06T10:00:00Z", 1767693600.0),
        ("2026-01-06T10:00:00.250000Z", 1767693600.25),
        ("2026-01-06T11:00:00+01:00", 1767693600.0),
        ("", None),
        (None, None),
        ("yesterday", None),
    ],
)
def test_parse_time(value: Any, expected: float | None) -> None:
    assert ko.parse_time(value) == expected


def test_iso_round_trips_with_milliseconds() -> None:
    assert ko.iso(1767693600.25) == "2026-01-06T10:00:00.250Z"
    assert ko.parse_time(ko.iso(1767693600.25)) == 1767693600.25


def test_last_condition_prefers_scheduling_problems() -> None:
    pod = _pod(
        "p",
        [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available"},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
        ],
    )
    cond = ko.last_condition(pod)
    assert cond["type"] == "PodScheduled"
    assert ko.describe_condition(cond) == "PodScheduled=False (Unschedulable): 0/3 nodes are available"
    assert ko.describe_condition({}) == "no conditions yet (not scheduled)"


@pytest.mark.parametrize(
    "selector", ["app=ollama", "app==ollama,tier!=cache", "env in (prod, staging)", "env notin (dev)", "gpu", "!legacy", "app.kubernetes.io/name=ollama", "a="]
)
def test_label_selectors_accepted(selector: str) -> None:
    assert ko.check_label_selector(selector, "label_selectors") == selector


@pytest.mark.parametrize("selector", ["", "app=ollama,", "app in prod", "app=(x)", "a b", "app=ollama;rm", "-bad=x", "app=x,,b=y"])
def test_label_selectors_refused_name_the_parameter(selector: str) -> None:
    with pytest.raises(ValueError, match=r"^label_selectors=.* is not a label selector"):
        ko.check_label_selector(selector, "label_selectors")


def test_check_regex() -> None:
    assert ko.check_regex(None, "until_regex") is None
    assert ko.check_regex("Listening on", "until_regex").search("Listening on 0.0.0.0")
    with pytest.raises(ValueError, match=r"^until_regex is not a valid Python regular expression"):
        ko.check_regex("(unclosed", "until_regex")


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({}, "Pending"),
        ({"phase": "Pending", "containerStatuses": [{"name": "main", "state": {"waiting": {"reason": "ContainerCreating"}}}]}, "ContainerCreating"),
        ({"phase": "Pending", "containerStatuses": [{"name": "main", "state": {"waiting": {"reason": "ImagePullBackOff"}}}]}, "ImagePullBackOff"),
        ({"phase": "Running", "containerStatuses": [{"name": "main", "state": {"running": {}}}]}, None),
        # A crash loop waits too, but its last run left a log to read.
        (
            {
                "phase": "Running",
                "containerStatuses": [
                    {"name": "main", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 3}}}
                ],
            },
            None,
        ),
        ({"phase": "Succeeded"}, None),
        ({"phase": "Pending", "containerStatuses": [{"name": "sidecar", "state": {"running": {}}}]}, "Pending"),
    ],
)
def test_container_waiting_names_why_a_container_has_no_log_yet(status, expected):
    assert ko.container_waiting({"status": status}, "main") == expected
