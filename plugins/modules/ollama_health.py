#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_health
short_description: Probe an Ollama server's health (API, models, inference, latency, load)
version_added: 0.1.0
description:
  - Runs health checks against an Ollama endpoint, in order, and reports each one separately in RV(checks).
  - "1. C(api): C(/api/version) answers and C(/) answers C(Ollama is running)."
  - "2. C(models): every model in O(models) (and O(inference_models)) is listed by C(/api/tags); each is reported with its size and digest.
    A name without a tag means C(:latest)."
  - "3. C(inference): for each of O(inference_models), C(/api/show) capabilities choose the probe. A completion model answers the O(probes)
    (C(/api/generate) non-streaming and streaming, C(/api/chat)) with O(prompt) and O(num_predict); each answer must be non-empty and end with
    C(done: true). An embedding-only model is probed through C(/api/embed) instead, and the result says so."
  - "4. C(performance): total latency of every probe, time to first token of the streaming probe, and tokens/s from C(eval_count) / C(eval_duration).
    A probe slower than O(max_latency_s) (or slower generation than O(min_tokens_per_s)) makes the service C(degraded)."
  - "5. C(load) (optional, when O(concurrency) > 0): O(requests) non-streaming generations from a thread pool of O(concurrency) workers,
    no request starting after O(load_duration_s); reports p50/p95/p99 latency, failures and requests/s. More failures than
    O(load_max_failure_rate) or a p95 above O(max_latency_s) makes the service C(degraded)."
  - The verdict RV(status) is the first check, in that order, that did not pass, with RV(status_code) being the exit code the
    collection's C(scripts/ollama-health) command returns for it (0 healthy, 1 API unreachable, 2 model missing, 3 inference failed, 4 degraded).
  - The module fails when RV(status) is in O(fail_on), naming the check; otherwise a non-healthy status is a warning.
  - The same checks run without Ansible from the collection's C(scripts/ollama-health) command (C(--url), C(--internal), or C(--external)
    with the URL in C(OLLAMA_EXTERNAL_URL); exit codes 0-4),
    which needs only C(python3) and C(httpx), for a CronJob or a person.
  - The module never changes anything.
author:
  - mlops.ollama contributors (!UNKNOWN)
requirements:
  - httpx
extends_documentation_fragment:
  - mlops.ollama.ollama_connection
  - mlops.ollama.attributes
  - mlops.ollama.attributes.ollama_group
attributes:
  check_mode:
    support: full
    details:
      - The checks are read-only and run in check mode too; set O(skip_inference_in_check_mode) to skip inference and the load probe.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
    details:
      - Never changes anything; RV(changed) is always V(false). Inference loads the model into the server's memory, as any client would.
options:
  models:
    description:
      - Models that must be present, e.g. V(llama3.2:1b). A name without a tag means V(:latest).
      - Every name is checked before any request; an invalid one fails naming it (C(models[1])).
      - When empty, the presence check is skipped and, unless O(inference_models) is set, so is inference.
    type: list
    elements: str
    default: []
  inference_models:
    description:
      - Models to run the inference probes (and the load probe, on the first) against.
      - Defaults to the first entry of O(models). Models listed here are also checked for presence.
    type: list
    elements: str
  probes:
    description:
      - Inference probes to run on a completion model.
      - V(generate) is C(/api/generate) non-streaming, V(generate_stream) the same streamed (measures time to first token),
        V(chat) is C(/api/chat) non-streaming.
    type: list
    elements: str
    choices: [generate, generate_stream, chat]
    default: [generate, generate_stream, chat]
  prompt:
    description:
      - The fixed prompt sent by every probe.
    type: str
    default: Hello
  num_predict:
    description:
      - Maximum tokens each probe generates (Ollama's C(num_predict)); keeps probes short and comparable.
    type: int
    default: 16
  inference_options:
    description:
      - "Extra Ollama C(options) for the probes, for example C({seed: 42}). C(temperature) defaults to 0. Use O(num_predict) for C(num_predict)."
    type: dict
    default: {}
  max_latency_s:
    description:
      - A probe slower than this many seconds (end to end), or a load p95 above it, makes the status V(degraded).
      - A finite number greater than 0; the default allows a short answer on a small model on CPU.
    type: float
    default: 30
  min_tokens_per_s:
    description:
      - When set, generation slower than this (from C(eval_count) / C(eval_duration)) makes the status V(degraded).
    type: float
  concurrency:
    description:
      - Parallel workers of the load probe. V(0) runs no load probe.
      - Each load request opens a new connection and is never retried, as clients arriving during a rollout make them, so a
        Service's drain is what the probe measures. A kept-alive connection to a stopping pod is dropped with it (Ollama
        closes open connections on SIGTERM), whatever the drain.
    type: int
    default: 0
  requests:
    description:
      - Total requests of the load probe (when O(concurrency) > 0).
    type: int
    default: 20
  load_duration_s:
    description:
      - Time limit of the load probe in seconds; no request starts after it (requests in flight finish, bounded by O(timeout)).
    type: float
    default: 60
  load_max_failure_rate:
    description:
      - Fraction (0-1) of load requests allowed to fail before the status is V(degraded). Load requests are not retried.
    type: float
    default: 0
  fail_on:
    description:
      - Statuses that fail the task. A status not listed here is returned with a warning instead.
      - For example V([api_unreachable, model_missing, inference_failed]) lets V(degraded) pass with a warning.
    type: list
    elements: str
    choices: [api_unreachable, model_missing, inference_failed, degraded]
    default: [api_unreachable, model_missing, inference_failed, degraded]
  skip_inference_in_check_mode:
    description:
      - In check mode, skip the inference probes and the load probe (they make the server load models and compute).
      - Outside check mode this has no effect.
    type: bool
    default: false
notes:
  - Every request made is returned in RV(api_calls) (the load probe's requests are counted in RV(checks.load) instead).
seealso:
  - module: mlops.ollama.ollama_model_info
  - name: Ollama API reference
    description: The endpoints this module probes.
    link: https://github.com/ollama/ollama/blob/main/docs/api.md
"""

EXAMPLES = r"""
- name: Check Ollama from outside the cluster, through the Service's proxy in the API server
  mlops.ollama.ollama_health:
    kubernetes:
      service: ollama
      namespace: ml
    models:
      - llama3.2:1b

- name: Check the in-cluster Ollama Service (fails unless healthy)
  mlops.ollama.ollama_health:
    url: http://ollama.ml.svc.cluster.local:11434
    models:
      - llama3.2:1b

- name: Let "degraded" pass with a warning; fail on everything else
  mlops.ollama.ollama_health:
    url: https://ollama.example.com
    models: [llama3.2:1b, qwen2.5:3b]
    max_latency_s: 30
    fail_on: [api_unreachable, model_missing, inference_failed]
  register: __ollama_health

- name: Show the verdict (status_code is the ollama-health command's exit code)
  ansible.builtin.debug:
    msg: "{{ __ollama_health.status }} ({{ __ollama_health.status_code }}): {{ __ollama_health.message }}"

- name: Probe under load and publish every check's timing for the run report (AWX shows set_stats)
  mlops.ollama.ollama_health:
    url: http://ollama.ml.svc.cluster.local:11434
    models: [llama3.2:1b]
    probes: [generate, generate_stream]
    concurrency: 4
    requests: 40
    load_duration_s: 120
    fail_on: [api_unreachable, model_missing, inference_failed]
  register: __ollama_health_load

- name: Record the health checks as run statistics
  ansible.builtin.set_stats:
    data:
      ollama_health:
        status: "{{ __ollama_health_load.status }}"
        status_code: "{{ __ollama_health_load.status_code }}"
        checks: "{{ __ollama_health_load.checks }}"
    aggregate: false

- name: Assert the latency figures a report needs
  ansible.builtin.assert:
    that:
      - __ollama_health_load.checks.load.failures == 0
      - __ollama_health_load.checks.load.p95_s < 30
      - __ollama_health_load.checks.performance.ttft_s is not none

- name: In check mode, only look at the API and the model list
  mlops.ollama.ollama_health:
    url: http://ollama.ml.svc.cluster.local:11434
    models: [nomic-embed-text]
    skip_inference_in_check_mode: true
  check_mode: true
"""

RETURN = r"""
pods:
  description:
    - With O(kubernetes.pod_selector), the result of each pod, by pod name, with the keys of this result and C(ready)
      (whether the pod was Ready); a failed pod's entry has C(failed), C(msg) and C(error).
  returned: with kubernetes.pod_selector
  type: dict
pods_not_running:
  description: With O(kubernetes.pod_selector), the matching pods that were left out because they were not running.
  returned: with kubernetes.pod_selector
  type: list
  elements: str
changed:
  description: Always V(false); the module changes nothing.
  returned: always
  type: bool
  sample: false
status:
  description: The verdict, decided by the first check (in order) that did not pass.
  returned: always
  type: str
  choices: [healthy, api_unreachable, model_missing, inference_failed, degraded]
  sample: healthy
status_code:
  description: The exit code the C(scripts/ollama-health) command returns for RV(status) (0 healthy, 1 API unreachable, 2 model missing,
    3 inference failed, 4 degraded).
  returned: always
  type: int
  sample: 0
failed_check:
  description: The check that decided RV(status) (V(api), V(models), V(inference), V(performance) or V(load)); V(null) when healthy.
  returned: always
  type: str
  sample: null
message:
  description: One line explaining the verdict; with O(kubernetes.pod_selector), each pod's, after its name.
  returned: always
  type: str
  sample: all checks passed
url:
  description: The endpoint probed.
  returned: always
  type: str
  sample: http://ollama.ml.svc.cluster.local:11434
version:
  description: The server's version from C(/api/version), when reachable.
  returned: always
  type: str
  sample: 0.11.4
checks:
  description:
    - Every check by name, in order (V(api), V(models), V(inference), V(performance), V(load)), each with C(name), C(outcome)
      (V(passed), V(warning), V(failed), V(skipped)), C(ok), C(message), C(duration_s) and its own figures.
    - Suitable for M(ansible.builtin.set_stats) and for a report.
  returned: always
  type: dict
  contains:
    api:
      description: C(version), C(version_s), C(root_s), C(root_text), and C(error) / C(error_type) on failure.
      type: dict
      returned: always
    models:
      description: C(expected), C(missing), C(available) (count listed), and C(present), a list of C(name), C(tag), C(size), C(size_human),
        C(digest), C(modified_at).
      type: dict
      returned: always
    inference:
      description:
        - C(prompt), C(options), and C(results), one per probed model with C(model), C(capabilities), C(skipped) (a reason, if any) and C(probes).
        - C(probes) maps a probe name (V(generate), V(generate_stream), V(chat), V(embed)) to C(outcome), C(latency_s), C(done), C(done_reason),
          C(response_chars), C(response_preview), C(eval_count), C(eval_duration_s), C(total_duration_s), C(tokens_per_s), C(error);
          the streaming probe adds C(ttft_s) and C(chunks).
      type: dict
      returned: always
    performance:
      description: C(max_latency_s) and C(min_tokens_per_s) (the thresholds), C(latency_s) and C(slowest) (the slowest probe), C(latencies),
        C(ttft_s), C(tokens_per_s) (the slowest generation).
      type: dict
      returned: always
    load:
      description: When run, C(model), C(endpoint), C(concurrency), C(requests), C(load_duration_s), C(issued), C(completed), C(failures),
        C(failure_rate), C(errors) (the first few), C(stopped_by) (V(requests) or V(time)), C(wall_s), C(requests_per_s), C(p50_s), C(p95_s),
        C(p99_s), C(max_s).
      type: dict
      returned: always
  sample:
    api: {name: api, outcome: passed, ok: true, message: API endpoint accessible (version 0.11.4), duration_s: 0.004, version: 0.11.4}
    load: {name: load, outcome: skipped, ok: false, message: "not requested (concurrency: 0)", duration_s: 0.0}
summary:
  description:
    - The human-readable report, the same lines as the C(scripts/ollama-health) command prints.
    - With O(kubernetes.pod_selector), every pod's lines, each after its pod's name.
  returned: always
  type: list
  elements: str
  sample: ["[PASS] API endpoint accessible (http://127.0.0.1:11434)", "OLLAMA HEALTH: OK"]
api_calls:
  description: The Ollama API requests made, in order (excluding the load probe's).
  returned: always
  type: list
  elements: str
  sample: [GET /api/version, GET /, GET /api/tags, POST /api/show, POST /api/generate]
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - Ansible modules put their documentation first

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_health import HEALTH_ARGSPEC  # noqa: E402
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_health_checks import execute_health, prepare_health  # noqa: E402
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_module import argument_spec, run_ollama_module  # noqa: E402


def main() -> None:
    # HEALTH_ARGSPEC lives beside the checks: the ollama-health command shares its defaults.
    module = AnsibleModule(argument_spec=argument_spec(HEALTH_ARGSPEC), supports_check_mode=True)
    run_ollama_module(module, prepare_health, execute_health, every_pod=True)


if __name__ == "__main__":
    main()
