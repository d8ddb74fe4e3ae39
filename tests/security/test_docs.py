"""docs/security.md is generated from the catalog and must not drift."""

from __future__ import annotations

from pathlib import Path

from tests.security.catalog import ATTACKS, markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "security.md"


def test_the_security_page_lists_every_attack_as_generated() -> None:
    assert DOC.read_text() == markdown(), "run: python -m tests.security.catalog > docs/security.md"


def test_there_are_at_least_sixty_distinct_attacks() -> None:
    ids = [a.id for a in ATTACKS]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 60
    codes = [a.code for a in ATTACKS]
    assert len(codes) == len(set(codes))
