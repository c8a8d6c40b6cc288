"""/metrics: the installation's figures in the Prometheus text format, for operators
(docs/metrics.md). The registry and what it holds are the installation's (kabinet/metrics.py).

Not public. Who may read it:
- no `web.metrics_token` configured: a scraper on this machine only — the peer is a loopback
  address and the request came through no proxy (it carries no X-Forwarded-For, Forwarded or
  X-Real-IP header; a reverse proxy on the same machine would otherwise make every visitor
  local). Anyone else: 403.
- `web.metrics_token` configured: every scraper, local or not, sends
  `Authorization: Bearer <token>`; without it or with another one: 401.
Neither a signed-in session nor the staff token opens it: metrics are an operator's, not a
council member's.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

PROXY_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


@dataclass(frozen=True)
class Deps:
    registry: CollectorRegistry
    refresh: Callable[[], Awaitable[None]]  # reads the store's figures before each render
    token: str | None = None  # web.metrics_token


METRICS: web.AppKey[Deps] = web.AppKey("metrics", Deps)


def _loopback(peer: str | None) -> bool:
    try:
        ip = ipaddress.ip_address(peer or "")
    except ValueError:
        return False  # a Unix socket, or nothing known
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def denied(request: web.Request, token: str | None) -> web.Response | None:
    """None if the request may read the metrics, else the answer (plain text: scrapers show it)."""
    if token is not None:
        given = request.headers.get("Authorization", "")
        if given.startswith("Bearer ") and hmac.compare_digest(
                given.removeprefix("Bearer ").encode(), token.encode()):
            return None
        return web.Response(status=401, text="metrics: a bearer token is required\n",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if _loopback(request.remote) and not any(h in request.headers for h in PROXY_HEADERS):
        return None
    return web.Response(status=403, text="metrics: only from this machine (or set "
                        "web.metrics_token)\n")


async def metrics(request: web.Request) -> web.Response:
    deps = request.app[METRICS]
    refusal = denied(request, deps.token)
    if refusal is not None:
        return refusal
    await deps.refresh()
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encode(deps.registry), headers={"Content-Type": content_type,
                                                             "Cache-Control": "no-store"})


def setup(app: web.Application, deps: Deps) -> None:
    app[METRICS] = deps
    app.router.add_get("/metrics", metrics, name="metrics")
