"""Agent tests talk to the agent service of the whole stack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codeact import Client
from tests.stack import Stack


@pytest.fixture
def acme(stack: Stack) -> Iterator[Client]:
    with stack.client("acme") as client:
        yield client
