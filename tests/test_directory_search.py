"""The directory's pure parts: transliteration (KMU 2010), the fuzzy search over the roster, the
contact card and the pinned directory's text and digest (tests/test_help.py: `!допомога`). No
homeserver, no store."""

from __future__ import annotations

from typing import Any

import pytest

from council import directory
from council.directory import translit
from council.roster import Roster, parse_roster

SERVER = "localhost"
DATA: dict[str, Any] = {
    "council": {"name": "Тестова міська рада"},
    "commissions": [{"id": "budget", "name": "Постійна комісія з питань бюджету та фінансів"},
                    {"id": "land", "name": "Постійна комісія з питань земельних відносин"}],
    "deputies": [
        {"id": "tkachuk", "name": "Ткачук Олег Васильович", "faction": "Громада міста",
         "district": 1, "commissions": ["budget"],
         "contacts": {"email": "tkachuk@example.org", "phone": "+380 342 55 10 17"}},
        {"id": "melnyk-o", "name": "Мельник Оксана Богданівна", "faction": "Рух за розвиток",
         "district": 5, "commissions": ["land"]},
        {"id": "melnyk-i", "name": "Мельник Ігор Степанович", "district": 5},
        {"id": "piatnychuk", "name": "П'ятничук Юрій Євгенович", "faction": "Громада міста",
         "district": 12},
        {"id": "shcherbak", "name": "Щербак Жанна Харитонівна", "faction": "Рух за розвиток"},
    ],
    "head": {"id": "holova", "name": "Левицький Роман Ігорович"},
    "secretariat": [{"id": "clerk", "name": "Секретаренко Ольга Петрівна"}],
}
ROSTER = parse_roster(DATA)


def names(query: str, roster: Roster = ROSTER) -> list[str]:
    return [m.entry.id for m in directory.search(roster, SERVER, query)]


@pytest.mark.parametrize(("cyrillic", "latin"), [
    ("ткачук", "tkachuk"), ("шевчук", "shevchuk"), ("щербак", "shcherbak"), ("жанна", "zhanna"),
    ("харитонівна", "kharytonivna"), ("цюпа", "tsiupa"), ("юрій", "yurii"), ("яків", "yakiv"),
    ("євген", "yevhen"), ("їжак", "yizhak"), ("йосип", "yosyp"), ("гнатюк", "hnatiuk"),
    ("ґудзь", "gudz"), ("згорани", "zghorany"), ("київ", "kyiv"), ("пятничук", "piatnychuk"),
])
def test_ukrainian_is_transliterated_with_the_official_kmu_2010_table(cyrillic: str, latin: str):
    assert translit.to_latin(cyrillic) == latin


def test_inner_forms_of_ye_yi_y_yu_ya_are_matched_at_the_start_too():
    assert translit.variants("юрій") == {"yurii", "iurii"}
    assert translit.variants("яків") == {"yakiv", "iakiv"}


def test_who_finds_a_colleague_by_a_transliterated_name_in_any_case():
    assert names("Tkachuk") == ["tkachuk"]
    assert names("ТКАЧУК") == ["tkachuk"]
    assert names("tkach") == ["tkachuk"]  # a prefix is enough


def test_apostrophes_of_every_kind_are_forgiven():
    for spelling in ("П'ятничук", "П’ятничук", "Пʼятничук", "Пятничук", "Piatnychuk", "P'iatnychuk"):
        assert names(spelling) == ["piatnychuk"], spelling


def test_either_spelling_of_a_word_initial_letter_is_found():
    assert names("Iurii") == names("Yurii") == names("Юрій") == ["piatnychuk"]


def test_a_typo_is_a_fuzzy_match_ranked_below_exact_and_prefix():
    assert names("Tkachuck") == ["tkachuk"]
    found = directory.search(ROSTER, SERVER, "Tkachuck")
    assert found[0].score == directory.FUZZY
    assert directory.search(ROSTER, SERVER, "Ткачук")[0].score == directory.EXACT


def test_two_people_of_one_surname_are_both_found_and_a_first_name_tells_them_apart():
    assert names("Мельник") == ["melnyk-i", "melnyk-o"]
    assert names("Мельник Оксана") == ["melnyk-o"]
    assert names("oksana melnyk") == ["melnyk-o"]


def test_a_faction_a_district_and_a_commission_are_found():
    assert set(names("Громада міста")) == {"tkachuk", "piatnychuk"}
    assert set(names("округ 5")) == set(names("5")) == {"melnyk-o", "melnyk-i"}
    assert names("бюджет") == ["tkachuk"]
    assert names("секретаріат") == ["clerk"]


def test_long_commission_names_do_not_catch_names_fuzzily():
    # "мельник" is close to "земельних" (the land commission), which must not count.
    assert names("Мельник") == ["melnyk-i", "melnyk-o"]


def test_nobody_is_found_for_a_name_not_in_the_roster():
    assert names("Шевченко") == []


def test_a_contact_card_has_everything_the_roster_says_and_a_matrix_to_link():
    entry = directory.search(ROSTER, SERVER, "Tkachuk")[0].entry
    text = directory.card(entry)
    for part in ("Ткачук Олег Васильович", "Депутат міської ради", "Громада міста", "округ № 1",
                 "бюджету та фінансів", "tkachuk@example.org", "+380 342 55 10 17",
                 "https://matrix.to/#/@tkachuk:localhost"):
        assert part in text, part


def directory_text(roster: Roster) -> dict[str, Any]:
    return directory.directory_content(roster, directory.entries(roster, SERVER))


def test_the_pinned_directory_is_grouped_by_faction_and_its_digest_follows_its_text():
    content = directory_text(ROSTER)
    body = content["body"]
    assert body.index("Фракція «Громада міста» (2)") < body.index("Фракція «Рух за розвиток» (2)") \
        < body.index("Позафракційні (1)") < body.index("Міський голова") < body.index("Секретаріат")
    assert 'href="https://matrix.to/#/@tkachuk:localhost"' in content["formatted_body"]
    assert directory.digest(content) == directory.digest(directory_text(parse_roster(DATA)))
    moved = {**DATA, "deputies": [{**DATA["deputies"][2], "faction": "Громада міста"},
                                  *DATA["deputies"][:2], *DATA["deputies"][3:]]}
    assert directory.digest(directory_text(parse_roster(moved))) != directory.digest(content)



def test_the_card_and_the_directory_in_english(english: None) -> None:
    entry = directory.search(ROSTER, SERVER, "Tkachuk")[0].entry
    text = directory.card(entry)
    assert "Deputy of the city council" in text and "Faction «Громада міста», district 1" in text
    assert "Commissions: Постійна комісія з питань бюджету" in text
    body = directory_text(ROSTER)["body"]
    assert body.startswith("📇 Directory: Тестова міська рада")
    assert "Independent (1):" in body and "City head (1):" in body and "!dm <name>" in body
