"""The roster: who is in the council, which commissions and bodies exist.

The roster file is the single source of truth for everything the appservice
provisions. Loading is strict: unknown keys, duplicate ids, dangling references
and malformed Matrix ids are rejected with a message naming the file, the entry
and the problem, so that nothing is ever applied from a half-valid roster.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
MXID_RE = re.compile(r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(:[0-9]{1,5})?$")

RosterId = Annotated[str, Field(pattern=ID_PATTERN)]


class RosterError(ValueError):
    """An invalid roster; `problems` holds one human-readable line per problem."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: the roster is invalid, nothing was applied:\n{lines}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Contacts(_Strict):
    """Public contacts of a deputy (shown in the directory)."""

    email: str | None = None
    phone: str | None = None
    reception: str | None = Field(None, description="Reception hours and place")


class Person(_Strict):
    id: RosterId
    name: str = Field(min_length=3, max_length=200)
    matrix_id: str | None = Field(None, description="Full MXID; default @<id>:<server>")
    password: str | None = Field(
        None, min_length=8, description="Used only to create the account on the embedded homeserver"
    )

    @field_validator("matrix_id")
    @classmethod
    def _mxid(cls, value: str | None) -> str | None:
        if value is not None and not MXID_RE.match(value):
            raise ValueError(f"malformed Matrix id {value!r} (expected @localpart:server)")
        return value

    def mxid(self, server_name: str) -> str:
        return self.matrix_id or f"@{self.id}:{server_name}"


class Deputy(Person):
    faction: str | None = None
    district: int | None = Field(None, ge=1, le=999, description="Electoral district number")
    commissions: tuple[RosterId, ...] = ()
    contacts: Contacts = Contacts()


class StaffMember(Person):
    position: str = Field("Секретаріат міської ради", max_length=200)


class Commission(_Strict):
    id: RosterId
    name: str = Field(min_length=3, max_length=255)
    chair: RosterId | None = None


class Body(_Strict):
    """A body that holds sittings: the council itself or the executive committee."""

    id: RosterId
    kind: Literal["council", "executive_committee"]
    name: str = Field(min_length=3, max_length=255)
    members: tuple[RosterId, ...] = Field(
        (), description="For the executive committee: deputy or staff ids. The council: all deputies."
    )


class CouncilInfo(_Strict):
    name: str = Field(min_length=3, max_length=255)
    short_name: str | None = Field(None, max_length=64)
    city: str | None = None
    total_seats: int | None = Field(
        None, ge=1, le=1000, description="Total composition (for the quorum); default: deputies listed"
    )


class Roster(_Strict):
    council: CouncilInfo
    bodies: tuple[Body, ...] = ()
    commissions: tuple[Commission, ...] = ()
    deputies: tuple[Deputy, ...] = Field(min_length=1)
    secretariat: tuple[StaffMember, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Roster:
        problems: list[str] = []
        _unique("deputies/secretariat", [p.id for p in (*self.deputies, *self.secretariat)], problems)
        _unique("commissions", [c.id for c in self.commissions], problems)
        _unique("bodies", [b.id for b in self.bodies], problems)
        mxids = [p.matrix_id for p in (*self.deputies, *self.secretariat) if p.matrix_id]
        _unique("matrix_id", mxids, problems)
        commission_ids = {c.id for c in self.commissions}
        deputies = {d.id: d for d in self.deputies}
        people = deputies.keys() | {s.id for s in self.secretariat}
        for d in self.deputies:
            for cid in d.commissions:
                if cid not in commission_ids:
                    problems.append(f"deputy {d.id!r}: unknown commission {cid!r}")
        for c in self.commissions:
            if c.chair is None:
                continue
            chair = deputies.get(c.chair)
            if chair is None:
                problems.append(f"commission {c.id!r}: chair {c.chair!r} is not a deputy")
            elif c.id not in chair.commissions:
                problems.append(f"commission {c.id!r}: chair {c.chair!r} is not a member of it")
        for b in self.bodies:
            for m in b.members:
                if m not in people:
                    problems.append(f"body {b.id!r}: unknown member {m!r}")
        if sum(1 for b in self.bodies if b.kind == "council") > 1:
            problems.append("bodies: more than one body of kind 'council'")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def body_members(self, body: Body) -> tuple[str, ...]:
        if body.kind == "council":
            return tuple(d.id for d in self.deputies)
        return body.members

    def commission_members(self, commission_id: str) -> tuple[str, ...]:
        return tuple(d.id for d in self.deputies if commission_id in d.commissions)

    def secretariat_mxids(self, server_name: str) -> frozenset[str]:
        """The secretariat's Matrix ids: the one list of who is staff in every room."""
        return frozenset(s.mxid(server_name) for s in self.secretariat)

    @property
    def seats(self) -> int:
        return self.council.total_seats or len(self.deputies)


def _unique(what: str, ids: list[str], problems: list[str]) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            problems.append(f"{what}: duplicate id {i!r}")
        seen.add(i)


def _location(roster_data: object, loc: tuple[int | str, ...]) -> str:
    """Name an entry by its id where it has one: `deputies[3] (id 'tkachuk')`."""
    parts: list[str] = []
    node = roster_data
    for key in loc:
        try:
            node = node[key]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            node = None
        if isinstance(key, int):
            label = f"[{key}]"
            if isinstance(node, dict) and "id" in node:
                label += f" (id {node['id']!r})"
            parts.append(label)
        else:
            parts.append(("." if parts else "") + str(key))
    return "".join(parts) or "(top level)"


def parse_roster(data: object, source: str = "<roster>") -> Roster:
    try:
        return Roster.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if not err["loc"]:  # cross-reference checks: each names its own entry
                problems.extend(msg.split("; "))
                continue
            if err["type"] == "missing":
                msg = "required field is missing"
            elif err["type"] == "extra_forbidden":
                msg = "unknown field"
            problems.append(f"{_location(data, err['loc'])}: {msg}")
        raise RosterError(source, problems) from None


def load_roster(path: str | Path) -> Roster:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise RosterError(str(path), [f"cannot read the file: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RosterError(str(path), [f"not valid YAML: {exc}"]) from None
    return parse_roster(data, str(path))
