"""API error messages follow Accept-Language: Ukrainian by default, English when asked, the
errcode the same in both (clients switch on it, people read the message)."""

from __future__ import annotations

import aiohttp
import pytest

from web.i18n import accepted_locale
from web.sittings import DEPS

TOKEN = "api-language-test-token-0123456789"


@pytest.mark.parametrize(("header", "expected"), [
    ("", "uk"), ("en", "en"), ("en-GB,en;q=0.9", "en"), ("uk-UA,uk;q=0.9,en;q=0.8", "uk"),
    ("de,en;q=0.5", "en"), ("en;q=0.5,uk;q=0.6", "uk"), ("fr", "uk"), ("en;q=0", "uk"),
    ("en;q=bad", "uk")])
def test_accept_language_picks_one_of_ours(header: str, expected: str) -> None:
    assert accepted_locale(header) == expected


async def _error(url: str, method: str = "GET", language: str | None = None,
                 **kwargs: object) -> tuple[int, dict[str, object]]:
    headers = {"Accept-Language": language} if language else {}
    headers.update(kwargs.pop("headers", {}))  # type: ignore[arg-type]
    async with aiohttp.ClientSession() as http, http.request(
            method, url, headers=headers, **kwargs) as r:  # type: ignore[arg-type]
        return r.status, await r.json()


async def test_a_refusal_in_the_readers_language(settled) -> None:
    deps = settled.runner.app[DEPS]
    before, deps.staff_token = deps.staff_token, TOKEN
    try:
        base = settled.web_url
        status, uk = await _error(f"{base}/api/v1/sittings", "POST", json={})
        status_en, en = await _error(f"{base}/api/v1/sittings", "POST", "en-US,en;q=0.9",
                                     json={})
        assert status == status_en == 401 and uk["errcode"] == en["errcode"] == "KB_UNAUTHORIZED"
        assert uk["error"] == "Потрібно увійти або надати токен секретаріату"
        assert en["error"] == "Sign-in or staff token required"

        auth = {"Authorization": f"Bearer {TOKEN}"}
        # A domain refusal (an unknown sitting) and a body that is not an object.
        status, uk = await _error(f"{base}/api/v1/sittings/999999", headers=auth)
        _, en = await _error(f"{base}/api/v1/sittings/999999", language="en", headers=auth)
        assert status == 404 and uk["errcode"] == en["errcode"] == "KB_UNKNOWN_SITTING"
        assert uk["error"] != en["error"] and "/" not in str(uk["error"])
        assert any(ch in str(uk["error"]) for ch in "ієїґ") and str(en["error"]).isascii()
        status, uk = await _error(f"{base}/api/v1/sittings", "POST", headers=auth, json=[1])
        _, en = await _error(f"{base}/api/v1/sittings", "POST", "en", headers=auth, json=[1])
        assert status == 400 and uk["error"] == "Тіло запиту має бути об'єктом JSON"
        assert en["error"] == "The body must be a JSON object"
    finally:
        deps.staff_token = before


async def test_a_body_refusal_with_a_value_in_both_languages(settled) -> None:
    deps = settled.runner.app[DEPS]
    before, deps.staff_token = deps.staff_token, TOKEN
    try:
        url = f"{settled.web_url}/api/v1/sittings"
        big = b"{" + b" " * (3 * 1024 * 1024) + b"}"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        status, uk = await _error(url, "POST", data=big, headers=headers)
        assert status == 413 and uk["error"] == "Тіло запиту більше за 2097152 байтів"
        status, en = await _error(url, "POST", "en", data=big, headers=headers)
        assert status == 413 and en["error"] == "The request body is larger than 2097152 bytes"
    finally:
        deps.staff_token = before
