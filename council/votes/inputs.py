"""What comes in and the words that go out: majorities, answers, results, the feature's error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from council.language import Refusal, Text
from council.roster import Roster

Majority = Literal["total", "procedural", "two_thirds"]
Answer = Literal["for", "against", "abstain"]
Result = Literal["for", "against", "abstain", "not_voting", "absent", "conflict"]
ANSWERS: tuple[Answer, ...] = ("for", "against", "abstain")
PRESENT = "present"  # the registration ballot's one answer

# The words the bot writes, in any language (`.render(lang)`); the web renders them in the
# reader's language.
ANSWER_LABELS: dict[str, Text] = {"for": Text("For"), "against": Text("Against"),
                                  "abstain": Text("Abstain"), PRESENT: Text("Present")}
RESULTS: dict[str, Text] = {"for": Text("For"), "against": Text("Against"),
                            "abstain": Text("Abstained"), "not_voting": Text("Did not vote"),
                            "absent": Text("Absent"), "conflict": Text("Conflict of interest")}
OUTCOMES: dict[str, Text] = {"adopted": Text("adopted"), "rejected": Text("not adopted")}
MAJORITIES: dict[str, Text] = {
    "total": Text("majority of the total composition"),
    "procedural": Text("majority of those registered (procedural)"),
    "two_thirds": Text("two thirds of the total composition"),
}
# The same in Ukrainian and in English, for the web until it renders the maps above.
RESULT_UK = {k: t.render("uk") for k, t in RESULTS.items()}
RESULT_EN = {k: t.render("en") for k, t in RESULTS.items()}
OUTCOME_UK = {k: t.render("uk") for k, t in OUTCOMES.items()}
OUTCOME_EN = {k: t.render("en") for k, t in OUTCOMES.items()}
MAJORITY_UK = {k: t.render("uk") for k, t in MAJORITIES.items()}
MAJORITY_EN = {k: t.render("en") for k, t in MAJORITIES.items()}
# Words a chair may type after `!vote <item>`: Ukrainian and English.
MAJORITY_WORDS: dict[str, Majority] = {
    "total": "total", "загальна": "total", "більшість": "total",
    "procedural": "procedural", "процедурне": "procedural", "процедурна": "procedural",
    "two-thirds": "two_thirds", "two_thirds": "two_thirds", "2/3": "two_thirds",
    "дві-третини": "two_thirds",
}
SECRET_WORDS = frozenset({"secret", "таємне", "таємна", "таємне-голосування"})
MIN_DURATION, MAX_DURATION = 15, 24 * 3600


class VoteError(Refusal):
    """Refused: a stable code, the message (`Text`), the field at fault. No HTTP status: the
    web maps codes to answers in one table (web.errors)."""


@dataclass(frozen=True)
class Context:
    """The votes domain's view of the installation (built afresh: the roster may change)."""

    roster: Roster
    server_name: str
    tz: ZoneInfo
    base_url: str = ""  # the web site, for links in results and open data


@dataclass(frozen=True)
class Actor:
    """Who asks: a Matrix id (bot commands), or `cli`/`api` (the secretariat's tools, trusted)."""

    label: str
    mxid: str | None = None

    @classmethod
    def staff_tool(cls, label: str) -> Actor:
        return cls(label)

    @classmethod
    def matrix(cls, mxid: str) -> Actor:
        return cls(mxid, mxid)


class OpenVote(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    item: str = Field(min_length=1, max_length=32, description="The agenda item's number")
    majority: Majority | None = Field(None, description="Default: the item's, else `total`")
    duration: int | None = Field(None, ge=MIN_DURATION, le=MAX_DURATION,
                                 description="Seconds until the vote closes by itself")


class NewAbsence(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    member: str = Field(min_length=1, max_length=64, description="Roster id of the member")
    reason: str = Field(min_length=2, max_length=500)


class NewConflict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    item: str = Field(min_length=1, max_length=32, description="The agenda item's number")
    member: str = Field(min_length=1, max_length=64, description="Roster id of the member")
    text: str = Field(min_length=3, max_length=1000, description="The declaration")
