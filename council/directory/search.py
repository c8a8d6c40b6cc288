"""Who is who: a pure search over the roster (deputies, the head, the secretariat).

A query is compared in Latin letters on both sides (`translit`), so Ткачук, ткачук and
Tkachuk find the same person. It matches name words (a prefix of two letters or more is
enough; a word with `difflib` ratio ≥ 0.8 is a fuzzy match), a faction, a district ("округ 5",
"5") and a commission (its id or words of its name). Exact matches rank above prefixes, and
prefixes above fuzzy matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from council.directory import translit
from council.language import _
from council.roster import Contacts, Roster

EXACT, PREFIX, FUZZY = 3, 2, 1
FUZZY_RATIO = 0.8
MIN_PREFIX = 2
_DISTRICT = re.compile(r"(?:округ|district|okruh|о\.)?\s*№?\s*([0-9]{1,3})")


@dataclass(frozen=True)
class Entry:
    """One person of the directory, as the roster says."""

    id: str
    mxid: str
    name: str
    role: str  # "deputy" | "head" | "staff"
    position: str  # a deputy's in the council's language; the head's and staff's as the roster says
    faction: str | None = None
    district: int | None = None
    commissions: tuple[str, ...] = ()  # commission names
    contacts: Contacts = field(default_factory=Contacts)

    @property
    def link(self) -> str:
        return f"https://matrix.to/#/{self.mxid}"


@dataclass(frozen=True)
class Match:
    entry: Entry
    score: int  # EXACT, PREFIX or FUZZY


def entries(roster: Roster, server_name: str) -> list[Entry]:
    """Everyone in the directory: deputies, the head, the secretariat (roster order)."""
    names = {c.id: c.name for c in roster.commissions}
    deputy = _("Deputy of the city council")
    found = [Entry(d.id, d.mxid(server_name), d.name, "deputy", deputy, d.faction, d.district,
                   tuple(names[c] for c in d.commissions if c in names), d.contacts)
             for d in roster.deputies]
    if roster.head is not None:
        found.append(Entry(roster.head.id, roster.head.mxid(server_name), roster.head.name, "head",
                           roster.head.position))
    found += [Entry(s.id, s.mxid(server_name), s.name, "staff", s.position) for s in roster.secretariat]
    return found


def _word_score(query: str, candidates: frozenset[str]) -> int:
    best = 0
    for c in candidates:
        if query == c:
            return EXACT
        if len(query) >= MIN_PREFIX and c.startswith(query):
            best = max(best, PREFIX)
        elif best < FUZZY and SequenceMatcher(None, query, c).ratio() >= FUZZY_RATIO:
            best = FUZZY
    return best


def _query_words(query: str) -> list[frozenset[str]]:
    """Each query word in its Latin spellings (a Latin word is taken as typed)."""
    return [translit.variants(w) if translit.has_cyrillic(w) else frozenset({w})
            for w in translit.words(query)]


def _words_score(query: list[frozenset[str]], text_words: list[frozenset[str]]) -> int:
    """Every query word must match some word of the text; the weakest match counts."""
    if not query or not text_words:
        return 0
    total = EXACT
    for spellings in query:
        best = max((_word_score(q, frozenset().union(*text_words)) for q in spellings), default=0)
        # A word is matched against the union of the text's spellings: order does not matter.
        total = min(total, best)
        if total == 0:
            return 0
    return total


def _spellings(text: str, *, shortest: int = 1) -> list[frozenset[str]]:
    return [translit.variants(w) for w in translit.words(text) if len(w) >= shortest]


def score(entry: Entry, query: str) -> int:
    """How well the entry matches the query: EXACT, PREFIX, FUZZY or 0."""
    district = _DISTRICT.fullmatch(translit.fold(query).strip())
    if district is not None:
        return EXACT if entry.district == int(district[1]) else 0
    q = _query_words(query)
    best = _words_score(q, _spellings(entry.name) + _spellings(entry.id))
    # A faction, a commission or a staff position matches exactly or by prefix, never fuzzily:
    # their many long words would otherwise catch names ("мельник" ~ "земельних").
    phrases = [entry.faction or "", *entry.commissions]
    if entry.role != "deputy":
        phrases.append(entry.position)
    folded = translit.fold(" ".join(translit.words(query)))
    for phrase in filter(None, phrases):
        if folded == translit.fold(" ".join(translit.words(phrase))):
            return EXACT
        hit = _words_score(q, _spellings(phrase, shortest=3))
        best = max(best, PREFIX if hit >= PREFIX else 0)
    return best


def search(roster: Roster, server_name: str, query: str, *, limit: int = 20) -> list[Match]:
    """The best matches first (then in alphabetical order); empty if the query names nobody."""
    found = [Match(e, s) for e in entries(roster, server_name) if (s := score(e, query)) > 0]
    found.sort(key=lambda m: (-m.score, m.entry.name))
    return found[:limit]


def best(matches: list[Match]) -> list[Match]:
    """The matches of the top score only: one of them is the person meant, if just one."""
    if not matches:
        return []
    top = matches[0].score
    return [m for m in matches if m.score == top]


@dataclass(frozen=True)
class Context:
    """The directory's view of the installation (read afresh: the roster may change)."""

    roster: Roster
    server_name: str

    def member(self, mxid: str) -> bool:
        """Is this a council account: a deputy, the head or the secretariat?"""
        return mxid in self.roster.people_by_mxid(self.server_name)
