#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: scale_drill_report
short_description: Write the scaling drill's report (JSON, Markdown, SVG timeline) and return its key figures
version_added: 0.1.0
description:
  - "Renders what the M(mlops.ollama.scale_validate) role's drill collected into O(dest) as C(<basename>.json) (everything, plus the
    key figures), C(<basename>.md) (a readable report with the outcome, key figures, preflight, per-pod table, events sorted, log matches,
    health probe and request loop) and C(<basename>.svg) (every pod's phases over the drill on one time axis, with the scale requests and
    detections marked)."
  - Returns the key figures in RV(summary), ready for M(ansible.builtin.set_stats).
  - "Runs on the host the task runs on (usually the controller, C(delegate_to: localhost))."
author:
  - mlops.ollama contributors (!UNKNOWN)
extends_documentation_fragment:
  - mlops.ollama.attributes
attributes:
  check_mode:
    support: full
    details:
      - Renders the report and predicts C(changed) without writing anything.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - A file is only written when its content or mode differs; the same drill data gives the same files.
options:
  dest:
    description: Directory to write the report files to (created when missing).
    type: path
    required: true
  basename:
    description: File name without extension.
    type: str
    default: scale-drill
  formats:
    description: Which files to write.
    type: list
    elements: str
    choices: [json, markdown, svg]
    default: [json, markdown, svg]
  drill:
    description:
      - "The drill's data, as collected by the role. Known keys are C(namespace), C(deployment), C(replicas_before), C(replicas_target),
        C(replicas_after), C(restored), C(restore), C(outcome) (V(passed)/V(failed)), C(failed_step), C(failure_msg), C(started_t), C(finished_t),
        C(preflight) (a dict), C(scale_up) and C(scale_down) (results of M(mlops.ollama.k8s_scale_watch)), C(logs) (C(startup),
        C(inference), C(tail): results of M(mlops.ollama.k8s_pod_logs)), C(events) (a result of M(mlops.ollama.k8s_events)),
        C(health) and C(request_loop) (results of M(mlops.ollama.ollama_health)). Missing parts are left out of the report."
      - "C(restore) says what the restore after the drill did, part by part: C(replicas) (C(restored), C(target), C(ready), C(error)) and
        C(hpa) (C(name), C(pinned), C(restored), C(min_replicas), C(max_replicas), C(error)). With it, C(restored) in RV(summary) is true
        only when every part was restored, and the Markdown report has a Restore section naming what was not."
    type: dict
    required: true
  mode:
    description:
      - File mode of the report files. A file whose mode differs is set to it, even when its content is the same.
      - The report holds the endpoint, pod and node names, log lines and events, so by default only its owner can read it.
      - The directory O(dest), when created, is readable by its owner only.
    type: raw
    default: "0600"
seealso:
  - module: mlops.ollama.k8s_scale_watch
  - module: mlops.ollama.k8s_events
"""

EXAMPLES = r"""
- name: Write the drill report next to the playbook
  mlops.ollama.scale_drill_report:
    dest: "{{ playbook_dir }}/reports"
    drill:
      namespace: ml
      deployment: ollama
      replicas_before: 1
      replicas_target: 2
      outcome: passed
      scale_up: "{{ __scale_up }}"
      scale_down: "{{ __scale_down }}"
      events: "{{ __events }}"
  delegate_to: localhost
  register: __report

- name: Publish the key figures to AWX
  ansible.builtin.set_stats:
    data:
      scale_drill: "{{ __report.summary }}"
"""

RETURN = r"""
files:
  description: Path of each file written (or that would be), by format.
  returned: always
  type: dict
  sample: {json: /tmp/reports/scale-drill.json, markdown: /tmp/reports/scale-drill.md, svg: /tmp/reports/scale-drill.svg}
summary:
  description:
    - The key figures, C(outcome), C(failed_step), C(namespace), C(deployment), C(replicas_before), C(replicas_target), C(replicas_after),
      C(restored), C(replicas_restored), C(hpa_restored) (V(null) when no HPA was pinned), C(scale_up_s), C(scale_down_s), C(new_pods),
      C(ready_after_s_min), C(ready_after_s_max), C(pods_terminated),
      C(terminations_graceful), C(terminations_forced), C(termination_s_max), C(request_loop_requests), C(request_loop_failures),
      C(health_status), C(events_missing), C(startup_logged_in_all_pods), C(inference_logged), C(watch_reconnects), C(detection_lag_s_max).
  returned: always
  type: dict
dest:
  description: The report directory.
  returned: always
  type: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.mlops.ollama.plugins.module_utils._drill_report import REPORT_ARGSPEC, ReportError, build_report


def main() -> None:
    module = AnsibleModule(argument_spec=REPORT_ARGSPEC, supports_check_mode=True)
    try:
        result = build_report(module.params, check_mode=module.check_mode)
    except ReportError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # noqa: BLE001 - a bug: show the traceback
        module.fail_json(msg=f"Unexpected error writing the drill report: {exc}", exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
