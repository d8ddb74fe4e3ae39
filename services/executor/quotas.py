"""Executions per minute, per tenant: the server's rate unless the tenants
file gives the tenant its own."""

from __future__ import annotations

from codeact.errors import quota_exceeded
from services.common.rates import TokenBuckets
from services.common.tenants import TenantsSource


class ExecutionRate:
    def __init__(
        self, per_minute: float, burst: int, tenants: TenantsSource, buckets: TokenBuckets
    ) -> None:
        self.per_minute = per_minute
        self.burst = burst
        self.tenants = tenants
        self.buckets = buckets

    def take(self, tenant: str) -> None:
        """Count one execution, or refuse with RESOURCE_EXHAUSTED and RetryInfo."""
        config = self.tenants.current().get(tenant)
        per_minute = config.executions_per_minute or self.per_minute
        if per_minute <= 0:
            return
        # Without a burst of its own, a bucket holds ten seconds' worth.
        burst = config.execution_burst or self.burst or max(1, round(per_minute / 6))
        wait = self.buckets.take(tenant, per_minute / 60.0, burst)
        if wait > 0:
            raise quota_exceeded(
                "EXECUTION_RATE_EXCEEDED",
                f"at most {per_minute:g} executions a minute (bursts of {burst}); "
                f"retry in {wait:.2f} s",
                f"tenant:{tenant}",
                per_minute,
                retry_after=wait,
            )
