"""A per-client-address rate limit (sliding window, in memory) for public intake, and the one
function that says who the client is (`client_address`).

In memory on purpose: it guards one process against floods; several web processes behind a
load balancer each keep their own window (the proxy should limit too).

Behind a reverse proxy every request comes from the proxy's address; the client is then named
in `X-Forwarded-For`, which anyone can also write. It is believed only from `web.trusted_proxies`:
the hops are read from the right, and the first one that is not a trusted proxy is the client
(what the proxy itself saw), so a header a client sends along cannot pick its own address.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aiohttp import web

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _ip(text: str) -> IPAddress | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1:text.index("]")]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


@dataclass
class TrustedProxies:
    """Mutable on purpose: tests (and a reload) may change it on a running app."""

    networks: Sequence[IPNetwork] = field(default_factory=list)

    def trusts(self, ip: IPAddress | None) -> bool:
        return ip is not None and any(ip in net for net in self.networks)

    def client(self, peer: str, forwarded_for: Iterable[str]) -> str:
        ip = _ip(peer)
        if not self.trusts(ip):
            return str(ip) if ip is not None else peer
        hops = [h for value in forwarded_for for h in value.split(",") if h.strip()]
        while hops and self.trusts(ip):
            hop = _ip(hops.pop())
            if hop is None:  # not an address: keep the last one a trusted proxy vouched for
                break
            ip = hop
        return str(ip)


TRUSTED_PROXIES: web.AppKey[TrustedProxies] = web.AppKey("trusted_proxies", TrustedProxies)


def client_address(request: web.Request) -> str:
    """The client's address: the peer, or behind a trusted proxy what the proxy saw."""
    peer = request.remote or "unknown"
    proxies = request.app.get(TRUSTED_PROXIES)
    if proxies is None or not proxies.networks:
        return peer
    return proxies.client(peer, request.headers.getall("X-Forwarded-For", []))


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
