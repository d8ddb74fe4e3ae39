"""Token buckets, one per key (a tenant), for rate quotas.

A bucket holds up to `capacity` tokens and gains `rate` tokens a second;
each call takes one. An empty bucket says how long until the next token,
which becomes the RetryInfo of the refusal. Rates and capacities come with
each call, so a reloaded configuration applies at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class TokenBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (tokens, last refill time)
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, key: str, rate: float, capacity: int) -> float:
        """Take a token: 0.0 when granted, otherwise the seconds to wait."""
        now = self._clock()
        with self._lock:
            tokens, then = self._buckets.get(key, (float(capacity), now))
            tokens = min(float(capacity), tokens + (now - then) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate
