"""The record of applied parts: what a rerun looks for when parts are switched off."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mlops.ollama.plugins.filter.parts import parts_record, parts_to_prune

QUOTA = {"kind": "ResourceQuota", "name": "ml-quota", "enabled": True}
LIMITS = {"kind": "LimitRange", "name": "ml-limits", "enabled": False}
HPA = {"kind": "HorizontalPodAutoscaler", "name": "ollama", "enabled": False, "crd": None}
PARTS = [QUOTA, LIMITS, HPA]


def test_record_lists_enabled_parts_sorted():
    assert parts_record(PARTS) == "ResourceQuota/ml-quota"
    assert parts_record([dict(p, enabled=True) for p in PARTS]) == "HorizontalPodAutoscaler/ollama,LimitRange/ml-limits,ResourceQuota/ml-quota"
    assert parts_record([]) == ""


def test_without_a_record_every_disabled_part_is_a_candidate():
    assert parts_to_prune(PARTS, None) == [LIMITS, HPA]


def test_with_a_record_only_the_parts_applied_then_are_candidates():
    assert parts_to_prune(PARTS, "LimitRange/ml-limits,ResourceQuota/ml-quota") == [LIMITS]
    assert parts_to_prune(PARTS, "ResourceQuota/ml-quota") == []
    assert parts_to_prune(PARTS, "") == []


def test_record_round_trip():
    before = [dict(p, enabled=True) for p in PARTS]
    assert parts_to_prune(PARTS, parts_record(before)) == [LIMITS, HPA]


@pytest.mark.parametrize("enabled", ["true", "yes", True, 1])
def test_enabled_as_ansible_booleans(enabled):
    assert parts_record([dict(QUOTA, enabled=enabled)]) == "ResourceQuota/ml-quota"


@pytest.mark.parametrize(
    ("parts", "recorded", "message"),
    [([{"kind": "X"}], None, "kind and name"), ([QUOTA], 3, "recorded parts"), ([dict(QUOTA, enabled="maybe")], None, "boolean")],
)
def test_bad_input_is_named(parts, recorded, message):
    with pytest.raises(AnsibleFilterError, match=message):
        parts_to_prune(parts, recorded)
