"""A pod object as the API returns it, for the unit tests of the Kubernetes helpers."""

from __future__ import annotations

from typing import Any


def pod(name: str, conds: list[dict[str, str]] | None = None, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": "2026-01-06T10:00:00Z", **meta},
        "spec": {"terminationGracePeriodSeconds": 30},
        "status": {"phase": "Pending", "conditions": conds or []},
    }
