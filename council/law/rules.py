"""The sittings rules from Ukrainian law, each named after its article (see DESIGN.md).

They warn; they never block: a council may have a lawful reason (an extraordinary
session can be called a day ahead), and the secretariat decides. Each rule returns
None when satisfied, or a LawWarning with a bilingual message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from council.law.holidays import Holidays

ANNOUNCE_DAYS = 10  # Law "Про місцеве самоврядування в Україні", art. 46 p.10
PUBLISH_WORKING_DAYS = 10  # Law "Про доступ до публічної інформації", art. 15 p.3

ART46_P10 = "local_self_government_art46_p10"
ART15_P3 = "access_to_public_information_art15_p3"


@dataclass(frozen=True)
class LawWarning:
    rule: str
    message_uk: str
    message_en: str

    @property
    def text(self) -> str:
        return f"⚠️ {self.message_uk} / {self.message_en}"


def local_self_government_art46_p10(announced: date, sitting: date) -> LawWarning | None:
    """A sitting is announced at least 10 days before it is held (art. 46 p.10; exceptionally
    1 day — that exception is the secretariat's call, so it is flagged, not refused)."""
    days = (sitting - announced).days
    if days >= ANNOUNCE_DAYS:
        return None
    return LawWarning(
        ART46_P10,
        f"засідання оголошено за {max(days, 0)} дн. до його проведення; закон вимагає не "
        f"пізніше ніж за {ANNOUNCE_DAYS} днів (ст. 46 ч. 10 Закону «Про місцеве самоврядування "
        f"в Україні»)",
        f"the sitting was announced {max(days, 0)} days ahead; the law requires at least "
        f"{ANNOUNCE_DAYS} days (Local Self-Government Law, art. 46 p.10)")


def latest_publication_day(sitting: date, holidays: Holidays,
                           working_days: int = PUBLISH_WORKING_DAYS) -> date:
    """The last day a draft may be published: the `working_days`-th working day before the day
    of consideration (that day itself not counted), stepping back over weekends and holidays."""
    day, counted = sitting, 0
    while counted < working_days:
        day -= timedelta(days=1)
        if holidays.is_working_day(day):
            counted += 1
    return day


def access_to_public_information_art15_p3(published: date, sitting: date, holidays: Holidays
                                          ) -> LawWarning | None:
    """Draft decisions are published at least 10 working days before their consideration
    (art. 15 p.3). Counting: the publication day may be no later than the 10th working day
    before the day of consideration; weekends and public holidays are not working days."""
    limit = latest_publication_day(sitting, holidays)
    if published <= limit:
        return None
    return LawWarning(
        ART15_P3,
        f"проєкт оприлюднено {published:%d.%m.%Y}, пізніше ніж за {PUBLISH_WORKING_DAYS} робочих "
        f"днів до розгляду (останній день — {limit:%d.%m.%Y}; ст. 15 ч. 3 Закону «Про доступ до "
        f"публічної інформації»)",
        f"the draft was published on {published:%Y-%m-%d}, less than {PUBLISH_WORKING_DAYS} "
        f"working days before consideration (latest day {limit:%Y-%m-%d}; Access to Public "
        f"Information Law, art. 15 p.3)")
