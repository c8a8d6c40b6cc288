"""What the browser tests share: the two sizes every page is tried at, a page that fails its
test on any 4xx/5xx answer or console error (a script or style the Content-Security-Policy
refused shows there), and the check that nothing is wider than the screen."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from playwright.async_api import Browser, Page

SIZES: dict[str, dict[str, Any]] = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    return request.param


@asynccontextmanager
async def watched(browser: Browser, base_url: str, size: str, timeout: float = 15_000
                  ) -> AsyncIterator[Page]:
    """A fresh context (no cookies) at the size; on leaving, no answer failed and no console
    error was logged (the browser's own /favicon.ico request aside: the site has none)."""
    context = await browser.new_context(base_url=base_url, **SIZES[size])
    context.set_default_timeout(timeout)
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and "404" not in m.text
            else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
    try:
        yield page
    finally:
        await context.close()
    assert errors == []


async def fits(page: Page, size: str) -> None:
    """Nothing wider than the window, and a phone's window not zoomed out to fit something."""
    width = SIZES[size]["viewport"]["width"]
    scroll, inner = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert inner == width, f"the layout viewport grew to {inner}px (set {width}px)"
    assert scroll <= inner, f"{page.url} is {scroll}px wide in a {inner}px window"
