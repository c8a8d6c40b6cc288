"""The sittings rules from Ukrainian law, each named after its article (see DESIGN.md).

They warn; they never block: a council may have a lawful reason (an extraordinary
session can be called a day ahead), and the secretariat decides. Each rule returns
None when satisfied, or a LawWarning whose message is a `Text`: the bot says it in the
council's language (`warning.text`), the web in its reader's (`warning.render(language)`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from council.language import Text, day, plural_text
from council.law.holidays import Holidays

ANNOUNCE_DAYS = 10  # Law "Про місцеве самоврядування в Україні", art. 46 p.10
PUBLISH_WORKING_DAYS = 10  # Law "Про доступ до публічної інформації", art. 15 p.3

ART46_P10 = "local_self_government_art46_p10"
ART15_P3 = "access_to_public_information_art15_p3"


@dataclass(frozen=True)
class LawWarning:
    rule: str
    message: Text

    def render(self, language: str | None = None) -> str:
        """The warning in `language` (the council's if None), flagged."""
        return f"⚠️ {self.message.render(language)}"

    @property
    def text(self) -> str:
        """The warning in the council's language, as the bot posts it."""
        return self.render()


def local_self_government_art46_p10(announced: date, sitting: date) -> LawWarning | None:
    """A sitting is announced at least 10 days before it is held (art. 46 p.10; exceptionally
    1 day — that exception is the secretariat's call, so it is flagged, not refused)."""
    days = (sitting - announced).days
    if days >= ANNOUNCE_DAYS:
        return None
    return LawWarning(ART46_P10, plural_text(
        "the sitting was announced {n} day ahead; the law requires at least {required} days "
        "(Law “On Local Self-Government in Ukraine”, art. 46 p. 10)",
        "the sitting was announced {n} days ahead; the law requires at least {required} days "
        "(Law “On Local Self-Government in Ukraine”, art. 46 p. 10)",
        max(days, 0), required=ANNOUNCE_DAYS))


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
    return LawWarning(ART15_P3, Text(
        "the draft was published on {published}, less than {required} working days before "
        "consideration (latest day {limit}; Law “On Access to Public Information”, art. 15 p. 3)",
        published=day(published), required=PUBLISH_WORKING_DAYS, limit=day(limit)))
