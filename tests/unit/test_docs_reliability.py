"""docs/reliability.md names, for every bad input and fault it lists, the test that tries it: each must exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "reliability.md"
CITED = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def cited_tests() -> list[tuple[str, str]]:
    return sorted(set(CITED.findall(PAGE.read_text())))


def test_every_row_names_a_test() -> None:
    rows = [line for line in PAGE.read_text().splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    body = [row for row in rows if not row.startswith(("| input", "| fault", "| situation"))]
    assert body, "the page has no rows"
    assert [row for row in body if not CITED.search(row)] == []


@pytest.mark.parametrize(("path", "name"), cited_tests())
def test_the_cited_test_exists(path: str, name: str) -> None:
    source = (REPO / path).read_text()
    assert re.search(rf"^def {name}\(", source, re.MULTILINE), f"{path} has no {name}: update docs/reliability.md"
