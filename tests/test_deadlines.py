"""The art. 20 / art. 5 rules of the Law "Про звернення громадян", without a database."""

from __future__ import annotations

from datetime import date

import pytest

from council.law import deadlines
from council.law.deadlines import DeadlineError


def test_art20_a_month_by_default_and_15_days_for_what_needs_no_extra_study():
    received = date(2026, 3, 10)
    assert deadlines.answer_deadline(received, "application") == date(2026, 4, 10)
    assert deadlines.answer_deadline(received, "complaint") == date(2026, 4, 10)
    assert deadlines.answer_deadline(received, "proposal") == date(2026, 3, 25)


def test_art20_a_month_from_the_31st_ends_on_the_last_day_of_a_shorter_month():
    assert deadlines.answer_deadline(date(2026, 1, 31), "application") == date(2026, 2, 28)
    assert deadlines.answer_deadline(date(2028, 1, 31), "application") == date(2028, 2, 29)
    assert deadlines.answer_deadline(date(2026, 12, 15), "application") == date(2027, 1, 15)


def test_the_term_per_type_is_configurable():
    terms = {"proposal": 10, "application": 20, "complaint": "month"}
    assert deadlines.answer_deadline(date(2026, 5, 1), "proposal", terms) == date(2026, 5, 11)
    assert deadlines.answer_deadline(date(2026, 5, 1), "application", terms) == date(2026, 5, 21)


def test_art20_extension_is_allowed_up_to_45_days_in_total_and_refused_beyond():
    received = date(2026, 3, 1)
    due = deadlines.answer_deadline(received, "application")  # 1 April: 31 days
    assert deadlines.extend(received, due, 14) == date(2026, 4, 15)  # day 45
    with pytest.raises(DeadlineError, match="45") as refused:
        deadlines.extend(received, due, 15)  # day 46
    assert refused.value.code == "KB_TERM_OVER_45_DAYS" and refused.value.field == "days"
    assert str(refused.value).endswith("щонайбільше на 14 днів")  # the council's language
    assert refused.value.text("en").endswith("at most 14 more days")
    twice = deadlines.extend(received, deadlines.extend(received, due, 10), 4)
    assert twice == date(2026, 4, 15)
    with pytest.raises(DeadlineError):
        deadlines.extend(received, twice, 1)
    with pytest.raises(DeadlineError):
        deadlines.extend(received, due, 0)


def test_art5_an_incomplete_appeal_is_returned_within_10_days():
    assert deadlines.return_incomplete_by(date(2026, 3, 25)) == date(2026, 4, 4)


@pytest.mark.parametrize(("today", "kind"), [
    (date(2026, 4, 6), None), (date(2026, 4, 7), "soon"), (date(2026, 4, 9), "soon"),
    (date(2026, 4, 10), "today"), (date(2026, 4, 11), "overdue")])
def test_reminders_fall_3_days_before_on_the_day_and_after(today, kind):
    due = deadlines.reminder_due(date(2026, 4, 10), today)
    assert (due.kind if due else None) == kind
