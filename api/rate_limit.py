"""Per-caller rate limits: a token bucket per token holder, in this API process.

Each holder (an API client, a person) may send ``rate`` requests a second with bursts of
``burst``; beyond that the answer is 429 with ``Retry-After``. Buckets live in the process:
with several API processes behind a balancer each allows the rate, so size it per process.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from domain.errors import TooManyRequests


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def take(self, holder: str) -> None:
        """Spend one request of ``holder``'s, or raise TooManyRequests saying when to retry."""
        now = self.clock()
        bucket = self._buckets.get(holder)
        if bucket is None:
            if len(self._buckets) > 10_000:
                self._forget_idle(now)
            bucket = self._buckets[holder] = _Bucket(tokens=self.burst, at=now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if bucket.tokens < 1:
            wait = math.ceil((1 - bucket.tokens) / self.rate)
            raise TooManyRequests(
                f"more than {self.rate:g} orders a second (bursts of {self.burst}); "
                f"retry in {wait} s",
                retry_after_seconds=wait,
            )
        bucket.tokens -= 1

    def _forget_idle(self, now: float) -> None:
        """A bucket that has refilled is the same as no bucket."""
        full_after = self.burst / self.rate
        for holder, bucket in list(self._buckets.items()):
            if now - bucket.at >= full_after:
                del self._buckets[holder]
