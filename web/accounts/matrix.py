"""Signing in with Matrix: the homeserver checks the password (Kabinet keeps none) and vouches
for the account through an OpenID token, which Kabinet verifies at the homeserver's
`/_matrix/federation/v1/openid/userinfo`. The device made for the check is logged out at once:
no Matrix access token outlives the request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote

import aiohttp

log = logging.getLogger(__name__)
TIMEOUT = aiohttp.ClientTimeout(total=20)


class SignInRefused(Exception):
    """The homeserver said no: a wrong password, an unknown or deactivated account."""


class HomeserverBusy(Exception):
    """The homeserver is unreachable or rate limits us: try again later (not the user's fault)."""

    def __init__(self, retry_after: float = 30.0) -> None:
        super().__init__(f"try again in {retry_after:.0f} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class OpenIdToken:
    access_token: str
    matrix_server_name: str


class MatrixSignIn:
    def __init__(self, homeserver_url: str) -> None:
        self.url = homeserver_url.rstrip("/")

    async def password(self, mxid: str, password: str) -> str:
        """The Matrix id the homeserver vouches for after this password, or SignInRefused."""
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            login = await self._call(http, "POST", "/_matrix/client/v3/login", json={
                "type": "m.login.password", "identifier": {"type": "m.id.user", "user": mxid},
                "password": password, "initial_device_display_name": "Kabinet web sign-in"})
            token, user_id = str(login.get("access_token", "")), str(login.get("user_id", ""))
            try:
                openid = await self._call(
                    http, "POST", f"/_matrix/client/v3/user/{quote(user_id)}"
                                  "/openid/request_token", json={}, token=token)
            finally:
                await self._logout(http, token)
            return await self._userinfo(http, str(openid["access_token"]))

    async def openid(self, token: OpenIdToken) -> str:
        """The Matrix id behind an OpenID token (from a widget or a client)."""
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            return await self._userinfo(http, token.access_token)

    async def _userinfo(self, http: aiohttp.ClientSession, openid_token: str) -> str:
        info = await self._call(http, "GET", "/_matrix/federation/v1/openid/userinfo",
                                params={"access_token": openid_token})
        sub = info.get("sub")
        if not isinstance(sub, str) or not sub.startswith("@"):
            raise SignInRefused("the homeserver did not name the account")
        return sub

    async def _logout(self, http: aiohttp.ClientSession, token: str) -> None:
        try:
            await self._call(http, "POST", "/_matrix/client/v3/logout", json={}, token=token)
        except (SignInRefused, HomeserverBusy):
            log.warning("could not log out the sign-in device; it expires with the homeserver's "
                        "session policy")

    async def _call(self, http: aiohttp.ClientSession, method: str, path: str, *,
                    json: dict[str, object] | None = None, params: dict[str, str] | None = None,
                    token: str | None = None) -> dict[str, object]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with http.request(method, self.url + path, json=json, params=params,
                                    headers=headers) as resp:
                body = await resp.json(content_type=None)
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("homeserver unreachable during sign-in: %s", type(exc).__name__)
            raise HomeserverBusy() from None
        if status == 429:
            wait = body.get("retry_after_ms", 30_000) if isinstance(body, dict) else 30_000
            raise HomeserverBusy(float(wait) / 1000)
        if status >= 500:
            raise HomeserverBusy()
        if status >= 400 or not isinstance(body, dict):
            errcode = body.get("errcode") if isinstance(body, dict) else None
            raise SignInRefused(str(errcode or status))  # never the password or the token
        return body
