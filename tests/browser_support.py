"""What the browser tests share: the two sizes every page is tried at (and the four widths of the
layout check, tests/test_layout_browser.py), a page that fails its test on any 4xx/5xx answer or
console error (a script or style the Content-Security-Policy refused shows there), and the check
that nothing is wider than the screen."""

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
# The layout check's widths: a small and a common phone, a tablet, a laptop.
WIDTHS: dict[str, dict[str, Any]] = {
    "360": {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True},
    "390": SIZES["phone"],
    "768": {"viewport": {"width": 768, "height": 1024}, "is_mobile": True, "has_touch": True},
    "1366": {"viewport": {"width": 1366, "height": 768}},
}
ALL_SIZES = {**SIZES, **WIDTHS}


@pytest.fixture(params=list(SIZES), ids=list(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    return request.param


@asynccontextmanager
async def watched(browser: Browser, base_url: str, size: str, timeout: float = 15_000,
                  **options: Any) -> AsyncIterator[Page]:
    """A fresh context at the size (a name of SIZES or WIDTHS; no cookies unless `options` give
    a `storage_state`); on leaving, no answer failed and no console error was logged (the
    browser's own /favicon.ico request aside: the site has none)."""
    context = await browser.new_context(base_url=base_url, **ALL_SIZES[size], **options)
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


# Shown elements whose right edge passes the window's, unless a scrolling or clipping box holds
# them (a wide table in its .table-wrap) or they were moved out of sight on purpose (the honeypot
# field, far to the left). What a closed <details> holds is not shown: open it to check it.
_TOO_WIDE = """() => {
  const width = window.innerWidth, found = [];
  const held = el => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== "visible") return true;
    }
    return false;
  };
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if ((r.width === 0 && r.height === 0) || r.right <= 0 || r.right <= width + 0.5) continue;
    if (!el.checkVisibility()) continue;  // not shown: in a closed <details>, hidden
    if (held(el)) continue;
    const classes = typeof el.className === "string" ? el.className.trim() : "";
    const name = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
      + (classes ? "." + classes.split(/\\s+/).join(".") : "");
    found.push(`${name} ends at ${Math.round(r.right)}px`);
    if (found.length >= 5) break;
  }
  return found;
}"""


async def fits(page: Page, size: str) -> None:
    """Nothing wider than the window (the page's scroll width, and no element past its right
    edge), and a phone's window not zoomed out to fit something."""
    width = ALL_SIZES[size]["viewport"]["width"]
    scroll, inner = await page.evaluate(
        "[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert inner == width, f"the layout viewport grew to {inner}px (set {width}px)"
    assert scroll <= inner, f"{page.url} is {scroll}px wide in a {inner}px window"
    wide = await page.evaluate(_TOO_WIDE)
    assert wide == [], f"{page.url} at {inner}px: {'; '.join(wide)}"
