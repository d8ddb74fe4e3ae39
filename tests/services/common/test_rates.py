"""Token buckets: a burst, then refusals that say how long to wait."""

from __future__ import annotations

import pytest

from services.common.rates import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_a_wait_then_one_more() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock)
    assert [buckets.take("acme", rate=2.0, capacity=3) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("acme", rate=2.0, capacity=3) == pytest.approx(0.5)
    clock.now += 0.25
    assert buckets.take("acme", rate=2.0, capacity=3) == pytest.approx(0.25)
    clock.now += 0.25
    assert buckets.take("acme", rate=2.0, capacity=3) == 0.0


def test_tenants_have_their_own_buckets_and_idle_ones_refill_to_capacity() -> None:
    clock = Clock()
    buckets = TokenBuckets(clock)
    for _ in range(2):
        buckets.take("acme", rate=1.0, capacity=2)
    assert buckets.take("acme", rate=1.0, capacity=2) > 0
    assert buckets.take("globex", rate=1.0, capacity=2) == 0.0
    clock.now += 3600
    granted = [buckets.take("acme", rate=1.0, capacity=2) for _ in range(3)]
    assert granted[:2] == [0.0, 0.0] and granted[2] > 0


def test_a_lower_capacity_applies_at_once() -> None:
    """A reloaded tenants file that lowers the burst takes effect."""
    clock = Clock()
    buckets = TokenBuckets(clock)
    assert buckets.take("acme", rate=1.0, capacity=10) == 0.0
    # Nine tokens were left; the new capacity holds one.
    assert buckets.take("acme", rate=1.0, capacity=1) == 0.0
    assert buckets.take("acme", rate=1.0, capacity=1) > 0
