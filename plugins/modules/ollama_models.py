#!/usr/bin/python
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_models
short_description: Make an Ollama server hold a declared set of models, optionally pruning the rest
version_added: 0.1.0
description:
  - Brings the models of an Ollama server to a declared set in one task. Each entry of O(models) is V(present), V(latest) or
    V(absent), exactly as M(mlops.ollama.ollama_model) does for one model (the same names, pulls that resume, verification by digest,
    progress file); with O(prune=true), every listed model that is not declared is deleted.
  - B(One read when there is nothing to do.) The module reads C(/api/tags) once and decides everything from it; when every declared
    model is present (and no entry is V(latest) or V(absent)-but-listed, and nothing is to be pruned) that is the only request it makes.
  - B(Order.) Pulls run first, one at a time in the declared order, each retried and verified; deletions (V(absent) entries, then
    pruning) run only after every pull succeeded, so a failed pull never leaves the server with fewer models than before.
  - B(Progress.) With O(progress_file), the same JSON document as M(mlops.ollama.ollama_model) writes is rewritten while each model is
    pulled, with C(index) and C(count) telling which of the pulls it is; run the task with C(async) and poll it (see the examples of
    M(mlops.ollama.ollama_model)).
  - B(Check mode) reads only, and reports what would be pulled, deleted and pruned; B(diff mode) shows the model list before and after.
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
      - Makes only reading requests to Ollama (and, for V(latest) entries, a C(HEAD) to their registry).
  diff_mode:
    support: full
  idempotent:
    support: full
    details:
      - With V(latest) entries a second run reports a change only if a tag was moved in its registry in between.
options:
  models:
    description:
      - The declared models. Each is a name (see O(mlops.ollama.ollama_model#module:name)) or a dictionary with the keys C(name) (required),
        C(state) (V(present), V(latest) or V(absent); default O(state)), C(digest) (a pinned manifest digest, see
        O(mlops.ollama.ollama_model#module:digest)) and C(insecure) (default O(insecure)).
      - Every name is checked before any request; a model may be declared only once (names are compared as Ollama compares them,
        so V(llama3.2) and V(llama3.2:latest) are the same).
      - With O(prune=true), a list that declares no model V(present) or V(latest) (empty, or only V(absent) entries) would delete
        every model on the server; the module refuses that, before any request, unless O(prune_all=true).
      - An entry without a C(name), or with an empty one, is an error naming it (C(models[2].name)).
    type: list
    elements: raw
    required: true
  state:
    description:
      - The state of entries that do not set their own.
    type: str
    choices: [present, latest]
    default: present
  prune:
    description:
      - Delete every model the server lists that is not declared in O(models).
    type: bool
    default: false
  prune_all:
    description:
      - Prune with an empty models list deletes every model only when O(prune_all) is true.
      - Set it, together with O(prune=true), to empty a server on purpose (O(models) empty, or only V(absent) entries).
        Without it such a task fails before any request and deletes nothing.
      - Has no effect without O(prune=true).
    type: bool
    default: false
  insecure:
    description:
      - Let Ollama pull over plain HTTP, for entries that do not set their own C(insecure).
    type: bool
    default: false
  stall_timeout:
    description:
      - Seconds a pull may go without progress before the attempt is abandoned and retried. See M(mlops.ollama.ollama_model).
      - A finite number greater than 0.
    type: float
    default: 300
  progress_file:
    description:
      - Path of the JSON progress document to rewrite while pulling (see M(mlops.ollama.ollama_model)). Its directory must exist.
    type: path
  progress_interval:
    description:
      - Seconds between rewrites of O(progress_file); more than 0 and at most 10.
    type: float
    default: 2
notes:
  - O(retries) also counts pull attempts per model (O(retries) + 1), with the backoff of O(retry_backoff).
seealso:
  - module: mlops.ollama.ollama_model
  - module: mlops.ollama.ollama_model_info
"""

EXAMPLES = r"""
- name: The same set, from a workstation, through the Kubernetes API server (no route to the pods needed)
  mlops.ollama.ollama_models:
    kubernetes:
      service: ollama
      namespace: ml
      kubeconfig: ~/.kube/config
    models:
      - llama3.2:1b

- name: The models this service needs
  mlops.ollama.ollama_models:
    url: http://127.0.0.1:11434
    models:
      - llama3.2:1b
      - name: nomic-embed-text
        state: latest

- name: Exactly these models from an air-gapped registry, nothing else
  mlops.ollama.ollama_models:
    models:
      - name: registry.internal:5000/mlops/tiny-a:latest
        digest: 103b7bf2e96b
      - registry.internal:5000/mlops/tiny-b:latest
    insecure: true
    prune: true
  register: __models

- name: Show what changed
  ansible.builtin.debug:
    msg: "pulled {{ __models.pulled }}, deleted {{ __models.deleted }}"
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
models:
  description: One entry per declared model, then one per pruned model, in that order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The model's name as Ollama lists it.
      type: str
    state:
      description: Its declared state (V(absent) for pruned models).
      type: str
    action:
      description: V(none), V(pull) or V(delete); what was done or, in check mode, what would be done.
      type: str
    changed:
      description: Whether this model changed (would change, in check mode).
      type: bool
    reason:
      description: Why, in words.
      type: str
    digest_before:
      description: Manifest digest before.
      type: str
    digest_after:
      description: Manifest digest after.
      type: str
    model:
      description: C(name), C(digest), C(size), C(modified_at) after the task (V(null) if absent).
      type: dict
    pulled_bytes:
      description: Bytes downloaded for this model.
      type: int
    duration_s:
      description: Seconds spent on this model.
      type: float
    attempts:
      description: Pull attempts.
      type: int
    verification:
      description: What was compared after the pull (see M(mlops.ollama.ollama_model)).
      type: dict
    registry_digest:
      description: The registry's digest, when check mode asked for it.
      type: str
    retried_errors:
      description: Errors that made the module retry the pull.
      type: list
      elements: str
  sample:
    - {name: "127.0.0.1:25000/mlops/tiny-a:latest", state: present, action: none, changed: false, reason: already present}
pulled:
  description: Models pulled whose digest changed (or that were new).
  returned: always
  type: list
  elements: str
deleted:
  description: Models deleted (V(absent) entries and pruned models).
  returned: always
  type: list
  elements: str
unchanged:
  description: Models left as they were.
  returned: always
  type: list
  elements: str
pulled_bytes:
  description: Bytes downloaded in all, from the pulls' progress lines.
  returned: always
  type: int
duration_s:
  description: Seconds the task took.
  returned: always
  type: float
progress:
  description: Progress samples of the pulls, one at least every 10 s and one at the end of each.
  returned: always
  type: list
  elements: dict
api_calls:
  description: The Ollama API requests made, in order, retries included (one C(GET /api/tags) when nothing is to do).
  returned: always
  type: list
  elements: str
  sample: [GET /api/tags]
error:
  description: On failure, the structured error (type, endpoint, model, the server's message, what to try).
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - Ansible modules put their documentation first

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_module import argument_spec, run_ollama_module  # noqa: E402
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_pull import PULL_ARGSPEC  # noqa: E402
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_sync import execute_sync, prepare_models  # noqa: E402

ARGSPEC = {
    "models": {"type": "list", "elements": "raw", "required": True},
    "state": {"type": "str", "choices": ["present", "latest"], "default": "present"},
    "prune": {"type": "bool", "default": False},
    "prune_all": {"type": "bool", "default": False},
    **PULL_ARGSPEC,
}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(ARGSPEC), supports_check_mode=True)
    run_ollama_module(module, prepare_models, execute_sync, every_pod=True)


if __name__ == "__main__":
    main()
