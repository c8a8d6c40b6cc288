"""Who may do what on the web: the staff API's bearer token, the forms' CSRF double-submit
token, and a per-client-address rate limit for public intake (with `client_address`, the one
function that says who the client is).

The rate limit is in memory on purpose: it guards one process against floods; several web
processes behind a load balancer each keep their own window (the proxy should limit too).

Behind a reverse proxy every request comes from the proxy's address; the client is then named
in `X-Forwarded-For`, which anyone can also write. It is believed only from `web.trusted_proxies`:
the hops are read from the right, and the first one that is not a trusted proxy is the client
(what the proxy itself saw), so a header a client sends along cannot pick its own address.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from web.errors import json_error

# -- the staff API's bearer token (web.accounts.staff decides who may call the staff API) -----


def bearer_denied(request: web.Request, expected: str | None) -> web.Response | None:
    """None if the request carries `Authorization: Bearer <expected>` (compared in constant
    time), else the error to answer with: 403 while no token is configured, 401 otherwise."""
    if expected is None:
        return json_error(403, "KB_STAFF_API_DISABLED", "staff_api_token is not configured")
    given = request.headers.get("Authorization", "")
    if not given.startswith("Bearer ") or not hmac.compare_digest(
            given.removeprefix("Bearer ").encode(), expected.encode()):
        return json_error(401, "KB_UNAUTHORIZED", "Staff token required")
    return None


# -- CSRF: a double-submit token signed with the installation's session secret ---------------

CSRF_COOKIE = "kb_csrf"


def mac(secret: str, purpose: str, text: str) -> str:
    return hmac.new(secret.encode(), f"{purpose}:{text}".encode(), hashlib.sha256).hexdigest()[:32]


def _sign(secret: str, nonce: str) -> str:
    return f"{nonce}.{mac(secret, 'csrf', nonce)}"


def csrf_ok(secret: str, request: web.Request, submitted: Any) -> bool:
    """The form's token is the cookie's, and the cookie is ours."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not isinstance(submitted, str) or not cookie or "." not in cookie:
        return False
    nonce = cookie.split(".", 1)[0]
    return hmac.compare_digest(cookie, submitted) and hmac.compare_digest(cookie, _sign(secret, nonce))


def csrf_token(secret: str, request: web.Request) -> str:
    """The request's valid cookie token, or a new one."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if cookie and "." in cookie and hmac.compare_digest(cookie, _sign(secret, cookie.split(".")[0])):
        return cookie
    return _sign(secret, secrets.token_urlsafe(16))


def with_csrf(request: web.Request, response: web.Response, token: str, path: str) -> web.Response:
    if request.cookies.get(CSRF_COOKIE) != token:
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="Strict", path=path)
    return response


# -- the client's address and the rate limit -------------------------------------------------
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

    def peek(self, client: str, now: float | None = None) -> float:
        """The seconds to wait if this client is at its limit now, recording nothing (for
        limits that count failures only: check first, record with `check` on failure)."""
        now = time.monotonic() if now is None else now
        hits = [t for t in self._hits.get(client, ()) if t > now - self.seconds]
        return max(hits[0] + self.seconds - now, 0.001) if len(hits) >= self.requests else 0.0

    @staticmethod
    def retry_after(wait: float) -> str:
        return str(max(1, math.ceil(wait)))

    def _evict(self, now: float) -> None:
        for client in [c for c, h in self._hits.items() if not h or h[-1] <= now - self.seconds]:
            del self._hits[client]
