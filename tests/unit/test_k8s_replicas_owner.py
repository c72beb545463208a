"""Handing spec.replicas back to the field manager that owned it before a scale."""

from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.mlops.ollama.plugins.module_utils import _k8s_replicas_owner as ro

APPLIER = {"manager": "mlops.ollama", "operation": "Apply", "subresource": ""}


def _entry(manager: str, operation: str, fields: dict[str, Any], subresource: str = "") -> dict[str, Any]:
    entry: dict[str, Any] = {"manager": manager, "operation": operation, "apiVersion": "apps/v1", "fieldsType": "FieldsV1", "fieldsV1": fields}
    if subresource:
        entry["subresource"] = subresource
    return entry


def _deployment(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"managedFields": list(entries)}}


def test_replicas_move_back_and_the_scale_entry_that_owned_only_them_goes() -> None:
    deploy = _deployment(
        _entry("mlops.ollama", "Apply", {"f:spec": {"f:template": {}}}),
        _entry(ro.SCALE_FIELD_MANAGER, "Update", {"f:spec": {"f:replicas": {}}}),
        _entry("kube-controller-manager", "Update", {"f:status": {"f:replicas": {}}}, subresource="status"),
    )
    assert ro.replicas_owner(deploy)["manager"] == ro.SCALE_FIELD_MANAGER
    fields = ro.managed_fields_with_replicas_owner(deploy, APPLIER)
    assert [e["manager"] for e in fields] == ["mlops.ollama", "kube-controller-manager"]
    assert fields[0]["fieldsV1"]["f:spec"] == {"f:template": {}, "f:replicas": {}}
    assert ro.replicas_owner({"metadata": {"managedFields": fields}}) == APPLIER
    assert deploy["metadata"]["managedFields"][1]["fieldsV1"] == {"f:spec": {"f:replicas": {}}}, "the input is not modified"


def test_a_scale_entry_that_owns_more_keeps_the_rest() -> None:
    deploy = _deployment(
        _entry("mlops.ollama", "Apply", {"f:metadata": {"f:labels": {}}}),
        _entry("kubectl-scale", "Update", {"f:metadata": {"f:annotations": {}}, "f:spec": {"f:replicas": {}}}),
    )
    fields = ro.managed_fields_with_replicas_owner(deploy, APPLIER)
    assert fields[1]["fieldsV1"] == {"f:metadata": {"f:annotations": {}}}
    assert fields[0]["fieldsV1"] == {"f:metadata": {"f:labels": {}}, "f:spec": {"f:replicas": {}}}


@pytest.mark.parametrize(
    "entries",
    [
        pytest.param([_entry("mlops.ollama", "Apply", {"f:spec": {"f:replicas": {}}})], id="owner-already-owns-it"),
        pytest.param([_entry(ro.SCALE_FIELD_MANAGER, "Update", {"f:spec": {"f:replicas": {}}})], id="owner-has-no-entry-left"),
        pytest.param([_entry("mlops.ollama", "Update", {"f:spec": {}}), _entry("x", "Update", {"f:spec": {"f:replicas": {}}})], id="same-name-other-operation"),
    ],
)
def test_nothing_to_hand_back(entries: list[dict[str, Any]]) -> None:
    assert ro.managed_fields_with_replicas_owner(_deployment(*entries), APPLIER) is None
