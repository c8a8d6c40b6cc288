"""Finding deputies: the query is council.directory's fuzzy search (case, apostrophes,
Latin/Cyrillic transliteration, prefixes and near misses; a number or "округ 5" is a district;
words of a faction or commission match too), then exact filters on faction, commission and
district from the form's selects."""

from __future__ import annotations

import re
from collections.abc import Sequence

from council import directory
from council.roster import Deputy, Roster

__all__ = ["filtered", "match", "normalized"]

# Ukrainian writes the apostrophe in many ways (ʼ ’ ' `): none of them should decide a match.
APOSTROPHES = re.compile(r"[\u02bc\u2019\u2018'`\u02b9\u00b4]")
SPACES = re.compile(r"\s+")


def normalized(text: str) -> str:
    return SPACES.sub(" ", APOSTROPHES.sub("", text.casefold())).strip()


def match(roster: Roster, query: str) -> list[Deputy]:
    """Deputies matching the query, the best first (then in roster order); an empty query:
    everyone in roster order. The head and the secretariat are not in this directory."""
    if not query.strip():
        return list(roster.deputies)
    order = {d.id: (n, d) for n, d in enumerate(roster.deputies)}
    # The Matrix id is not searched: no server name is needed to score.
    scored = [(directory.score(e, query), order[e.id]) for e in directory.entries(roster, "")
              if e.role == "deputy" and e.id in order]
    return [d for score, (_, d) in sorted((s for s in scored if s[0] > 0),
                                          key=lambda s: (-s[0], s[1][0]))]


def filtered(found: Sequence[Deputy], faction: str | None, commission: str | None,
             district: int | None) -> list[Deputy]:
    """The exact filters of the form's selects (none given: all of `found`)."""
    want_faction = normalized(faction) if faction else None
    return [d for d in found
            if (want_faction is None or normalized(d.faction or "") == want_faction)
            and (commission is None or commission in d.commissions)
            and (district is None or d.district == district)]
