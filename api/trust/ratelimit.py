"""Token buckets: one per API key or token subject, one per IP address for the public."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

from api.security import Principal

MAX_BUCKETS = 50_000


class RateLimiter:
    def __init__(self, per_key_s: float, per_ip_s: float, burst_s: float = 2.0) -> None:
        self.per_key_s = per_key_s
        self.per_ip_s = per_ip_s
        self.burst_s = burst_s
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, at)
        self._lock = threading.Lock()

    def take(self, principal: Principal, ip: str) -> float:
        """0 when the request may go ahead, else the seconds until it could."""
        if principal.via:
            key = f"{principal.via}:{principal.subject}"
            rate = principal.rate_per_s or self.per_key_s
        else:
            key, rate = f"ip:{ip}", self.per_ip_s
        cap = max(1.0, rate * self.burst_s)
        now = time.monotonic()
        with self._lock:
            tokens, at = self._buckets.pop(key, (cap, now))
            tokens = min(cap, tokens + (now - at) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / rate
            while len(self._buckets) > MAX_BUCKETS:
                self._buckets.popitem(last=False)
        return wait
