"""Deadlines of the Law of Ukraine "Про звернення громадян" (citizens' appeals), as pure rules.

- art. 20: an appeal is considered within one month of its receipt; one that needs no extra
  study "невідкладно, але не пізніше п'ятнадцяти днів"; the total term, extensions included,
  may not exceed 45 days, and the citizen is told of an extension.
- art. 5: an appeal that lacks what it must carry is returned to the citizen with the reason
  within 10 days of its receipt.

The term per appeal type is configurable (`appeals.deadline_days`): a number of days or
"month" (a calendar month, the law's wording). Reminders fall 3 days before and on the day.

The dates the law counts are the council's local dates (`sittings.timezone`, Europe/Kyiv): an
appeal registered at 23:30 UTC is received on the next day in Kyiv, winter and summer alike.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Literal
from zoneinfo import ZoneInfo

from council.language import Refusal, Text, plural_text
from council.models import aware, utcnow

MAX_TOTAL_DAYS = 45  # art. 20: the total term may not exceed 45 days
RETURN_INCOMPLETE_DAYS = 10  # art. 5: return of an incomplete appeal, with the reason
REMIND_BEFORE_DAYS = 3
APPEAL_TYPES = ("proposal", "application", "complaint")  # пропозиція, заява (клопотання), скарга

Term = int | Literal["month"]
DEFAULT_TERMS: dict[str, Term] = {"proposal": 15, "application": "month", "complaint": "month"}
COUNCIL_TZ = ZoneInfo("Europe/Kyiv")  # the default of `sittings.timezone`


class DeadlineError(Refusal):
    """An extension the law does not allow: a stable code and a message in any language."""


def local_date(moment: datetime, tz: tzinfo = COUNCIL_TZ) -> date:
    """The council's calendar date of a moment (naive moments from SQLite are UTC)."""
    return aware(moment).astimezone(tz).date()


def local_today(tz: tzinfo = COUNCIL_TZ) -> date:
    return local_date(utcnow(), tz)


def add_month(day: date) -> date:
    """The same day next month; the month's last day when the next month is shorter."""
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def answer_deadline(received: date, appeal_type: str,
                    terms: Mapping[str, Term] = DEFAULT_TERMS) -> date:
    """art. 20: the day by which the appeal must be answered, computed at registration."""
    term = terms.get(appeal_type, "month")
    if term == "month":
        return add_month(received)
    return received + timedelta(days=int(term))


def latest_allowed(received: date) -> date:
    """art. 20: no extension may go beyond 45 days from receipt."""
    return received + timedelta(days=MAX_TOTAL_DAYS)


def extend(received: date, current: date, days: int) -> date:
    """art. 20: the new deadline, or DeadlineError if it would exceed 45 days in total."""
    if days < 1:
        raise DeadlineError("KB_DAYS_NOT_POSITIVE", Text("The number of days must be positive"),
                            "days")
    new = current + timedelta(days=days)
    if new > latest_allowed(received):
        left = (latest_allowed(received) - current).days
        raise DeadlineError("KB_TERM_OVER_45_DAYS", plural_text(
            "The total term may not exceed {max} days (art. 20 of the Law “On Citizens' "
            "Appeals”); it can be extended by at most {n} more day",
            "The total term may not exceed {max} days (art. 20 of the Law “On Citizens' "
            "Appeals”); it can be extended by at most {n} more days",
            max(left, 0), max=MAX_TOTAL_DAYS), "days")
    return new


def return_incomplete_by(received: date) -> date:
    """art. 5: an incomplete appeal is returned, with the reason, by this day."""
    return received + timedelta(days=RETURN_INCOMPLETE_DAYS)


@dataclass(frozen=True)
class Reminder:
    kind: Literal["soon", "today", "overdue"]
    deadline: date


def reminder_due(deadline: date, today: date) -> Reminder | None:
    """Which reminder an open appeal needs today: 3 days before, on the day, or overdue
    (each sent once per deadline and kind; overdue once a day — the caller keys them)."""
    if today > deadline:
        return Reminder("overdue", deadline)
    if today == deadline:
        return Reminder("today", deadline)
    if deadline - timedelta(days=REMIND_BEFORE_DAYS) <= today:
        return Reminder("soon", deadline)
    return None
