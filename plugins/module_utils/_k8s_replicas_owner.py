# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Who owns a Deployment's spec.replicas, and handing it back after a scale.

PRIVATE: this file may change at any time; the public surface is the module k8s_scale_watch.
"""

from __future__ import annotations

import copy
from typing import Any, Mapping

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import K8sApiError, K8sClient, K8sWatchError

# The field manager the scale's own change is recorded under in the Deployment's managedFields.
SCALE_FIELD_MANAGER = "mlops.ollama.k8s_scale_watch"


def replicas_owner(deploy: Mapping[str, Any]) -> dict[str, str] | None:
    """The managedFields entry (manager, operation, subresource) that owns spec.replicas, if any does."""
    for entry in (deploy.get("metadata") or {}).get("managedFields") or []:
        if "f:replicas" in ((entry.get("fieldsV1") or {}).get("f:spec") or {}):
            return {"manager": entry.get("manager", ""), "operation": entry.get("operation", ""), "subresource": entry.get("subresource", "")}
    return None


def _owned_by(entry: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    return all(entry.get(key, "") == (owner.get(key) or "") for key in ("manager", "operation", "subresource"))


def managed_fields_with_replicas_owner(deploy: Mapping[str, Any], owner: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The Deployment's managedFields with spec.replicas owned by ``owner`` alone; None if nothing needs to move.

    None too when ``owner`` has no entry left (it gave up every field meanwhile): an entry is not made up.
    """
    entries = copy.deepcopy((deploy.get("metadata") or {}).get("managedFields") or [])
    if not any(_owned_by(e, owner) for e in entries):
        return None
    moved = False
    kept: list[dict[str, Any]] = []
    for entry in entries:
        spec = (entry.get("fieldsV1") or {}).get("f:spec")
        if _owned_by(entry, owner):
            if spec is None:
                spec = entry.setdefault("fieldsV1", {}).setdefault("f:spec", {})
            if "f:replicas" not in spec:
                spec["f:replicas"] = {}
                moved = True
        elif spec is not None and "f:replicas" in spec:
            del spec["f:replicas"]
            moved = True
            if not spec:
                del entry["fieldsV1"]["f:spec"]
            if not entry["fieldsV1"]:
                continue  # the server drops an entry that owns nothing; so do we
        kept.append(entry)
    return kept if moved else None


def hand_replicas_back(client: K8sClient, namespace: str, name: str, owner: Mapping[str, Any]) -> bool:
    """Make ``owner`` the owner of spec.replicas again; whether managedFields had to be rewritten.

    A scale records its manager as the owner of spec.replicas. After a drill that scales and restores, the count
    is as found but the ownership is not, so the owner's next server-side apply of the same manifest would take it
    back and report a change. Only managedFields are rewritten (a request that changes no field records no new
    owner); a test of the resourceVersion keeps a concurrent writer's change from being overwritten.
    """
    path, what = client.deployment_path(namespace, name), f"give spec.replicas of Deployment {namespace}/{name} back to {owner['manager']}"
    for _attempt in range(5):
        deploy = client.read_deployment(namespace, name)
        fields = managed_fields_with_replicas_owner(deploy, owner)
        if fields is None:
            return False
        patch = [
            {"op": "test", "path": "/metadata/resourceVersion", "value": (deploy.get("metadata") or {}).get("resourceVersion")},
            {"op": "replace", "path": "/metadata/managedFields", "value": fields},
        ]
        try:
            client.patch(path, patch, what, patch_type="application/json-patch+json", field_manager=SCALE_FIELD_MANAGER)
            return True
        except K8sApiError as exc:
            if exc.status not in (409, 422):  # 422: the test failed, the Deployment changed since it was read
                raise
    raise K8sWatchError(f"Could not {what}: the Deployment kept changing while it was being rewritten (5 attempts).")
