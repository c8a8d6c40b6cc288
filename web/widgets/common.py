"""What the widget pages share: who may frame them, and the headers that say so.

The site sends `X-Frame-Options: DENY` and `frame-ancestors 'none'` on every page (web/app.py).
The widget pages are the one exception, and it is safe: they are public and read-only (the same
agenda, drafts and vote counts anyone reads at /sittings/{id}), carry no form and change nothing,
so a page that frames them can make a visitor do nothing by clickjacking. The OpenID sign-in they
offer is a POST of a token the framing client itself handed over.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

# Any web origin ('*': http and https), and Element Desktop (its pages are vector://vector/…).
DEFAULT_FRAME_ANCESTORS: tuple[str, ...] = ("*", "vector:")
# A CSP source expression: a scheme, a host with optional scheme and port, or '*' / 'self'.
_SOURCE = re.compile(r"\*|'self'|[a-z][a-z0-9+.-]*:|([a-z][a-z0-9+.-]*://)?[a-z0-9*.-]+(:(\d+|\*))?",
                     re.IGNORECASE)


@dataclass(frozen=True)
class Deps:
    frame_ancestors: Sequence[str] = DEFAULT_FRAME_ANCESTORS


DEPS: web.AppKey[Deps] = web.AppKey("widgets_deps", Deps)


def framing_policy(ancestors: Sequence[str]) -> str:
    """The widget pages' CSP: the site's, with `frame-ancestors` opened to `ancestors`. A
    configured entry that is not a plain source expression is dropped (no `;` smuggling)."""
    sources = " ".join(a for a in ancestors if _SOURCE.fullmatch(a)) or "'none'"
    return ("default-src 'self'; img-src 'self' data:; style-src 'self'; "
            f"frame-ancestors {sources}; form-action 'self'")


def frameable(request: web.Request, response: web.StreamResponse) -> web.StreamResponse:
    """Mark a widget page as framable by the configured ancestors. The security middleware only
    fills headers a response lacks, and it leaves out X-Frame-Options when the response's own CSP
    names its frame-ancestors (browsers ignore X-Frame-Options then anyway, per CSP Level 2)."""
    response.headers["Content-Security-Policy"] = framing_policy(request.app[DEPS].frame_ancestors)
    response.headers["Cache-Control"] = "no-cache"
    return response
