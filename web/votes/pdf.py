"""/sittings/{id}/votes.pdf: the sitting's roll-call results, one A4 page per closed vote.

The council's official document: written in the council's language (council.language, its
words in council/locale/<language>/LC_MESSAGES/pdf.po and the votes' own words), whoever asks.

Made on demand with fpdf2 and the Roboto font of the font-roboto package (the font the demo
drafts already use: Cyrillic, nothing to install). Built in a worker thread: the loop that
serves the hall view and the bot never waits for a PDF. Each vote fits one page whatever the
council's size: the roll-call flows into two columns and its rows shrink to fit.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import font_roboto
from aiohttp import web
from fpdf import FPDF
from fpdf.enums import MethodReturnValue

from council import language, sittings
from council import votes as domain
from council.language import _
from council.sittings.agenda import sitting_heading, when
from council.votes.inputs import MAJORITIES, OUTCOMES, RESULTS
from web.pages import SITE, sitting_id
from web.votes.common import DEPS, Group, by_faction, head_id, local

FONT_DIR = Path(font_roboto.__file__).with_name("files")
FONT = "Roboto"
MARGIN = 15.0  # mm
PAGE_H = 297.0
LINE: dict[str, Any] = {"new_x": "LMARGIN", "new_y": "NEXT"}
MAX_CONFLICT_CHARS = 300  # the page carries the declaration's start; the web page all of it


@dataclass(frozen=True)
class VotePage:
    v: Any  # council.votes.VoteView
    groups: list[Group]
    opened: str
    closed: str


@dataclass(frozen=True)
class Document:
    council: str
    heading: str
    starts: str
    pages: list[VotePage]
    link: str


def _pdf(title: str, council: str) -> FPDF:
    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_author(council)
    pdf.set_lang(language.current())
    pdf.set_margins(MARGIN, MARGIN, MARGIN)
    pdf.set_auto_page_break(False)  # one page per vote, laid out to fit
    pdf.add_font(FONT, "", str(FONT_DIR / "Roboto-Regular.ttf"))
    pdf.add_font(FONT, "B", str(FONT_DIR / "Roboto-Bold.ttf"))
    return pdf


def _header(pdf: FPDF, doc: Document) -> None:
    pdf.set_font(FONT, "B", 12)
    pdf.multi_cell(0, 6, doc.council.upper(), align="C", **LINE)
    pdf.set_font(FONT, "", 10)
    pdf.multi_cell(0, 5, f"{doc.heading} · {doc.starts}", align="C", **LINE)
    pdf.ln(2)


def _fit(pdf: FPDF, text: str, width: float, size: float) -> None:
    """The text in one line of `width`: a smaller font for a long name, never a wrap."""
    while size > 4 and pdf.get_string_width(text) > width - 1:
        size -= 0.5
        pdf.set_font_size(size)


def _group_name(group: Group) -> str:
    """A faction's own name as it is; the independents' and the head's in the council's words."""
    return group.uk if group.kind == "faction" else _(group.en)


def _result(result: str) -> str:
    word = RESULTS.get(result)
    return str(word) if word is not None else result


def _roll_call(pdf: FPDF, groups: list[Group], top: float, bottom: float) -> None:
    rows: list[tuple[str, str, bool]] = []
    for g in groups:
        rows.append((_group_name(g), "", True))
        rows.extend((line.name, _result(line.result), False) for line in g.lines)
    if not rows:
        return
    usable = pdf.w - 2 * MARGIN
    height = bottom - top
    cols = 1 if len(rows) * 5.0 <= height else 2
    per_col = -(-len(rows) // cols)
    row_h = min(5.0, height / per_col)
    size = min(10.0, row_h * 2.0)
    col_w = usable / cols
    for i, (left, right, heading) in enumerate(rows):
        col, place = divmod(i, per_col)
        x, y = MARGIN + col * col_w, top + place * row_h
        pdf.set_xy(x, y)
        pdf.set_font(FONT, "B" if heading else "", size)
        if heading:
            _fit(pdf, left, col_w, size)
            pdf.cell(col_w, row_h, left)
            continue
        name_w = col_w * 0.64
        _fit(pdf, left, name_w, size)
        pdf.cell(name_w, row_h, left)
        pdf.set_font(FONT, "", size)
        pdf.cell(col_w - name_w - 2, row_h, right)


def _footer_height(pdf: FPDF, page: VotePage) -> float:
    pdf.set_font(FONT, "", 8)
    text = _conflicts_text(page)
    extra = pdf.multi_cell(0, 4, text, dry_run=True, output=MethodReturnValue.HEIGHT) if text else 0
    assert isinstance(extra, int | float)
    return extra + 14  # the digest's two lines and a gap


def _conflicts_text(page: VotePage) -> str:
    parts = []
    for c in page.v.conflicts:
        text = c.text if len(c.text) <= MAX_CONFLICT_CHARS else c.text[:MAX_CONFLICT_CHARS] + "…"
        parts.append(f"{c.name}: {text}")
    if not parts:
        return ""
    return _("Conflicts of interest") + ":\n" + "\n".join(parts)


def _vote_page(pdf: FPDF, doc: Document, page: VotePage) -> None:
    v = page.v
    pdf.add_page()
    _header(pdf, doc)
    pdf.set_font(FONT, "B", 13)
    pdf.multi_cell(0, 7, _("Roll-call vote results No. {number}", number=v.number), align="C",
                   **LINE)
    pdf.set_font(FONT, "", 9)
    pdf.multi_cell(0, 4.5, f"{page.opened} – {page.closed}", align="C", **LINE)
    pdf.ln(2)
    pdf.set_font(FONT, "B", 11)
    pdf.multi_cell(0, 5.5, _("Item No. {item}: {title}", item=v.item_number, title=v.item_title),
                   **LINE)
    pdf.set_font(FONT, "", 10)
    majority = MAJORITIES.get(v.majority)
    pdf.multi_cell(0, 5, _("Threshold {needed} «For» ({majority}, composition {total})",
                           needed=v.threshold, majority=majority or v.majority, total=v.total),
                   **LINE)
    pdf.set_font(FONT, "B", 12)
    outcome = OUTCOMES.get(v.outcome or "")
    pdf.multi_cell(0, 7, _("Decision: {outcome}",
                           outcome=str(outcome or v.outcome or "").upper()), **LINE)
    pdf.set_font(FONT, "", 10)
    totals = v.totals or {}
    pdf.multi_cell(0, 5, " · ".join(f"{word} {totals.get(k, 0)}" for k, word in RESULTS.items()),
                   **LINE)
    pdf.ln(2)
    footer = _footer_height(pdf, page)
    _roll_call(pdf, page.groups, pdf.get_y(), PAGE_H - MARGIN - footer)
    pdf.set_xy(MARGIN, PAGE_H - MARGIN - footer + 3)
    pdf.set_font(FONT, "", 8)
    if text := _conflicts_text(page):
        pdf.multi_cell(0, 4, text, **LINE)
    pdf.multi_cell(0, 4, f"SHA-256: {v.digest or ''}", **LINE)
    pdf.multi_cell(0, 4, doc.link, **LINE)


def build(doc: Document) -> bytes:
    """The PDF's bytes (blocking: call it in a worker thread)."""
    pdf = _pdf(_("Vote results — {heading}", heading=doc.heading), doc.council)
    if not doc.pages:
        pdf.add_page()
        _header(pdf, doc)
        pdf.set_font(FONT, "", 12)
        pdf.ln(6)
        pdf.multi_cell(0, 6, _("No closed votes in this sitting yet."), align="C", **LINE)
    for page in doc.pages:
        _vote_page(pdf, doc, page)
    return bytes(pdf.output())


async def votes_pdf(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    ctx = deps.context()
    sid = sitting_id(request)
    async with deps.store.session() as s:
        sitting = await sittings.get_sitting(s, sid)  # unknown: the 404 page
        views = await domain.sitting_votes(s, sid)
    head = head_id(ctx)
    site = request.app[SITE]
    doc = Document(
        council=ctx.roster.council.name,
        heading=sitting_heading(sitting.kind, sitting.title, sitting.number),
        starts=when(sitting.starts_at, ctx.tz),
        pages=[VotePage(v, by_faction(v.roll_call, head), local(v.opened_at, ctx.tz),
                        local(v.closed_at, ctx.tz)) for v in views if v.status == "closed"],
        link=f"{site.base_url}/sittings/{sid}")
    body = await asyncio.to_thread(build, doc)
    return web.Response(body=body, content_type="application/pdf", headers={
        "Content-Disposition": f'inline; filename="sitting-{sid}-votes.pdf"',
        "Cache-Control": "no-cache"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/sittings/{id}/votes.pdf", votes_pdf)
