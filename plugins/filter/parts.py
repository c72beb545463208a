# Copyright: (c) mlops.ollama contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the record of applied parts that the roles keep on one of their objects (an annotation).

A role manages optional parts (a quota, an HPA, an Ingress...). It writes which ones it applied into an annotation,
so the next run looks only for the parts that were applied then and are switched off now: with nothing switched
off, it makes no lookup at all. Documentation: one YAML file per filter beside this one
(``ansible-doc -t filter mlops.ollama.<name>``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ansible.errors import AnsibleFilterError
from ansible.module_utils.parsing.convert_bool import boolean


def _enabled(part: Mapping[str, Any]) -> bool:
    try:
        return boolean(part.get("enabled", False), strict=True)
    except TypeError as exc:
        raise AnsibleFilterError(f"part {_key(part)}: enabled must be a boolean, got {part.get('enabled')!r}") from exc


def _key(part: Any) -> str:
    if not isinstance(part, Mapping) or not part.get("kind") or not part.get("name"):
        raise AnsibleFilterError(f"a part must be a dict with kind and name, got {part!r}")
    return f"{part['kind']}/{part['name']}"


def parts_record(parts: Iterable[Mapping[str, Any]]) -> str:
    """``Kind/name`` of every enabled part, sorted and comma-separated: the value to record."""
    return ",".join(sorted(_key(part) for part in parts if _enabled(part)))


def parts_to_prune(parts: Iterable[Mapping[str, Any]], recorded: str | None) -> list[Mapping[str, Any]]:
    """The disabled parts the record lists, in the order given; every disabled part when there is no record."""
    if recorded is not None and not isinstance(recorded, str):
        raise AnsibleFilterError(f"the recorded parts must be a string such as 'Kind/name,Kind/name' or none, got {recorded!r}")
    listed = None if recorded is None else {entry for entry in recorded.split(",") if entry}
    candidates = []
    for part in parts:
        key = _key(part)  # every part is checked, not only the ones a record lists
        if not _enabled(part) and (listed is None or key in listed):
            candidates.append(part)
    return candidates


class FilterModule:
    def filters(self):
        return {"parts_record": parts_record, "parts_to_prune": parts_to_prune}
