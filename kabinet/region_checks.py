"""What the councils of a region must not share, refused before anything is applied, each
problem naming the council (docs/region.md).

- The appservice namespaces. A council's registration (kabinet/secrets.write_registration)
  claims exclusively its bot `@<bot>:<server>`, its ghosts `@<ghost_prefix>.*:<server>` and its
  aliases `#<alias_prefix>.*:<server>`. Two such regular expressions share a name exactly when
  a bot equals a bot, a bot starts with a ghost prefix, or one prefix starts with the other
  (`kabinet_` claims everything `kabinet_stryi_` does). Each overlap is also confirmed with a
  witness name matched against both expressions as Synapse would.
- The same appservice id, or the same as_token / hs_token (a copied data dir).
- A roster's account that is another council's too (roster ids are council-local: `bondar`
  of two councils is one Matrix account), or that falls inside a council's namespace.
- Web ports (and the shared Synapse's ports), public URLs, data dirs, databases.
- Live: every PostgreSQL server answers, and may create the databases still missing.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

import asyncpg
from sqlalchemy.engine import make_url

from kabinet.region import Council, Plan
from kabinet.secrets import read_secrets
from kabinet.synapse_workers import PORTS

CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class Claim:
    """One exclusive namespace of one council: an exact name or a prefix, for users or
    aliases."""

    council: str
    sigil: str  # "@" users, "#" aliases
    text: str
    prefix: bool

    def regex(self, server: str) -> str:
        """As kabinet/secrets.write_registration writes it."""
        return f"{self.sigil}{re.escape(self.text)}{'.*' if self.prefix else ''}:{re.escape(server)}"

    def describe(self) -> str:
        return f"{self.sigil}{self.text}{'…' if self.prefix else ''}"


def claims(c: Council) -> list[Claim]:
    a = c.settings.appservice
    return [Claim(c.id, "@", a.bot_localpart, False), Claim(c.id, "@", a.ghost_prefix, True),
            Claim(c.id, "#", a.alias_prefix, True)]


def witness(a: Claim, b: Claim) -> str | None:
    """A localpart both claims match, or None when they share none."""
    if a.sigil != b.sigil:
        return None
    if not a.prefix and not b.prefix:
        return a.text if a.text == b.text else None
    if a.prefix and b.prefix:
        shorter, longer = sorted((a.text, b.text), key=len)
        return longer + "x" if longer.startswith(shorter) else None
    exact, prefix = (a, b) if b.prefix else (b, a)
    return exact.text if exact.text.startswith(prefix.text) else None


def namespace_problems(councils: list[Council], server: str) -> list[str]:
    problems: list[str] = []
    all_claims = [claim for c in councils for claim in claims(c)]
    for c in councils:
        if any(not claim.text for claim in claims(c)):
            problems.append(f"council {c.id}: an empty prefix would claim every name")
    for i, a in enumerate(all_claims):
        for b in all_claims[i + 1:]:
            if a.council == b.council:
                continue
            name = witness(a, b)
            if name is None:
                continue
            mxid = f"{a.sigil}{name}:{server}"
            assert re.fullmatch(a.regex(server), mxid) and re.fullmatch(b.regex(server), mxid)
            problems.append(f"council {b.council}: its namespace {b.describe()} overlaps council "
                            f"{a.council}'s {a.describe()} (both claim {mxid})")
    problems += _same("appservice id", ((c.id, c.settings.appservice.id) for c in councils))
    for token in ("as_token", "hs_token"):
        problems += _same(token + " (data dirs copied from one another?)",
                          ((c.id, read_secrets(c.data_dir).get(token)) for c in councils
                           if c.data_dir.exists()))
    return problems


def account_problems(councils: list[Council], server: str) -> list[str]:
    """Each roster account belongs to one council and to no council's namespace."""
    problems: list[str] = []
    owner: dict[str, str] = {}
    user_claims = [claim for c in councils for claim in claims(c) if claim.sigil == "@"]
    for c in councils:
        people = [*c.roster.deputies, *c.roster.secretariat, *([c.roster.head] if c.roster.head
                                                                else [])]
        for person in people:
            mxid = person.mxid(server)
            other = owner.setdefault(mxid, c.id)
            if other != c.id:
                problems.append(f"council {c.id}: {person.id} is {mxid}, an account of council "
                                f"{other} too (roster ids are per council: give one of them "
                                f"matrix_id: in its roster)")
            for claim in user_claims:
                if re.fullmatch(claim.regex(server), mxid):
                    problems.append(f"council {c.id}: {person.id} is {mxid}, inside council "
                                    f"{claim.council}'s exclusive namespace {claim.describe()}")
    return problems


def resource_problems(plan: Plan) -> list[str]:
    """Web ports, public URLs, data dirs and databases: one council each."""
    cs = plan.councils
    hs = plan.region.homeserver
    ports: list[tuple[str, object]] = []
    if hs.embedded:  # first, so that the council is the one named
        first = hs.workers.ports_from or hs.port + 1000
        taken = [hs.port] + (list(range(first, first + PORTS)) if hs.workers.enabled else [])
        ports += [("the shared homeserver", port) for port in taken]
    problems = _same("port", ports + [(c.id, c.settings.web.port) for c in cs])
    problems += _same("web.public_url", ((c.id, c.settings.web.public_url) for c in cs))
    problems += _same("data dir", ((c.id, str(c.data_dir.resolve())) for c in cs))
    databases: list[tuple[str, object]] = []
    if hs.embedded and hs.workers.enabled and plan.region.database_url:
        databases.append(("the shared homeserver", _database(synapse_database_url(plan))))
    problems += _same("database", databases + [(c.id, _database(c.settings.db_url)) for c in cs])
    return problems


def synapse_database_url(plan: Plan) -> str:
    """The shared Synapse's database with the workers topology, on the region's server."""
    assert plan.region.database_url is not None
    name = plan.region.homeserver.workers.database or f"{plan.region.name}_synapse".replace(
        "-", "_")
    return make_url(plan.region.database_url).set(database=name).render_as_string(
        hide_password=False)


def _database(url: str) -> str:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        return f"sqlite {u.database}"
    return f"{u.host or 'localhost'}:{u.port or 5432}/{u.database}"


def _same(what: str, values: Iterable[tuple[str, object]]) -> list[str]:
    """A problem for each holder (a council id, or "the shared homeserver") whose value
    another one has already."""
    first: dict[object, str] = {}
    problems = []
    for holder, value in values:
        if value is None:
            continue
        other = first.setdefault(value, holder)
        if other != holder:
            problems.append(f"{_label(holder)}: {what} {value} is also {_label(other)}'s")
    return problems


def _label(holder: str) -> str:
    return holder if holder.startswith("the ") else f"council {holder}"


def static_problems(plan: Plan) -> list[str]:
    server = plan.region.homeserver.server_name
    return (namespace_problems(plan.councils, server) + account_problems(plan.councils, server)
            + resource_problems(plan))


# -- live: the databases ------------------------------------------------------------------------

async def database_problems(plan: Plan) -> list[str]:
    """Every council's PostgreSQL server answers, and lets us create its database if it does
    not exist yet. SQLite stores need nothing."""
    by_server: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for c in plan.councils:
        u = make_url(c.settings.db_url)
        if u.get_backend_name() == "postgresql":
            server = u.set(drivername="postgresql", database="postgres")
            by_server[server.render_as_string(hide_password=False)].append((c.id, str(u.database)))
    results = await asyncio.gather(*(_server_problems(url, dbs) for url, dbs in by_server.items()))
    return [p for r in results for p in r]


async def _server_problems(url: str, databases: list[tuple[str, str]]) -> list[str]:
    shown = make_url(url).render_as_string(hide_password=True)
    councils = ", ".join(c for c, _ in databases)
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return [f"council {c}: its database server {shown} does not answer: "
                f"{exc or type(exc).__name__}" for c, _ in databases]
    try:
        names = [name for _, name in databases]
        existing = {r["datname"] for r in await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname = ANY($1::text[])", names)}
        may_create = await conn.fetchval(
            "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")
    finally:
        await conn.close()
    if may_create:
        return []
    return [f"council {c}: database {name} does not exist on {shown} and its user may not create "
            f"databases (CREATEDB); create it first ({councils} share this server)"
            for c, name in databases if name not in existing]
