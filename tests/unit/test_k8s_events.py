"""Events: when an event last happened."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_events import event_time


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"lastTimestamp": "2026-01-06T10:00:05Z", "eventTime": None, "firstTimestamp": "2026-01-06T10:00:00Z"}, 1767693605.0),
        ({"lastTimestamp": None, "eventTime": "2026-01-06T10:00:03.500000Z"}, 1767693603.5),
        ({"series": {"lastObservedTime": "2026-01-06T10:00:09.000000Z"}, "eventTime": "2026-01-06T10:00:03.000000Z"}, 1767693609.0),
        ({"metadata": {"creationTimestamp": "2026-01-06T10:00:01Z"}}, 1767693601.0),
    ],
)
def test_event_time(event: dict[str, Any], expected: float) -> None:
    assert event_time(event) == expected
