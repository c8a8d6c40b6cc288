"""The sittings rules from Ukrainian law trip on the right dates, holidays included."""

from __future__ import annotations

from datetime import date

import pytest

from council.law import holidays
from council.law import rules as law

UA = holidays.load()
NONE = holidays.Holidays(observe=False)


@pytest.mark.parametrize(("announced", "sitting", "warns"), [
    (date(2026, 12, 1), date(2026, 12, 11), False),  # exactly 10 days ahead
    (date(2026, 12, 2), date(2026, 12, 11), True),   # 9 days
    (date(2026, 12, 11), date(2026, 12, 11), True),  # the same day
    (date(2026, 11, 1), date(2026, 12, 11), False),
])
def test_local_self_government_art46_p10_sitting_announced_ten_days_ahead(announced, sitting, warns):
    warning = law.local_self_government_art46_p10(announced, sitting)
    assert (warning is not None) == warns
    if warning:
        assert warning.rule == law.ART46_P10
        # The council's language for the bot; any reader's for the web.
        assert "ст. 46" in warning.text and "art. 46" in warning.render("en")


def test_access_to_public_information_art15_p3_counts_working_days_only():
    # Thursday 17 Dec 2026: ten working days back, over two weekends, is Thursday 3 Dec.
    sitting = date(2026, 12, 17)
    assert law.latest_publication_day(sitting, UA) == date(2026, 12, 3)
    assert law.access_to_public_information_art15_p3(date(2026, 12, 3), sitting, UA) is None
    assert law.access_to_public_information_art15_p3(date(2026, 11, 20), sitting, UA) is None
    late = law.access_to_public_information_art15_p3(date(2026, 12, 4), sitting, UA)
    assert late is not None and late.rule == law.ART15_P3
    assert "03.12.2026" in late.text and "03.12.2026" in late.render("en")


def test_public_holidays_are_not_working_days():
    # Independence Day, Monday 24 Aug 2026: the deadline moves one day earlier than without it.
    sitting = date(2026, 9, 1)  # Tuesday
    assert law.latest_publication_day(sitting, NONE) == date(2026, 8, 18)
    assert law.latest_publication_day(sitting, UA) == date(2026, 8, 17)
    assert law.access_to_public_information_art15_p3(date(2026, 8, 18), sitting, UA) is not None
    assert law.access_to_public_information_art15_p3(date(2026, 8, 18), sitting, NONE) is None


def test_movable_feasts_come_from_the_data_file():
    assert UA.name(date(2026, 4, 12)) == "Великдень"  # Orthodox Easter 2026, a Sunday anyway
    assert UA.name(date(2026, 5, 31)) == "Трійця"
    assert not UA.is_working_day(date(2026, 1, 1))  # Thursday, New Year
    assert UA.is_working_day(date(2026, 1, 7))  # 7 January is no longer a holiday (2023)
    assert not UA.is_working_day(date(2026, 10, 3))  # a Saturday
    # Christmas, Friday 25 Dec 2026, and New Year, Friday 1 Jan 2027, both fall in the count.
    assert law.latest_publication_day(date(2027, 1, 8), UA) == date(2026, 12, 23)
    assert law.latest_publication_day(date(2027, 1, 8), NONE) == date(2026, 12, 25)


def test_the_calendar_is_data_that_can_be_replaced(tmp_path):
    custom = tmp_path / "holidays.yaml"
    custom.write_text('observe_holidays: true\nfixed: {"12-03": Тестове свято}\n', encoding="utf-8")
    cal = holidays.load(custom)
    assert not cal.is_working_day(date(2026, 12, 3))
    assert law.latest_publication_day(date(2026, 12, 17), cal) == date(2026, 12, 2)
    broken = tmp_path / "broken.yaml"
    broken.write_text("fixed: {\"13-45\": x}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="holiday calendar"):
        holidays.load(broken)


def test_warnings_speak_ukrainian_with_plurals_and_english_on_request():
    one_day = law.local_self_government_art46_p10(date(2026, 12, 10), date(2026, 12, 11))
    three = law.local_self_government_art46_p10(date(2026, 12, 8), date(2026, 12, 11))
    assert one_day is not None and three is not None
    assert one_day.text.startswith("⚠️ засідання оголошено за 1 день до його проведення")
    assert "за 3 дні до" in three.text and "/" not in three.text  # one language, not two
    assert three.render("en").startswith("⚠️ the sitting was announced 3 days ahead")
