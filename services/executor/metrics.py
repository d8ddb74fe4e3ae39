"""Executor metrics read from the sandbox objects at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from sandbox.pool import WarmPool
from sandbox.sessions import SessionRegistry


class ExecutorCollector(Collector):
    """Warm-pool hits and misses, ready interpreters, live sessions."""

    def __init__(self, registry: SessionRegistry, pool: WarmPool) -> None:
        self.registry = registry
        self.pool = pool

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        yield CounterMetricFamily(
            "codeact_executor_pool_hits",
            "Sessions created from the warm pool",
            value=self.pool.hits,
        )
        yield CounterMetricFamily(
            "codeact_executor_pool_misses",
            "Sessions created cold because the pool was empty",
            value=self.pool.misses,
        )
        yield CounterMetricFamily(
            "codeact_executor_pool_start_failures",
            "Pool interpreters that failed to start",
            value=self.pool.failures,
        )
        yield GaugeMetricFamily(
            "codeact_executor_pool_ready", "Interpreters waiting in the pool", value=self.pool.ready
        )
        yield GaugeMetricFamily(
            "codeact_executor_sessions", "Live sessions on this executor", value=len(self.registry)
        )
