"""What comes in and the words that go out: majorities, answers, results, the feature's error."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from council.roster import Roster

Majority = Literal["total", "procedural", "two_thirds"]
Answer = Literal["for", "against", "abstain"]
Result = Literal["for", "against", "abstain", "not_voting", "absent", "conflict"]
ANSWERS: tuple[Answer, ...] = ("for", "against", "abstain")
PRESENT = "present"  # the registration ballot's one answer

ANSWER_UK: dict[str, str] = {"for": "За", "against": "Проти", "abstain": "Утримався",
                             PRESENT: "Присутній"}
RESULT_UK: dict[str, str] = {"for": "За", "against": "Проти", "abstain": "Утримався",
                             "not_voting": "Не голосував", "absent": "Відсутній",
                             "conflict": "Конфлікт інтересів"}
RESULT_EN: dict[str, str] = {"for": "For", "against": "Against", "abstain": "Abstained",
                             "not_voting": "Did not vote", "absent": "Absent",
                             "conflict": "Conflict of interest"}
OUTCOME_UK = {"adopted": "прийнято", "rejected": "не прийнято"}
OUTCOME_EN = {"adopted": "adopted", "rejected": "not adopted"}
MAJORITY_UK: dict[str, str] = {
    "total": "більшість від загального складу",
    "procedural": "більшість від зареєстрованих (процедурне)",
    "two_thirds": "дві третини від загального складу",
}
MAJORITY_EN: dict[str, str] = {
    "total": "majority of the total composition",
    "procedural": "majority of those registered (procedural)",
    "two_thirds": "two thirds of the total composition",
}
# Words a chair may type after `!vote <item>`: Ukrainian and English.
MAJORITY_WORDS: dict[str, Majority] = {
    "total": "total", "загальна": "total", "більшість": "total",
    "procedural": "procedural", "процедурне": "procedural", "процедурна": "procedural",
    "two-thirds": "two_thirds", "two_thirds": "two_thirds", "2/3": "two_thirds",
    "дві-третини": "two_thirds",
}
SECRET_WORDS = frozenset({"secret", "таємне", "таємна", "таємне-голосування"})
MIN_DURATION, MAX_DURATION = 15, 24 * 3600


class VoteError(ValueError):
    """Refused: a stable code, a bilingual message, the field at fault. No HTTP status: the web
    maps codes to answers in one table (web.errors)."""

    def __init__(self, code: str, uk: str, en: str, field_name: str | None = None) -> None:
        self.code, self.uk, self.en, self.field = code, uk, en, field_name
        super().__init__(f"{uk} / {en}")


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
