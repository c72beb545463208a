#!/usr/bin/python
# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: ollama_model_info
short_description: Read an Ollama server's version, models, model details and loaded models
version_added: 0.1.0
description:
  - Returns what an Ollama server says about its models, read through its HTTP API and never changing anything.
  - C(version) from C(/api/version); C(models) from C(/api/tags) (name, digest, size, modified_at, details), optionally filtered with a
    JMESPath O(query); C(details) from C(/api/show) for the models named in O(models) (or, with O(all_details), for every listed model);
    C(loaded) from C(/api/ps) (the models in memory, with their memory use and expiry).
  - O(gather) chooses which of these to read, so a task makes only the requests it needs.
author:
  - mlops.ollama contributors (!UNKNOWN)
requirements:
  - httpx
  - jmespath (for O(query))
extends_documentation_fragment:
  - mlops.ollama.ollama_connection
  - mlops.ollama.attributes
  - mlops.ollama.attributes.info_module
  - mlops.ollama.attributes.ollama_group
options:
  models:
    description:
      - Models to read details of through C(/api/show), as C([registry/][namespace/]model[:tag]) (checked before any request).
      - A model the server does not have is returned as V(null) in RV(details) and listed in RV(missing); that is not a failure.
    type: list
    elements: str
    default: []
  all_details:
    description:
      - Read C(/api/show) details of every listed model (after O(query), when given), not only of O(models).
    type: bool
    default: false
  gather:
    description:
      - What to read. V(version) is C(/api/version), V(models) is C(/api/tags), V(details) is C(/api/show), V(loaded) is C(/api/ps).
    type: list
    elements: str
    choices: [version, models, details, loaded]
    default: [version, models, details, loaded]
  query:
    description:
      - A JMESPath expression applied to the model list (the entries of C(/api/tags)); RV(models) is its result, which must be a list.
      - For example V([?size > `1000000000`]), V([?contains(name, 'llama'\)]) or V([?details.family == 'llama']).
      - Implies reading the model list.
    type: str
  include_tensors:
    description:
      - Keep the C(tensors) list of C(/api/show) in RV(details) (hundreds of entries for a large model; dropped by default).
    type: bool
    default: false
seealso:
  - module: mlops.ollama.ollama_model
  - module: mlops.ollama.ollama_models
  - name: JMESPath
    description: The query language of O(query).
    link: https://jmespath.org/
"""

EXAMPLES = r"""
- name: The models behind the Service, read through the Kubernetes API
  mlops.ollama.ollama_model_info:
    kubernetes:
      service: ollama
      namespace: ml
      context: homelab
  register: __ollama_api

- name: Everything the server says about its models
  mlops.ollama.ollama_model_info:
    url: http://127.0.0.1:11434
  register: __ollama

- name: Details (capabilities, template, parameters) of one model
  mlops.ollama.ollama_model_info:
    models: [llama3.2:1b]
    gather: [details]
  register: __llama

- name: Models bigger than 1 GB, with their details
  mlops.ollama.ollama_model_info:
    query: "[?size > `1000000000`]"
    all_details: true
    gather: [models, details]
  register: __big
"""

RETURN = r"""
version:
  description: The server's version (C(/api/version)).
  returned: when O(gather) has V(version)
  type: str
  sample: 0.11.4
models:
  description: The models the server lists (C(/api/tags)), after O(query) when given.
  returned: when O(gather) has V(models), or O(query) or O(all_details) is set
  type: list
  elements: dict
  sample:
    - {name: "127.0.0.1:25000/mlops/tiny-a:latest", model: "127.0.0.1:25000/mlops/tiny-a:latest", size: 474683,
       digest: 103b7bf2e96b22cd9ab5d025951fbb0ce3fd87f4d82e4d85d714ab637be51d72, modified_at: "2026-11-23T01:17:38.00870359Z",
       details: {format: gguf, family: llama, parameter_size: 117K, quantization_level: unknown}}
models_total:
  description: How many models the server lists, before O(query).
  returned: when the model list was read
  type: int
  sample: 2
details:
  description: C(/api/show) of each model, by name (V(null) for a model the server does not have).
  returned: when O(gather) has V(details)
  type: dict
  sample: {"llama3.2:1b": {capabilities: [completion, tools], details: {family: llama}, modelfile: "...", parameters: "...", template: "..."}}
missing:
  description: Models of O(models) the server does not have.
  returned: when O(gather) has V(details)
  type: list
  elements: str
loaded:
  description: The models loaded in memory (C(/api/ps)), with C(size_vram), C(expires_at) and C(context_length).
  returned: when O(gather) has V(loaded)
  type: list
  elements: dict
api_calls:
  description: The Ollama API requests made, in order.
  returned: always
  type: list
  elements: str
  sample: [GET /api/version, GET /api/tags, POST /api/show, GET /api/ps]
error:
  description: On failure, the structured error (type, endpoint, the server's message, what to try).
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule  # noqa: E402 - Ansible modules put their documentation first

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_info import INFO_SECTIONS, execute_info, prepare_info  # noqa: E402
from ansible_collections.mlops.ollama.plugins.module_utils._ollama_module import argument_spec, run_ollama_module  # noqa: E402

ARGSPEC = {
    "models": {"type": "list", "elements": "str", "default": []},
    "all_details": {"type": "bool", "default": False},
    "gather": {"type": "list", "elements": "str", "choices": list(INFO_SECTIONS), "default": list(INFO_SECTIONS)},
    "query": {"type": "str"},
    "include_tensors": {"type": "bool", "default": False},
}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(ARGSPEC), supports_check_mode=True)
    run_ollama_module(module, prepare_info, execute_info)


if __name__ == "__main__":
    main()
