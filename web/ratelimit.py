"""A per-client-address rate limit (sliding window, in memory) for public intake.

In memory on purpose: it guards one process against floods; several web processes behind a
load balancer each keep their own window (the proxy should limit too).
"""

from __future__ import annotations

import math
import time
from collections import deque


class RateLimiter:
    def __init__(self, requests: int, seconds: float, *, max_clients: int = 100_000) -> None:
        self.requests = requests
        self.seconds = seconds
        self.max_clients = max_clients
        self._hits: dict[str, deque[float]] = {}

    def check(self, client: str, now: float | None = None) -> float:
        """Record a request; 0 if allowed, else the seconds to wait (for Retry-After)."""
        now = time.monotonic() if now is None else now
        hits = self._hits.get(client)
        if hits is None:
            if len(self._hits) >= self.max_clients:
                self._evict(now)
            hits = self._hits[client] = deque()
        while hits and hits[0] <= now - self.seconds:
            hits.popleft()
        if len(hits) >= self.requests:
            return max(hits[0] + self.seconds - now, 0.001)
        hits.append(now)
        return 0.0

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))

    def _evict(self, now: float) -> None:
        for client in [c for c, h in self._hits.items() if not h or h[-1] <= now - self.seconds]:
            del self._hits[client]
