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
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
MXID_RE = re.compile(r"^@[a-z0-9._=\-/+]+:[A-Za-z0-9.\-]+(:[0-9]{1,5})?$")

RosterId = Annotated[str, Field(pattern=ID_PATTERN)]
PHOTO_MAX_BYTES = 2 * 1024 * 1024
# A photo's type is read from its first bytes, never from its name.
PHOTO_TYPES = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"))
ROSTER_DIR = "roster_dir"  # the validation context's key: the folder photos are relative to


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


class InternalContacts(_Strict):
    """Contacts for colleagues only: shown to signed-in deputies, the head and the secretariat."""

    email: str | None = None
    phone: str | None = None


def photo_type(head: bytes) -> str | None:
    """The Content-Type of a JPEG or PNG by its first bytes; None for anything else."""
    return next((kind for magic, kind in PHOTO_TYPES if head.startswith(magic)), None)


def _checked_photo(value: str, info: ValidationInfo) -> str:
    """The photo's absolute path, once it exists, is a JPEG or PNG, and is at most 2 MB. A
    roster that comes from no known file (test data) keeps it as given, unchecked."""
    base = (info.context or {}).get(ROSTER_DIR)
    if base is None:
        return value
    path = (Path(base) / value).resolve()
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            head = fh.read(8)
    except OSError as exc:
        raise ValueError(f"photo {value!r}: cannot read the file ({exc.strerror})") from None
    if not path.is_file():
        raise ValueError(f"photo {value!r}: not a file")
    if size > PHOTO_MAX_BYTES:
        raise ValueError(f"photo {value!r}: {size} bytes, larger than 2 MB")
    if photo_type(head) is None:
        raise ValueError(f"photo {value!r}: not a JPEG or PNG image")
    return str(path)


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
    internal: InternalContacts = InternalContacts()
    photo: str | None = Field(None, description="JPEG or PNG, at most 2 MB, relative to the roster "
                              "file; after loading, its absolute path")

    @field_validator("photo")
    @classmethod
    def _photo(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _checked_photo(value, info)


class StaffMember(Person):
    position: str = Field("Секретаріат міської ради", max_length=200)
    # An administrator of the installation: the secretariat's rights on the web, plus ending
    # other people's sessions. Never anyone's notes.
    administrator: bool = False


class Head(Person):
    """The council's head (міський голова): a member of the council who is not a deputy."""

    position: str = Field("Міський голова", max_length=200)


class _Composition(_Strict):
    """Per-body overrides of who counts: the total composition and the quorum."""

    total_composition: int | None = Field(
        None, ge=1, le=1000, description="Total composition; default: the members listed")
    quorum: int | None = Field(None, ge=1, description="Default: more than half of the composition")

    @model_validator(mode="after")
    def _quorum_fits(self) -> _Composition:
        if self.quorum is not None and self.total_composition is not None \
                and self.quorum > self.total_composition:
            raise ValueError(f"quorum {self.quorum} exceeds the total composition "
                             f"{self.total_composition}")
        return self


class Commission(_Composition):
    id: RosterId
    name: str = Field(min_length=3, max_length=255)
    chair: RosterId | None = None


class Body(_Composition):
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
    secretary: RosterId | None = Field(None, description="The council's secretary: a deputy id")
    convocation: str | None = Field(None, max_length=64, description="As the council writes it "
                                    "(the example roster shows one)")


class Roster(_Strict):
    council: CouncilInfo
    bodies: tuple[Body, ...] = ()
    commissions: tuple[Commission, ...] = ()
    deputies: tuple[Deputy, ...] = Field(min_length=1)
    secretariat: tuple[StaffMember, ...] = Field(min_length=1)
    head: Head | None = None

    @model_validator(mode="after")
    def _references(self) -> Roster:
        problems: list[str] = []
        _unique("deputies/secretariat/head", [p.id for p in self._people()], problems)
        _unique("commissions", [c.id for c in self.commissions], problems)
        _unique("bodies", [b.id for b in self.bodies], problems)
        mxids = [p.matrix_id for p in self._people() if p.matrix_id]
        _unique("matrix_id", mxids, problems)
        commission_ids = {c.id for c in self.commissions}
        deputies = {d.id: d for d in self.deputies}
        people = {p.id for p in self._people()}
        secretary = self.council.secretary
        if secretary is not None and secretary not in deputies:
            problems.append(f"council: secretary {secretary!r} is not a deputy")
        council_total = next((b.total_composition for b in self.bodies
                              if b.kind == "council" and b.total_composition), None) \
            or self.council.total_seats
        for b in self.bodies:
            if b.kind == "council" and b.quorum and council_total and b.quorum > council_total:
                problems.append(f"body {b.id!r}: quorum {b.quorum} exceeds the total "
                                f"composition {council_total}")
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

    # Who counts at a sitting. `kind` is a sitting's kind ("plenary" | "commission" |
    # "executive"), `body` its body id (a commission id for commissions).

    def voters(self, kind: str, body: str) -> tuple[str, ...]:
        """Roster ids entitled to vote at a sitting of this kind and body."""
        if kind == "plenary":
            head = (self.head.id,) if self.head else ()
            return tuple(d.id for d in self.deputies) + head
        if kind == "commission":
            if self._commission(body) is None:
                return ()
            return self.commission_members(body)
        if kind == "executive":
            found = self._executive(body)
            return found.members if found else ()
        return ()

    def total_composition(self, kind: str, body: str) -> int:
        """The body's total composition (the base of the quorum and of "more than half")."""
        override: int | None = None
        if kind == "plenary":
            council = self._council_body(body)
            override = (council.total_composition if council else None) or self.council.total_seats
        elif kind == "commission":
            commission = self._commission(body)
            override = commission.total_composition if commission else None
        elif kind == "executive":
            executive = self._executive(body)
            override = executive.total_composition if executive else None
        return max(1, override or len(self.voters(kind, body)))

    def quorum(self, kind: str, body: str) -> int:
        """The override, else more than half of the total composition."""
        override: int | None = None
        if kind == "plenary":
            council = self._council_body(body)
            override = council.quorum if council else None
        elif kind == "commission":
            commission = self._commission(body)
            override = commission.quorum if commission else None
        elif kind == "executive":
            executive = self._executive(body)
            override = executive.quorum if executive else None
        return override or self.total_composition(kind, body) // 2 + 1

    def chairs(self, kind: str, body: str) -> frozenset[str]:
        """Roster ids who may run registration and votes besides the secretariat."""
        if kind == "plenary":
            head = self.head.id if self.head else None
            return frozenset(i for i in (head, self.council.secretary) if i)
        if kind == "commission":
            commission = self._commission(body)
            return frozenset({commission.chair}) if commission and commission.chair else frozenset()
        if kind == "executive":
            return frozenset({self.head.id}) if self.head else frozenset()
        return frozenset()

    def person(self, roster_id: str) -> Person | None:
        """A deputy, the head or a staff member by roster id."""
        return next((p for p in self._people() if p.id == roster_id), None)

    def faction_of(self, roster_id: str) -> str | None:
        return next((d.faction for d in self.deputies if d.id == roster_id), None)

    def people_by_mxid(self, server_name: str) -> dict[str, Person]:
        """Deputies, the head and the secretariat by Matrix id."""
        return {p.mxid(server_name): p for p in self._people()}

    def _people(self) -> tuple[Person, ...]:
        head: tuple[Person, ...] = (self.head,) if self.head else ()
        return (*self.deputies, *head, *self.secretariat)

    def _commission(self, commission_id: str) -> Commission | None:
        return next((c for c in self.commissions if c.id == commission_id), None)

    def _council_body(self, body_id: str) -> Body | None:
        """The council body: by id if it is one, else the only body of kind council."""
        councils = [b for b in self.bodies if b.kind == "council"]
        return next((b for b in councils if b.id == body_id), councils[0] if councils else None)

    def _executive(self, body_id: str) -> Body | None:
        """The executive committee: by id if it is one, else the first of its kind."""
        found = [b for b in self.bodies if b.kind == "executive_committee"]
        return next((b for b in found if b.id == body_id), found[0] if found else None)


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


def parse_roster(data: object, source: str = "<roster>", base: Path | None = None) -> Roster:
    """`base`: the folder relative paths (photos) start from; default the folder of `source`
    when it names a file (a roster sent to the running Kabinet), else none (photos unchecked)."""
    if base is None and not source.startswith("<") and Path(source).is_file():
        base = Path(source).parent
    try:
        return Roster.model_validate(data, context={ROSTER_DIR: str(base) if base else None})
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
    return parse_roster(data, str(path), path.parent)
