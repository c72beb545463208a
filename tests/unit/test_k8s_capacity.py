"""Capacity planning: a pod's scheduling requests."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_capacity import pod_requests


@pytest.mark.parametrize(
    ("containers", "init", "expected"),
    [
        ([{"resources": {"requests": {"cpu": "500m", "memory": "2Gi"}}}], [], {"cpu": 0.5, "memory": 2 * 2**30}),
        ([{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}], [], {"cpu": 1.0, "memory": 2**30}),
        ([{"resources": {"requests": {"cpu": "250m"}}}, {"resources": {"requests": {"cpu": "250m"}}}], [], {"cpu": 0.5, "memory": 0.0}),
        ([{"resources": {"requests": {"cpu": "100m"}}}], [{"resources": {"requests": {"cpu": "2"}}}], {"cpu": 2.0, "memory": 0.0}),
        ([{}], [], {"cpu": 0.0, "memory": 0.0}),
    ],
)
def test_pod_requests(containers: list[dict[str, Any]], init: list[dict[str, Any]], expected: dict[str, float]) -> None:
    assert pod_requests({"containers": containers, "initContainers": init}) == expected
