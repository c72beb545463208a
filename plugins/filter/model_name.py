# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The model-name filter: the collection's one name rule (module_utils/_ollama_names) for roles and templates."""

from __future__ import annotations

DOCUMENTATION = r"""
name: model_name
short_description: The name Ollama lists for a model reference, pulled from a registry when it names none
author: mlops.ollama contributors
version_added: 0.1.0
description:
  - Validates an Ollama model reference and returns the name C(ollama list) and C(/api/tags) show for it once pulled
    (defaults dropped, the tag always shown), so a role compares and pulls exactly what the modules do.
  - With O(registry), a name that names no registry of its own is pulled from it, in the C(library) namespace when it names none.
    Only a three-part name (C(host/namespace/model)) names a registry, as in Ollama, so V(llama3.2:1b), V(qwen2.5) and
    V(team/model) all take O(registry); V(other.example.com/team/model) keeps its own.
  - A bad name or registry fails the task with a message that names the value and the expected form.
options:
  _input:
    description: A model reference, V([registry/][namespace/]model[:tag]).
    type: str
    required: true
  registry:
    description:
      - A registry to pull the name from when it names none, as V(host[:port]) without a scheme or path.
      - Empty or V(null) keeps the name's own (Ollama's public registry for a plain name).
    type: str
  what:
    description:
      - What the name is, as the error names it (for example the variable it came from).
    type: str
    default: model name
"""

EXAMPLES = r"""
- name: The public registry's name, as listed
  ansible.builtin.debug:
    msg: "{{ 'llama3.2' | mlops.ollama.model_name }}"  # llama3.2:latest

- name: A mirror for every name that names no registry
  ansible.builtin.debug:
    msg: "{{ ['llama3.2:1b', 'team/model', 'other.example.com/ns/m:v1'] | map('mlops.ollama.model_name', registry='mirror.example.com:5000') }}"
    # [mirror.example.com:5000/library/llama3.2:1b, mirror.example.com:5000/team/model:latest, other.example.com/ns/m:v1]
"""

RETURN = r"""
_value:
  description: The display name, V([registry/namespace/]model:tag), registry and namespace shown only when they are not the defaults.
  type: str
"""

from ansible.errors import AnsibleFilterError  # noqa: E402 - the documentation comes first, as in modules

from ansible_collections.mlops.ollama.plugins.module_utils._ollama_names import ModelParameterError, qualified_model_name  # noqa: E402


def model_name(value, registry=None, what="model name"):
    """The display name of ``value``, pulled from ``registry`` when it names none."""
    try:
        return qualified_model_name(value, registry or None, param=what)
    except ModelParameterError as exc:
        raise AnsibleFilterError(str(exc)) from None


class FilterModule:
    def filters(self):
        return {"model_name": model_name}
