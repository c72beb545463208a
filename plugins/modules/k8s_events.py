#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_events
short_description: A namespace's events, sorted by time, filtered, with expected reasons checked
version_added: 0.1.0
description:
  - Lists the events of a namespace (core/v1, what C(kubectl get events) shows), sorted by when they last happened
    (C(series.lastObservedTime), C(lastTimestamp), C(eventTime), C(firstTimestamp), then creation), oldest first or newest first.
  - Filters by involved object kind and name (exact or regular expression), reason, type and time.
  - With O(expect_reasons), reports which expected reasons are missing and, with O(wait_timeout), watches for them first
    (events are written asynchronously, a few hundred milliseconds after what they describe).
author:
  - mlops.ollama contributors (!UNKNOWN)
requirements:
  - kubernetes (the Python client; tested with 37, it needs the ApiClient.param_serialize API of the current generator)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - mlops.ollama.attributes
attributes:
  check_mode:
    support: full
    details:
      - Read-only; runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Never changes anything.
options:
  namespace:
    description: Namespace whose events to read.
    type: str
    required: true
  involved_kind:
    description: Only events about objects of these kinds (case-insensitive), e.g. V([Pod, ReplicaSet, Deployment]).
    type: list
    elements: str
    default: []
  involved_name:
    description: Only events about objects with these exact names.
    type: list
    elements: str
    default: []
  involved_name_regex:
    description: Only events about objects whose name matches this Python regular expression, e.g. V(^ollama).
    type: str
  reasons:
    description: Only events with these reasons, e.g. V([Killing, SuccessfulDelete]).
    type: list
    elements: str
    default: []
  types:
    description: Only events of these types.
    type: list
    elements: str
    choices: [Normal, Warning]
    default: []
  since_time:
    description: Only events that last happened at or after this RFC 3339 time (the whole second it falls in is kept).
    type: str
  since_seconds:
    description: Only events of the last this many seconds. Mutually exclusive with O(since_time).
    type: int
  expect_reasons:
    description:
      - Reasons that must be present among the filtered events; RV(missing_reasons) lists those that are not.
    type: list
    elements: str
    default: []
  fail_on_missing:
    description: Fail when an expected reason is missing (after O(wait_timeout)).
    type: bool
    default: true
  wait_timeout:
    description: Seconds to watch for missing expected reasons before giving up, at most V(86400). V(0) checks once.
    type: float
    default: 0
  order:
    description: V(asc) oldest first (C(kubectl get events --sort-by=.lastTimestamp)), V(desc) newest first.
    type: str
    choices: [asc, desc]
    default: asc
  limit:
    description: Return at most this many events (after sorting). V(0) or unset returns them all.
    type: int
seealso:
  - module: kubernetes.core.k8s_info
  - module: mlops.ollama.k8s_scale_watch
"""

EXAMPLES = r"""
- name: The scaling story of the drill, in order, and fail if a step left no event
  mlops.ollama.k8s_events:
    namespace: ml
    since_time: "{{ __drill_started }}"
    expect_reasons: [Scheduled, SuccessfulCreate, ScalingReplicaSet, Killing, SuccessfulDelete]
    wait_timeout: 30
  register: __events

- name: Print them like kubectl get events
  ansible.builtin.debug:
    var: __events.table

- name: Warnings about the Ollama pods, newest first
  mlops.ollama.k8s_events:
    namespace: ml
    involved_kind: [Pod]
    involved_name_regex: "^ollama-"
    types: [Warning]
    order: desc
    limit: 20
"""

RETURN = r"""
events:
  description:
    - The filtered events, sorted. Each has C(time) (ISO 8601) and C(t) (epoch seconds) of when it last happened, C(type), C(reason),
      C(kind), C(name), C(object) (C(Kind/name)), C(message), C(count), C(component), C(first_time), C(last_time), C(uid).
  returned: always
  type: list
  elements: dict
count:
  description: Number of events returned.
  returned: always
  type: int
reasons:
  description: Occurrences per reason among the returned events (counting C(count)).
  returned: always
  type: dict
  sample: {Scheduled: 1, SuccessfulCreate: 1, Killing: 1}
expected_reasons:
  description: O(expect_reasons), deduplicated.
  returned: always
  type: list
  elements: str
found_reasons:
  description: The expected reasons that were found.
  returned: always
  type: list
  elements: str
missing_reasons:
  description: The expected reasons that were not found.
  returned: always
  type: list
  elements: str
table:
  description: The events as C(kubectl get events)-like lines (a header first).
  returned: always
  type: list
  elements: str
watch:
  description: Watch statistics when the module waited for missing reasons.
  returned: when it waited
  type: dict
api_calls:
  description: The API requests made.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import auth_argspec, new_module, run_k8s_module
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_events import EVENTS_ARGSPEC, check_events_params, collect_events


def main() -> None:
    argument_spec = auth_argspec()
    argument_spec.update(EVENTS_ARGSPEC)
    module = new_module(argument_spec, supports_check_mode=True, mutually_exclusive=[("since_seconds", "since_time")])
    run_k8s_module(module, lambda m, client: collect_events(client, m.params), check=check_events_params)


if __name__ == "__main__":
    main()
