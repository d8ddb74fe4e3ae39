"""Limits: defaults, floors, ceilings."""

from __future__ import annotations

import pytest

from codeact.errors import InvalidArgument, ResourceExhausted
from sandbox.limits import CEILINGS, MIB, Limits, resolve


def test_zero_means_default_and_values_are_typed() -> None:
    limits = resolve({"memory_bytes": 0, "cell_timeout": 2.5, "max_pids": 32.0}, Limits(), CEILINGS)
    assert limits.memory_bytes == Limits().memory_bytes
    assert limits.cell_timeout == 2.5
    assert limits.max_pids == 32 and isinstance(limits.max_pids, int)


def test_every_bad_field_is_named() -> None:
    with pytest.raises(InvalidArgument) as caught:
        resolve({"memory_bytes": -5, "max_pids": 1, "cell_timeout": 1}, Limits(), CEILINGS)
    fields = [v.field for v in caught.value.field_violations]
    assert fields == ["limits.memory_bytes", "limits.max_pids"]


def test_ceilings_are_resource_exhausted() -> None:
    ceiling = Limits(memory_bytes=128 * MIB)
    with pytest.raises(ResourceExhausted) as caught:
        resolve({"memory_bytes": 256 * MIB}, Limits(memory_bytes=64 * MIB), ceiling)
    assert caught.value.metadata["ceiling"] == str(128 * MIB)


def test_unknown_fields_are_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown limit"):
        resolve({"gpus": 1}, Limits(), CEILINGS)
