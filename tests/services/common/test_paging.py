"""Opaque page tokens."""

from __future__ import annotations

import pytest

from codeact.errors import InvalidArgument
from services.common.paging import MAX_PAGE_SIZE, paginate


def test_pages_cover_everything_once() -> None:
    items = list(range(25))
    seen, token = [], ""
    while True:
        chunk, token = paginate(items, 10, token)
        seen += list(chunk)
        if not token:
            break
    assert seen == items


def test_sizes_and_bad_tokens() -> None:
    assert len(paginate(list(range(5000)), 0, "")[0]) == 100
    assert len(paginate(list(range(5000)), 10**6, "")[0]) == MAX_PAGE_SIZE
    for token in ("???", "bzotMQ", "eDox"):  # junk, "o:-1", "x:1"
        with pytest.raises(InvalidArgument):
            paginate([1], 1, token)
    with pytest.raises(InvalidArgument):
        paginate([1], -1, "")
