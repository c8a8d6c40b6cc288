"""Demo sittings for `make run`: an upcoming plenary session and a budget commission sitting,
with small draft decisions as real PDFs in Ukrainian, generated here (fpdf2 with the Roboto
font shipped by the font-roboto package: nothing to install by hand).

Idempotent: sittings carry an external key, drafts are added only when their number is not
on the agenda yet, and the PDFs are byte-for-byte reproducible (fixed creation date).
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import font_roboto
from fpdf import FPDF
from sqlalchemy import select

from council import sittings as domain

if TYPE_CHECKING:
    from kabinet.core import Core

FONT_DIR = Path(font_roboto.__file__).with_name("files")
FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)

# (number, title, initiator, commission, paragraphs)
PLENARY = [
    ("1", "Про затвердження Програми розвитку громадського транспорту на 2027–2029 роки",
     "Департамент транспорту та зв'язку", "urban",
     ["Керуючись статтею 26 Закону України «Про місцеве самоврядування в Україні», з метою "
      "оновлення рухомого складу та підвищення якості перевезень пасажирів міська рада вирішила:",
      "1. Затвердити Програму розвитку громадського транспорту на 2027–2029 роки (додається).",
      "2. Фінансовому управлінню передбачати кошти на виконання Програми в межах бюджету громади.",
      "3. Контроль за виконанням рішення покласти на постійну комісію з питань містобудування."]),
    ("2", "Про внесення змін до бюджету міської територіальної громади на 2027 рік",
     "Фінансове управління", "budget",
     ["Відповідно до статті 78 Бюджетного кодексу України міська рада вирішила:",
      "1. Збільшити видаткову частину загального фонду бюджету на 12 500 000 гривень за рахунок "
      "перевиконання дохідної частини.",
      "2. Спрямувати кошти на капітальний ремонт закладів освіти та облаштування укриттів.",
      "3. Контроль покласти на постійну комісію з питань бюджету та фінансів."]),
    ("3", "Про затвердження Положення про конкурс «Громадський бюджет»",
     "Депутат міської ради Ткачук О. В.", "regulations",
     ["З метою залучення мешканців громади до бюджетного процесу міська рада вирішила:",
      "1. Затвердити Положення про конкурс «Громадський бюджет» (додається).",
      "2. Визнати таким, що втратило чинність, рішення міської ради від 15.03.2021 № 412."]),
    ("4", "Про найменування скверу на вулиці Незалежності",
     "Комісія з питань найменувань", "education",
     ["Враховуючи звернення мешканців та висновок комісії з питань найменувань, міська рада "
      "вирішила:", "1. Надати скверу на вулиці Незалежності назву «Сквер Героїв-захисників»."]),
]
COMMISSION = [
    ("К-1", "Про розгляд звіту про виконання бюджету за дев'ять місяців",
     "Фінансове управління", "budget",
     ["Заслухавши інформацію начальника фінансового управління, комісія вирішила:",
      "1. Інформацію взяти до відома.", "2. Рекомендувати міській раді затвердити звіт."]),
    ("К-2", "Про пропозиції до проєкту бюджету на 2027 рік", "Члени комісії", "budget",
     ["Комісія вирішила подати пропозиції до проєкту бюджету громади на 2027 рік (додаються)."]),
]


def draft_pdf(number: str, title: str, initiator: str, paragraphs: list[str], *,
              council: str = "Міська рада", pages: int = 1) -> bytes:
    """A small draft decision as a PDF with an embedded Cyrillic font."""
    pdf = FPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(f"Проєкт рішення № {number}")
    pdf.add_font("Roboto", "", str(FONT_DIR / "Roboto-Regular.ttf"))
    pdf.add_font("Roboto", "B", str(FONT_DIR / "Roboto-Bold.ttf"))
    line: dict[str, Any] = {"new_x": "LMARGIN", "new_y": "NEXT"}  # each paragraph at the margin
    for page in range(pages):
        pdf.add_page()
        pdf.set_font("Roboto", "B", 13)
        pdf.multi_cell(0, 7, council.upper(), align="C", **line)
        pdf.ln(2)
        pdf.multi_cell(0, 7, f"ПРОЄКТ РІШЕННЯ № {number}", align="C", **line)
        pdf.ln(4)
        pdf.multi_cell(0, 7, title, **line)
        pdf.ln(3)
        pdf.set_font("Roboto", "", 12)
        for text in paragraphs:
            pdf.multi_cell(0, 6.5, text, **line)
            pdf.ln(2)
        pdf.ln(6)
        pdf.multi_cell(0, 6, f"Ініціатор: {initiator}", **line)
        if pages > 1:
            pdf.multi_cell(0, 6, f"Сторінка {page + 1} з {pages}", align="R", **line)
    return bytes(pdf.output())


async def _seed_one(core: Core, ctx: domain.Context, key: str, spec: domain.NewSitting,
                    drafts: list) -> None:
    council = core.roster.council.name
    async with core.store.session() as s:
        sitting, _ = await domain.create_sitting(s, ctx, spec)
        have = set((await s.scalars(select(domain.AgendaItem.number)
                                    .where(domain.AgendaItem.sitting_id == sitting.id))).all())
        commissions = {c.id for c in ctx.roster.commissions}
        todo = []
        for number, title, initiator, commission, paragraphs in drafts:
            if number in have:
                continue
            data = draft_pdf(number, title, initiator, paragraphs, council=council,
                             pages=2 if number == "2" else 1)
            todo.append((domain.NewDraft(number=number, title=title, initiator=initiator,
                                         commission=commission if commission in commissions else None),
                         domain.prepare_file(ctx, data, f"proekt-rishennia-{number}.pdf")))
        if todo:
            await domain.add_drafts(s, ctx, sitting.id, todo, source="demo")


async def seed(core: Core, ctx: domain.Context) -> None:
    """Store the demo sittings (their rooms and announcements follow once the workers look)."""
    today = datetime.now(ctx.tz).date()
    at = lambda days, hour: datetime.combine(today + timedelta(days=days), time(hour), ctx.tz)  # noqa: E731
    await _seed_one(core, ctx, "demo:plenary", domain.NewSitting(
        kind="plenary", number="42", title="Сорок друга сесія міської ради", starts_at=at(21, 10),
        place="Сесійна зала, вул. Грушевського, 21", external_key="demo:plenary"), PLENARY)
    if any(c.id == "budget" for c in ctx.roster.commissions):
        # Six days ahead on purpose: the demo shows how the law checks warn.
        await _seed_one(core, ctx, "demo:budget", domain.NewSitting(
            kind="commission", body="budget", title="Засідання комісії з питань бюджету",
            starts_at=at(6, 15), place="Каб. 305", external_key="demo:budget"), COMMISSION)
