#!/usr/bin/python
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_model
short_description: Pull, update or delete one model on an Ollama server, verified by digest
version_added: 0.1.0
description:
  - Makes one model present (pulled only when missing), V(latest) (pulled, reported changed only when its digest changed) or V(absent)
    (deleted) on an Ollama server, through Ollama's HTTP API (C(/api/tags), C(/api/pull), C(/api/show), C(/api/delete)).
  - Pulls come from the public library (V(llama3.2:1b)) or any registry Ollama can reach (V(registry.example.com:5000/team/model:v1));
    O(insecure) allows a plain-HTTP registry.
  - "B(Pulls resume.) A pull that is interrupted (the connection drops, the server restarts, the stream stalls for O(stall_timeout)
    seconds, the registry has a transient error) is retried up to O(retries) times with backoff, and the result is verified as after
    any pull. While the server keeps running, it keeps completed layers and partial downloads, so the next attempt continues where
    the last one stopped. When the server restarts, Ollama deletes partial downloads and layers no model uses yet (unless it runs with
    E(OLLAMA_NOPRUNE)), so those layers are fetched again. Errors a retry cannot fix (the registry has no such model, access denied)
    fail at once."
  - "B(Verification.) The digest of a model is the sha256 of its manifest, as C(/api/tags) lists it (C(ollama list) shows its first
    12 characters); it equals the registry's C(Docker-Content-Digest) for the tag. The pull stream itself reports only the
    digests of the I(layers), and Ollama checks each downloaded layer's sha256 before it writes the manifest. After a pull the module
    checks that the stream ended with C(success), that C(/api/tags) lists the model with a sha256 manifest digest, that the weights
    layer the model uses (from C(/api/show)) is one of the layers the pull reported, and, with O(digest), that the manifest digest
    is the pinned one. Any mismatch fails the task. The result's RV(verification) holds what was compared."
  - "B(Progress of long pulls.) Ansible shows nothing while a task runs. To watch a pull, set O(progress_file) and run the task with
    C(async) and C(poll: 0); the module rewrites that file (atomically, as one JSON document) every O(progress_interval) seconds
    while the pull runs, also during silent phases such as verifying, and once more at the end. A follow-up task polls the job with
    M(ansible.builtin.async_status) every few seconds, reads the file with M(ansible.builtin.slurp) and prints its C(line)
    (for example C([2/3] llama3.2:1b: pulling 41.3%, 541.2 MB of 1.3 GB, 48.1 MB/s, ETA 16 s, 12 s elapsed)).
    This works the same from C(ansible-playbook) and from AWX / AAP job output. The document's keys are C(model), C(index), C(count),
    C(state) (V(pulling), V(retrying), V(verifying), V(done), V(failed), V(deleting)), C(status) (Ollama's own status line),
    C(attempt), C(completed), C(total) (bytes of the layers announced so far; Ollama announces layers one at a time, the weights first),
    C(percent), C(rate_bytes_per_s), C(eta_s), C(elapsed_s), C(pulled_bytes), C(started_at), C(updated_at), C(pid), C(error) and C(line).
    The collection's C(model_sync) role does exactly this. Without O(progress_file), the result still carries RV(progress) samples
    (one at least every 10 s) and RV(duration_s) / RV(pulled_bytes)."
  - "B(Check mode) makes only reading requests: a missing model is reported as to be pulled and, with O(state=absent), a present one as to be deleted. For
    O(state=latest) with the model present, the module asks the model's registry for the tag's manifest digest (a C(HEAD) request
    from the host the module runs on, the same URL Ollama pulls from) and reports a change only if it differs; when that registry
    cannot be reached from there, it warns and reports a change."
  - B(Diff mode) shows the server's model list (name and digest) before and after.
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
      - Makes only reading requests to Ollama (and, for O(state=latest), a C(HEAD) to the registry).
  diff_mode:
    support: full
  idempotent:
    support: full
    details:
      - With O(state=latest) a second run reports a change only if the tag was moved in the registry in between.
options:
  name:
    description:
      - The model, as C([registry/][namespace/]model[:tag]); the tag defaults to V(latest), the namespace to V(library) and the
        registry to Ollama's public one (V(registry.ollama.ai)).
      - A registry host is recognised only in front of a namespace (V(host:5000/team/model)), as in Ollama.
      - Checked before any request with Ollama's own rules (each part starts with a letter, digit or underscore; a namespace holds no
        dots; at most 80 characters per part, 350 for the registry); paths, URLs, spaces and empty names are rejected.
      - Names are compared case-insensitively, as Ollama does; V(llama3.2) and V(library/llama3.2:latest) are the same model.
    type: str
    required: true
  state:
    description:
      - V(present) pulls the model only when the server does not list it (or lists it with another digest than O(digest)).
      - V(latest) always pulls and reports a change only when the manifest digest changed (the tag moved in the registry).
      - V(absent) deletes the model if it is listed.
    type: str
    choices: [present, latest, absent]
    default: present
  digest:
    description:
      - Pin the manifest digest the model must have (V(sha256:<64 hex digits>), V(<64 hex digits>), or at least the first 12 hex digits,
        which C(ollama list) shows as ID).
      - With O(state=present), a model listed with another digest is pulled again; after any pull the task fails unless the manifest
        digest matches (the tag was moved in the registry).
      - Not allowed with O(state=absent).
    type: str
  insecure:
    description:
      - Let Ollama pull over plain HTTP (a registry without TLS, such as a local or air-gapped one). Passed to C(/api/pull).
    type: bool
    default: false
  stall_timeout:
    description:
      - Seconds a pull may go without progress (no line from the server, or lines with no new bytes and no new status) before the
        attempt is abandoned and retried (see O(retries)). A pull never hangs for longer.
      - Ollama verifies a downloaded model without sending anything; keep this above the time it needs to hash the largest layer.
      - A finite number greater than 0.
    type: float
    default: 300
  progress_file:
    description:
      - Path of a JSON progress document to rewrite while pulling, on the host the module runs on (see the description for its keys).
      - Its directory must exist. The file is left in place at the end with the final state.
    type: path
  progress_interval:
    description:
      - Seconds between rewrites of O(progress_file) (and at most this long between updates when the pull is silent).
      - More than 0 and at most 10.
    type: float
    default: 2
notes:
  - O(retries) also counts pull attempts (a pull is tried O(retries) + 1 times), with the backoff of O(retry_backoff).
  - Concurrent pulls of the same model on one server share a download, so parallel tasks do no harm.
  - Ollama deletes layers no model uses any more after a pull replaces a model (unless the server runs with E(OLLAMA_NOPRUNE)).
seealso:
  - module: mlops.ollama.ollama_models
  - module: mlops.ollama.ollama_model_info
  - name: Ollama API reference
    description: The C(/api/pull), C(/api/tags), C(/api/show) and C(/api/delete) endpoints.
    link: https://github.com/ollama/ollama/blob/main/docs/api.md
"""

EXAMPLES = r"""
- name: Pull into one pod, through its proxy in the API server (credentials from K8S_AUTH_* or ~/.kube/config)
  mlops.ollama.ollama_model:
    kubernetes:
      pod: ollama-7d9c5b6f4-x2x8q
      namespace: ml
    name: llama3.2:1b

- name: Make sure a model from the public library is present
  mlops.ollama.ollama_model:
    url: http://127.0.0.1:11434
    name: llama3.2:1b

- name: Pull from a private plain-HTTP registry, pinned to a digest
  mlops.ollama.ollama_model:
    url: http://ollama.ml.svc.cluster.local:11434
    name: registry.internal:5000/mlops/tiny-a:latest
    insecure: true
    digest: sha256:103b7bf2e96b22cd9ab5d025951fbb0ce3fd87f4d82e4d85d714ab637be51d72

- name: Update a model if its tag moved in the registry
  mlops.ollama.ollama_model:
    name: qwen2.5:0.5b
    state: latest
  register: __qwen

- name: Remove a model
  mlops.ollama.ollama_model:
    name: llama3.2:1b
    state: absent

# A long pull with progress every 5 s, from ansible-playbook and AWX alike.
- name: Start the pull in the background
  mlops.ollama.ollama_model:
    name: llama3.1:70b
    progress_file: /tmp/ollama-pull-llama3.1-70b.json
    stall_timeout: 600
  async: 14400
  poll: 0
  register: __pull_job

- name: Report progress until the pull ends (tasks/wait_for_pull.yml includes itself while the job runs)
  ansible.builtin.include_tasks: wait_for_pull.yml

# tasks/wait_for_pull.yml:
# - name: Wait up to 5 s for the pull
#   ansible.builtin.async_status:
#     jid: "{{ __pull_job.ansible_job_id }}"
#   register: __pull_status
#   until: __pull_status.finished
#   retries: 1
#   delay: 5
#   failed_when: __pull_status.finished and __pull_status.failed | default(false)
# - name: Read the progress file
#   ansible.builtin.slurp:
#     src: /tmp/ollama-pull-llama3.1-70b.json
#   register: __pull_progress
#   when: not __pull_status.finished
#   failed_when: false
# - name: Show progress
#   ansible.builtin.debug:
#     msg: "{{ (__pull_progress.content | b64decode | from_json).line }}"
#   when: not __pull_status.finished and __pull_progress.content is defined
# - name: Keep waiting
#   ansible.builtin.include_tasks: wait_for_pull.yml
#   when: not __pull_status.finished
"""

RETURN = r"""
model:
  description:
    - The model as the server lists it after the task (in check mode, as it is now). V(null) when it is absent.
  returned: always
  type: dict
  contains:
    name:
      description: The name as C(/api/tags) lists it.
      type: str
      sample: 127.0.0.1:25000/mlops/tiny-a:latest
    digest:
      description: The sha256 of the model's manifest (hex).
      type: str
      sample: 103b7bf2e96b22cd9ab5d025951fbb0ce3fd87f4d82e4d85d714ab637be51d72
    size:
      description: Bytes on disk.
      type: int
      sample: 474683
    modified_at:
      description: When the server last wrote the model.
      type: str
      sample: "2026-11-23T01:17:38.00870359Z"
action:
  description: What the task did or, in check mode, would do.
  returned: always
  type: str
  choices: [none, pull, delete]
  sample: pull
reason:
  description: Why, in words.
  returned: always
  type: str
  sample: not on the server
digest_before:
  description: The manifest digest before the task (V(null) if the model was absent).
  returned: always
  type: str
digest_after:
  description: The manifest digest after the task (V(null) if absent; in check mode, the digest before).
  returned: always
  type: str
registry_digest:
  description: The registry's manifest digest for the tag, when check mode asked the registry (O(state=latest) only).
  returned: when asked
  type: str
pulled_bytes:
  description:
    - Bytes this task brought to the server, from the pull's progress lines; layers the server already had count 0, and a layer
      fetched again after an interruption counts once.
  returned: always
  type: int
  sample: 474683
duration_s:
  description: Seconds the task took, pull and verification included.
  returned: always
  type: float
  sample: 4.2
attempts:
  description: Pull attempts made (0 when nothing was pulled).
  returned: always
  type: int
  sample: 1
retried_errors:
  description: The errors that made the module retry the pull, one per retry.
  returned: always
  type: list
  elements: str
verification:
  description: What was compared after a pull (V(null) when nothing was pulled).
  returned: always
  type: dict
  contains:
    listed:
      description: C(/api/tags) lists the model.
      type: bool
    manifest_digest:
      description: The manifest digest C(/api/tags) lists.
      type: str
    layers_reported:
      description: The layer digests the pull stream reported.
      type: list
      elements: str
    weights_layer:
      description: The weights layer the model uses according to C(/api/show) (V(null) if the server did not show it).
      type: str
    weights_layer_reported:
      description: Whether that layer is one the pull reported.
      type: bool
    pinned_digest:
      description: O(digest), normalised.
      type: str
    pinned_digest_matches:
      description: Whether the manifest digest matches O(digest) (V(null) without O(digest)).
      type: bool
progress:
  description: Progress samples of the pull, one at least every 10 s and one at the end.
  returned: always
  type: list
  elements: dict
  sample:
    - {model: "llama3.2:1b", state: pulling, status: "pulling 74701a8c35f6", completed: 541200000, total: 1321098329, percent: 41.0,
       rate_bytes_per_s: 48100000.0, elapsed_s: 12.0}
api_calls:
  description: The Ollama API requests made, in order, retries included.
  returned: always
  type: list
  elements: str
  sample: [GET /api/tags, POST /api/pull, GET /api/tags, POST /api/show]
error:
  description: On failure, the structured error (type, endpoint, model, the server's message, what to try).
  returned: failure
  type: dict
  sample: {type: OllamaNotFound, kind: not_found, endpoint: "http://127.0.0.1:11434", model: "127.0.0.1:25000/mlops/nope:latest",
           request: POST /api/pull, status_code: null, server_message: "pull model manifest: file does not exist",
           hint: "check the model name and tag ..."}
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - Ansible modules put their documentation first

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_module import argument_spec, run_ollama_module  # noqa: E402
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_pull import PULL_ARGSPEC  # noqa: E402
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_sync import STATES, execute_sync, prepare_model  # noqa: E402

ARGSPEC = {
    "name": {"type": "str", "required": True},
    "state": {"type": "str", "choices": list(STATES), "default": "present"},
    "digest": {"type": "str"},
    **PULL_ARGSPEC,
}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(ARGSPEC), supports_check_mode=True)
    run_ollama_module(module, prepare_model, execute_sync)


if __name__ == "__main__":
    main()
