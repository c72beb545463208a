#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_pod_logs
short_description: Read or follow the logs of every pod of a selector, optionally until a pattern appears
version_added: 0.1.0
description:
  - Reads the logs of one pod (O(name)), of every pod of a label selector (O(label_selectors)) or of a Deployment's pods (O(deployment)),
    like C(kubectl logs --prefix) with C(--tail), C(--since), C(--since-time), C(--timestamps) and C(--previous).
  - With O(follow), streams every pod's log at once until O(until_regex) matches (in any pod or in every pod, O(until)) or O(timeout)
    passes - for example to see an inference request appear in the logs while it is served.
  - Each returned line carries a C([pod/<name>/<container>]) prefix; lines are merged in arrival order, or by timestamp with O(timestamps).
  - Unlike M(kubernetes.core.k8s_log), which reads the first pod of a selector only and cannot follow.
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
    description: Namespace of the pods.
    type: str
    required: true
  name:
    description: One pod by name. Mutually exclusive with O(label_selectors) and O(deployment).
    type: str
  label_selectors:
    description: Label selectors (ANDed), e.g. V(app.kubernetes.io/name=ollama).
    type: list
    elements: str
    default: []
  deployment:
    description: Read the pods of this Deployment (its selector).
    type: str
  container:
    description:
      - Container to read. Defaults to the pod's C(kubectl.kubernetes.io/default-container) annotation, else its first container.
    type: str
  include_terminating:
    description: Also read pods that are being deleted.
    type: bool
    default: false
  tail_lines:
    description: Only the last this many lines of each pod (C(--tail)).
    type: int
  since_seconds:
    description: Only lines newer than this many seconds (C(--since)). Mutually exclusive with O(since_time).
    type: int
  since_time:
    description: Only lines at or after this RFC 3339 time (C(--since-time)), e.g. V(2026-01-06T10:00:00Z).
    type: str
  timestamps:
    description: Prefix each line with its RFC 3339 timestamp (C(--timestamps)); merged lines are then sorted by it.
    type: bool
    default: false
  previous:
    description: The previous (crashed or restarted) container's log (C(--previous)).
    type: bool
    default: false
  follow:
    description:
      - Stream the logs (C(--follow)) until O(until_regex) matches or O(timeout) passes.
      - A container that has not started yet (being created, pulling its image) is waited for within O(timeout).
    type: bool
    default: false
  until_regex:
    description:
      - A Python regular expression; with O(follow), stop as soon as it matches, without O(follow), check it in what was read.
      - When it does not match the module fails (see O(fail_on_timeout)) naming the pods without a match.
    type: str
  until:
    description: Whether O(until_regex) must match in V(any) pod or in V(all) of them (each pod stops counting once it matched).
    type: str
    choices: [any, all]
    default: any
  timeout:
    description: Seconds to follow, from the start of the module; more than V(0), at most V(86400).
    type: float
    default: 60
  fail_on_timeout:
    description: Fail when O(until_regex) was given and did not match. With V(false), return RV(matched=false) instead.
    type: bool
    default: true
  max_lines:
    description: Keep at most this many lines per pod in the result (C(truncated) in RV(pods) tells when more were read).
    type: int
    default: 2000
  require_pods:
    description: Fail when no pod matches the selection.
    type: bool
    default: true
seealso:
  - module: kubernetes.core.k8s_log
  - module: mlops.ollama.k8s_scale_watch
"""

EXAMPLES = r"""
- name: Every Ollama pod logged its startup line
  mlops.ollama.k8s_pod_logs:
    namespace: ml
    deployment: ollama
    until_regex: "Listening on"
    until: all

- name: The last 50 lines of the past 5 minutes, with timestamps
  mlops.ollama.k8s_pod_logs:
    namespace: ml
    label_selectors: [app.kubernetes.io/name=ollama]
    tail_lines: 50
    since_seconds: 300
    timestamps: true
  register: __logs

- name: Follow the logs (in the background) until an inference request is logged
  mlops.ollama.k8s_pod_logs:
    namespace: ml
    deployment: ollama
    follow: true
    since_time: "{{ now(utc=true).strftime('%Y-%m-%dT%H:%M:%SZ') }}"
    until_regex: 'POST\s+"/api/generate"'
    timeout: 60
  async: 90
  poll: 0
  register: __follow
"""

RETURN = r"""
pods:
  description:
    - One entry per pod read, C(name), C(container), C(node), C(prefix), C(lines) (up to O(max_lines)), C(line_count), C(truncated),
      C(matched), C(match_line), C(match_at) (when the match was read) and C(error) (V(null) unless its log could not be read).
  returned: always
  type: list
  elements: dict
lines:
  description: Every pod's lines with their C([pod/<name>/<container>]) prefix, merged.
  returned: always
  type: list
  elements: str
  sample: ['[pod/ollama-5d9c-abcde/ollama] time=2026-01-06T10:00:00Z level=INFO msg="Listening on [::]:11434"']
line_count:
  description: Lines read from all pods.
  returned: always
  type: int
matched:
  description: Whether O(until_regex) matched as O(until) requires; V(null) without O(until_regex).
  returned: always
  type: bool
matched_pods:
  description: Pods whose log matched O(until_regex).
  returned: always
  type: list
  elements: str
unmatched_pods:
  description: Pods whose log did not match O(until_regex).
  returned: always
  type: list
  elements: str
timed_out:
  description: Whether following stopped because O(timeout) passed.
  returned: always
  type: bool
selector:
  description: The label selector used.
  returned: always
  type: str
elapsed_s:
  description: Seconds the module spent.
  returned: always
  type: float
api_calls:
  description: The API requests made.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import auth_argspec, new_module, run_k8s_module
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_logs import LOGS_ARGSPEC, check_logs_params, collect_logs


def main() -> None:
    argument_spec = auth_argspec()
    argument_spec.update(LOGS_ARGSPEC)
    module = new_module(
        argument_spec,
        supports_check_mode=True,
        mutually_exclusive=[("name", "label_selectors", "deployment"), ("since_seconds", "since_time")],
        required_one_of=[("name", "label_selectors", "deployment")],
    )
    run_k8s_module(module, lambda m, client: collect_logs(client, m.params), check=check_logs_params)


if __name__ == "__main__":
    main()
