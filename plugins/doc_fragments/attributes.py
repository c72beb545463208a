# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment:
    # Descriptions of the attributes every mlops.ollama module declares; each module sets
    # only `support` (and `details`) for them. Use as `mlops.ollama.attributes`, plus
    # `mlops.ollama.attributes.ollama_group` for modules in the `ollama` action group and
    # `mlops.ollama.attributes.info_module` for read-only modules.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check mode and return a changed status prediction without modifying the target.
  diff_mode:
    description: Returns details on what has changed (or would change in check mode) when run in diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second run reports no change.
      - This assumes that the system the module controls or queries has not changed in a relevant way in between.
"""

    OLLAMA_GROUP = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/mlops.ollama.ollama) in C(module_defaults) to set defaults (such as O(url)) for this module.
    support: full
    membership:
      - mlops.ollama.ollama
"""

    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
  idempotent:
    support: full
    details:
      - This action does not modify state.
"""
