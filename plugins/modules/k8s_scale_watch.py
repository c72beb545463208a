#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: k8s_scale_watch
short_description: Scale a Deployment and watch its pods until the target is reached, with a per-pod timeline
version_added: 0.1.0
description:
  - Sets O(replicas) on a Deployment and waits, on watches of its pods and of the Deployment (no polling),
    until the target is reached - every pod Ready for a scale-up, the surplus pods gone for a scale-down - or O(wait_timeout) passes.
  - "The target is reached when: the Deployment controller has observed the new generation; its status shows O(replicas) replicas and
    O(replicas) updated (current pod template) and ready replicas; exactly O(replicas) pods of its selector are live (not being deleted, not
    finished) and all are Ready (with O(wait_for=started): the ready count is not needed and each pod's containers need only have started);
    and, with O(wait_for_termination), no pod of the selector is still terminating."
  - Returns a timeline for every pod (created, scheduled and its node, running, ready, deletion requested, gone) with timestamps,
    how long each termination took against the pod's grace period, whether a delete was forced, and when the target was detected.
  - A dropped watch connection is re-opened from the last resourceVersion it saw, so no transition is missed; if the server has
    compacted that version (HTTP 410) the pods are listed again and the difference recorded (source V(relist)).
  - Unlike M(kubernetes.core.k8s_scale) (which polls every O(kubernetes.core.k8s_scale#module:wait_sleep) seconds and times out at 20 s
    by default) this returns as soon as the watch delivers the event that completes the target.
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
      - Reads the Deployment and reports whether the replica count would change; scales nothing and does not wait.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - Scaling to the current count changes nothing (RV(changed=false)) and still waits for the target state.
options:
  name:
    description: Name of the Deployment.
    type: str
    required: true
  namespace:
    description: Namespace of the Deployment.
    type: str
    required: true
  replicas:
    description:
      - The replica count to set, from V(0) to V(1000).
      - Without it, nothing is scaled and the module waits for the Deployment's current count (a rollout in progress, or the count an
        HPA chose) to be reached.
    type: int
  direction:
    description:
      - Refuse, before changing anything, a target that goes the wrong way.
      - V(up) fails when O(replicas) is below the current count, V(down) when it is above; V(any) accepts both.
    type: str
    choices: [any, up, down]
    default: any
  wait:
    description:
      - Wait for the target state. With V(false) the module returns right after setting the replica count.
    type: bool
    default: true
  wait_timeout:
    description:
      - Seconds to wait for the target state, counted from the scale request; more than V(0), at most V(86400).
      - On timeout the module fails naming every pod that is not Ready with its last condition, for example
        C(PodScheduled=False Unschedulable, 0/3 nodes are available), and still returns the timeline.
    type: float
    default: 300
  wait_for_termination:
    description:
      - Also wait until the pods being deleted are gone (not just out of the count).
    type: bool
    default: true
  wait_for:
    description:
      - What each pod must reach. V(ready) waits for the Deployment's ready replicas and every pod Ready.
      - V(started) waits only until every container of each pod runs and has passed its startup probe, Ready or not, for pods whose
        readiness waits for something done next, such as their models (the role C(ollama_deploy) with
        C(ollama_deploy_readiness_models)).
    type: str
    choices: [ready, started]
    default: ready
  capacity_check:
    description:
      - Before a scale-up (also in check mode), estimate whether the extra pods' requests fit on the nodes, and fail with the shortfall
        (cpu, memory, pods per node) before changing anything when they do not.
      - Counts nodes that are Ready, schedulable, match the pod template's C(nodeSelector) and whose C(NoSchedule)/C(NoExecute) taints
        are tolerated; free room is allocatable minus the requests of the pods bound there (containers summed, init containers' maximum,
        limits when a request is missing). Affinity and topology spread constraints are not evaluated.
      - Needs C(list) of pods in all namespaces for a complete estimate. It asks first (a SelfSubjectAccessReview, never refused);
        without the right, only the Deployment's namespace is counted (see
        RV(capacity)).
    type: bool
    default: true
  replicas_owner:
    description:
      - After the target is reached, make this field manager the owner of C(spec.replicas) again - pass the RV(replicas_owner) an
        earlier call returned before it scaled. A scale records its own manager (C(mlops.ollama.k8s_scale_watch)) as the owner, so
        after a scale and a scale back the count is as found but its ownership is not, and the owner's next server-side apply of the
        same manifest (for example M(kubernetes.core.k8s) with O(kubernetes.core.k8s#module:apply) in the role C(ollama_deploy))
        would take it back and report a change.
      - Only C(metadata.managedFields) is rewritten, guarded by the resourceVersion it was read at; nothing happens when the owner
        already owns it or no longer has an entry. Needs O(wait=true).
    type: dict
    suboptions:
      manager:
        description: The field manager's name.
        type: str
        required: true
      operation:
        description: The operation of its entry.
        type: str
        required: true
        choices: [Apply, Update]
      subresource:
        description: The subresource of its entry (V(scale) for an HPA's changes, empty for the Deployment itself).
        type: str
        default: ""
notes:
  - Every parameter is checked before the module connects to the cluster, so a bad value is reported as such even when the API
    server is unreachable.
  - A watch that keeps failing (connection refused, HTTP 5xx, an error event) is re-opened after a jittered, exponentially growing
    pause (from about 0.1 s up to 4 s) and given up after 10 consecutive failures with an error that names the watch and the API's last
    message; HTTP 410 Gone is answered at once with a fresh list.
  - Timeline times are the client's clock when the watch delivered the change (C(sources) V(watch) in RV(pods)); for pods that existed
    before the module started they come from the server's own timestamps (V(server), one-second precision).
seealso:
  - module: kubernetes.core.k8s_scale
  - module: mlops.ollama.k8s_pod_logs
  - module: mlops.ollama.k8s_events
"""

EXAMPLES = r"""
- name: Scale Ollama up to 2 and wait until both pods are Ready
  mlops.ollama.k8s_scale_watch:
    namespace: ml
    name: ollama
    replicas: 2
    direction: up
    wait_timeout: 300
  register: __scale_up

- name: Show when each pod became Ready
  ansible.builtin.debug:
    msg: "{{ __scale_up.pods | map(attribute='name') | zip(__scale_up.pods | map(attribute='ready')) | list }}"

- name: Scale back down, wait until the surplus pod is gone, and give spec.replicas back to whoever owned it before
  mlops.ollama.k8s_scale_watch:
    namespace: ml
    name: ollama
    replicas: 1
    direction: down
    replicas_owner: "{{ __scale_up.replicas_owner }}"
  register: __scale_down

- name: Check the surplus pod terminated gracefully
  ansible.builtin.assert:
    that:
      - __scale_down.pods | selectattr('deletion_requested') | rejectattr('forced') | selectattr('gone_within_grace') | list | length == 1

- name: With AWX's Kubernetes credential (K8S_AUTH_HOST / K8S_AUTH_API_KEY in the environment) no kubeconfig is needed
  mlops.ollama.k8s_scale_watch:
    namespace: ml
    name: ollama
    replicas: 1
"""

RETURN = r"""
changed:
  description: Whether the replica count (or, with O(replicas_owner), the ownership of C(spec.replicas)) was (or in check mode would be) changed.
  returned: always
  type: bool
deployment:
  description: C(name), C(namespace), C(selector), C(replicas_before), C(replicas) (the target), and after the wait C(generation),
    C(observed_generation), C(status_replicas), C(ready_replicas), C(available_replicas).
  returned: always
  type: dict
  sample: {name: ollama, namespace: ml, replicas_before: 1, replicas: 2, ready_replicas: 2}
replicas_owner:
  description:
    - The field manager that owned C(spec.replicas) before this call (C(manager), C(operation), C(subresource)), or V(null) if none did.
      Pass it as O(replicas_owner) to the call that scales back.
  returned: always
  type: dict
  sample: {manager: mlops.ollama, operation: Apply, subresource: ""}
replicas_owner_restored:
  description: Whether C(spec.replicas) was handed back to O(replicas_owner) (its C(managedFields) rewritten).
  returned: when O(replicas_owner) is set and the target was reached
  type: bool
pods:
  description:
    - One entry per pod of the selector seen during the run, in the order first seen.
    - C(name), C(uid), C(node), C(pre_existing), C(phase) (V(Gone) once deleted), C(ready_now), C(last_condition)
      (C(type), C(status), C(reason), C(message), C(lastTransitionTime)), C(grace_period_s), C(deletion_grace_period_s).
    - For each of C(created), C(scheduled), C(running), C(ready), C(deletion_requested), C(gone) an ISO 8601 time (or V(null))
      and the same as epoch seconds in C(<phase>_t); C(sources) tells where each time came from (V(watch), V(server), V(relist)).
    - C(ready_after_s) (created to Ready); for deleted pods C(forced) (grace period 0), C(termination_s) (deletion requested to gone)
      and C(gone_within_grace).
    - C(history), the pod's transitions in order.
  returned: unless check mode
  type: list
  elements: dict
live_pods:
  description:
    - The live pods of the Deployment (not being deleted, not finished) at the end of the run, sorted by name, from the same watch
      as RV(pods) - no extra request. In check mode, the pods as listed.
    - C(name), C(node) (or V(null)), C(phase), C(ip) (or V(null)), C(ready) (bool, Ready now), C(created) (ISO 8601),
      C(ready_time) (when it became Ready, ISO 8601, V(null) when not Ready), C(seconds_to_ready) (C(created) to C(ready_time), or V(null)).
    - Times of pods created during the run are the watch's (client clock, milliseconds); of pods that existed before, the server's
      own timestamps (one-second precision).
  returned: always
  type: list
  elements: dict
  sample:
    - {name: ollama-7d9c-abcde, node: node-1, phase: Running, ip: 10.42.0.12, ready: true,
       created: "2026-01-06T10:00:00.120Z", ready_time: "2026-01-06T10:00:03.480Z", seconds_to_ready: 3.36}
events:
  description: All pods' transitions merged and sorted by time (C(pod), C(phase), C(t), C(at), C(source), and C(node) for V(scheduled)).
  returned: unless check mode
  type: list
  elements: dict
capacity:
  description:
    - The capacity estimate of a scale-up (O(capacity_check)), C(extra_pods), C(fits), C(placeable), C(per_pod_requests),
      C(extra_requests), C(nodes) (free cpu, memory, pods per usable node), C(skipped_nodes) (and why), C(shortfall) when it does not fit.
    - C(pods_counted) says whose pods were counted as using the nodes - V(all namespaces), or, for an identity that may list pods only
      in the Deployment's namespace (such as the automation ServiceAccount of the role C(k3s_ml_namespace)), that namespace alone; then
      C(warning) says the estimate may be optimistic and the module warns.
  returned: for a scale-up with O(capacity_check)
  type: dict
started_at:
  description: When the module started (ISO 8601, UTC); C(started_t) in epoch seconds.
  returned: always
  type: str
requested_at:
  description: When the scale request was sent; C(requested_t) in epoch seconds.
  returned: unless check mode
  type: str
detected_at:
  description: When the module saw the target reached; C(detected_t) in epoch seconds.
  returned: when the wait succeeded
  type: str
elapsed_s:
  description: Seconds from the scale request to the detection of the target.
  returned: when the wait succeeded
  type: float
detection_lag_s:
  description: Seconds between the arrival of the watch event that completed the target and the module noticing it.
  returned: when the wait succeeded
  type: float
last_ready_t:
  description: Epoch seconds at which the last pod became Ready during the run (V(null) when none did).
  returned: when the wait succeeded
  type: float
last_gone_t:
  description: Epoch seconds at which the last surplus pod was gone (V(null) when none was deleted).
  returned: when the wait succeeded
  type: float
watch:
  description:
    - Per watch (C(pod), C(deployment)) the C(connections), C(reconnects), C(relists), C(events), C(bookmarks), C(backoff_s) (seconds
      spent waiting before reconnects) and the first C(errors).
  returned: unless check mode
  type: dict
api_calls:
  description: The API requests made, in order.
  returned: always
  type: list
  elements: str
"""

from ansible_collections.mlops.ollama.plugins.module_utils._k8s_client import auth_argspec, new_module, run_k8s_module
from ansible_collections.mlops.ollama.plugins.module_utils._k8s_scale import SCALE_ARGSPEC, check_scale_params, scale_and_watch


def main() -> None:
    argument_spec = auth_argspec()
    argument_spec.update(SCALE_ARGSPEC)
    module = new_module(argument_spec, supports_check_mode=True)
    run_k8s_module(module, lambda m, client: scale_and_watch(client, m.params, check_mode=m.check_mode), check=check_scale_params)


if __name__ == "__main__":
    main()
