"""What the bot says about feeds: an entry's card in the announcements room, and a failing
feed's report (and its recovery) in the secretariat's room. Pure functions; operations.py
enqueues them.

A feed's text is hostile until proven otherwise: markup is stripped (the content of script and
style elements with it), entities unescaped, control characters and runs of whitespace collapsed,
and lengths cut; the HTML copy is built from the clean text with everything escaped; links are
kept only when they are http(s)."""

from __future__ import annotations

import html
import re
from datetime import datetime
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from council.language import _

FEED_KEY = "ua.kabinet.feed"  # the marker on every card: {"feed": name, "entry": key}
SUMMARY_CHARS = 300
TITLE_CHARS = 200
_SPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


class _Text(HTMLParser):
    """The text of an HTML fragment, without what a browser would not show as text."""

    _SKIPPED = frozenset({"script", "style", "template", "noscript", "iframe", "object", "head"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skip += 1
        elif tag in ("br", "p", "div", "li"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def plain(fragment: str, limit: int) -> str:
    """Plain text of a feed's (possibly HTML) fragment, cut at about `limit` characters."""
    parser = _Text()
    parser.feed(fragment)
    parser.close()
    text = html.unescape("".join(parser.parts))  # feeds double-escape now and then
    text = _SPACE.sub(" ", _CONTROL.sub("", text)).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" ,.;:-") + "…"


def safe_link(url: str | None) -> str | None:
    """The link if it is an absolute http(s) URL without spaces or controls; else None."""
    if not url:
        return None
    url = url.strip()
    if _SPACE.search(url) or _CONTROL.search(url) or len(url) > 2000:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def local_date(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return moment.astimezone(tz).strftime("%d.%m.%Y %H:%M") if moment else None


def card(feed: str, entry_key: str, title: str, summary: str, link: str | None,
         published: datetime | None, tz: ZoneInfo) -> dict[str, Any]:
    """An entry's card: title, date, summary, link (plain body and escaped HTML)."""
    name = plain(feed, 100)
    head = plain(title, TITLE_CHARS) or _("(untitled)")
    text = plain(summary, SUMMARY_CHARS)
    url = safe_link(link)
    when = local_date(published, tz)
    lines = [f"📰 {name}: {head}"]
    if when:
        lines.append(when)
    if text:
        lines.append(text)
    if url:
        lines.append(url)
    esc = html.escape
    title_html = f'<a href="{esc(url)}">{esc(head)}</a>' if url else esc(head)
    parts = [f"<p>📰 <b>{esc(name)}</b>: {title_html}</p>"]
    if when:
        parts.append(f"<p><i>{esc(when)}</i></p>")
    if text:
        parts.append(f"<p>{esc(text)}</p>")
    return {"msgtype": "m.text", "body": "\n".join(lines), "format": "org.matrix.custom.html",
            "formatted_body": "".join(parts), FEED_KEY: {"feed": feed, "entry": entry_key}}


def failing(feed: str, since: datetime, failures: int, error: str, tz: ZoneInfo) -> dict[str, Any]:
    """The secretariat is told once per streak of failures (after `feeds.report_after`)."""
    body = "⚠️ " + _(
        "The news feed “{feed}” has not been received since {since} (failed attempts: "
        "{failures}; the last error: {error}). The attempts go on; new entries will be posted as "
        "soon as the feed is back. Check its address in the settings (feeds.sources).",
        feed=plain(feed, 100), since=local_date(since, tz), failures=failures,
        error=plain(error, 200))
    return {"msgtype": "m.text", "body": body, FEED_KEY: {"feed": feed, "failing": True}}


def recovered(feed: str) -> dict[str, Any]:
    body = "✅ " + _("The news feed “{feed}” is received again.", feed=plain(feed, 100))
    return {"msgtype": "m.text", "body": body, FEED_KEY: {"feed": feed, "failing": False}}
