"""The appeals' CSRF token (web.security's, with the appeals' secret and cookie path), the
one-time form token and the API's Idempotency-Key."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from typing import Any

from aiohttp import web

from council import appeals
from web.appeals.common import (
    AppealsWeb,
)
from web.appeals.input import (
    Checked,
    Submission,
)
from web.security import CSRF_COOKIE, csrf_ok, csrf_token, mac, with_csrf

__all__ = ["CSRF_COOKIE", "FORM_TOKEN", "IDEMPOTENCY_KEY", "KEY_RE"]
FORM_TOKEN = "form_token"  # the hidden field: one form, one appeal
IDEMPOTENCY_KEY = "Idempotency-Key"
KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")  # visible ASCII, as HTTP header tokens go


# -- CSRF: web.security's double-submit token, signed with the installation's session secret --

def _mac(cfg: AppealsWeb, purpose: str, text: str) -> str:
    return mac(cfg.session_secret, purpose, text)


def _csrf_ok(cfg: AppealsWeb, request: web.Request, submitted: Any) -> bool:
    return csrf_ok(cfg.session_secret, request, submitted)


def _with_csrf(request: web.Request, response: web.Response, token: str) -> web.Response:
    return with_csrf(request, response, token, path="/appeals")


def _csrf_token(cfg: AppealsWeb, request: web.Request) -> str:
    return csrf_token(cfg.session_secret, request)


# -- one form, one appeal: a signed form token; the API's Idempotency-Key --------------------

def _new_form_token(cfg: AppealsWeb) -> str:
    body = f"{secrets.token_urlsafe(16)}.{int(time.time())}"
    return f"{body}.{_mac(cfg, 'form', body)}"


def _form_token_ok(cfg: AppealsWeb, value: str) -> bool:
    """Ours (signed) and younger than the keys are kept: an older one could register twice."""
    body, _, mac = value.rpartition(".")
    issued = body.rpartition(".")[2]
    if not issued.isascii() or not issued.isdigit() or not hmac.compare_digest(
            mac, _mac(cfg, "form", body)):
        return False
    return 0 <= time.time() - int(issued) < appeals.KEY_RETENTION.total_seconds()


def _request_hash(checked: Checked, sub: Submission) -> str:
    """What makes two submissions the same request: the checked values and the files' bytes."""
    files = [[f.name, f.mimetype, hashlib.sha256(f.data).hexdigest()] for f in sub.files]
    canon = json.dumps({"values": checked.values, "files": files}, sort_keys=True,
                       ensure_ascii=False, default=list)
    return hashlib.sha256(canon.encode()).hexdigest()


async def _once(cfg: AppealsWeb, scoped_key: str, checked: Checked, sub: Submission
                ) -> appeals.Idempotency:
    """The key's hash (all the store keeps), the request's hash, and the status token: derived
    from the key with the session secret, so a replay can answer it and a copy of the
    database alone still opens nothing."""
    mac = hmac.new(cfg.session_secret.encode(), f"appeal-token:{scoped_key}".encode(),
                   hashlib.sha256).digest()[:appeals.TOKEN_BYTES]
    request_hash = await asyncio.to_thread(_request_hash, checked, sub)
    return appeals.Idempotency(
        key_hash=hashlib.sha256(f"intake-key:{scoped_key}".encode()).hexdigest(),
        request_hash=request_hash, token=base64.urlsafe_b64encode(mac).decode().rstrip("="))
