"""A region on one deployment (docs/region.md): many councils on one homeserver, each its own
Kabinet — its own roster, appservice registration and namespaces, database, data dir and web
port — described by one region file and brought up or re-applied by one command.

This module reads the region file into a `Plan`: every council's effective configuration (a
plain Kabinet configuration, written to `<data_dir>/kabinet.yaml` by `region apply|up`) and
roster. Reading writes nothing. `kabinet/region_checks.py` refuses what the councils cannot
share; `kabinet/region_apply.py` applies; `kabinet/region_up.py` runs the region.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from sqlalchemy.engine import URL, make_url

from council.roster import Roster, RosterError, load_roster
from kabinet.config import ConfigError, HomeserverConfig, Settings, load_settings

COUNCIL_ID = r"^[a-z0-9][a-z0-9-]{0,40}$"  # no "_": the derived prefixes cannot overlap
LOCALPART = r"^[a-z0-9._=/-]+$"


class RegionError(ValueError):
    """An invalid region; `problems` holds one line per problem, each naming its entry."""

    def __init__(self, path: str | Path, problems: list[str]) -> None:
        self.path = str(path)
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{path}: the region is refused, nothing was applied:\n{lines}")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegionHomeserver(HomeserverConfig):
    """The one homeserver of the region: every key of a Kabinet's `homeserver:` section (the
    embedded Synapse that `region up` starts, or an external one), and where the councils'
    registrations go."""

    registrations: Path | None = Field(None, description="Where each council's appservice "
                                       "registration is written (<id>.yaml) with "
                                       "app_services.yaml listing them; default "
                                       "<data_root>/registrations")
    registration_shared_secret: SecretStr | None = Field(
        None, description="External homeserver: its registration_shared_secret, to create the "
        "councils' accounts; null: accounts must exist. Embedded: generated")

    @model_validator(mode="after")
    def _no_single_registration(self) -> RegionHomeserver:
        if self.registration is not None:
            raise ValueError("registration: a region writes one registration per council "
                             "(homeserver.registrations is the folder)")
        if not self.embedded and self.url is None:
            raise ValueError("url: an external homeserver (embedded: false) needs its url")
        return self


class Namespaces(_Section):
    """A council's appservice: its id and exclusive namespaces. Defaults from the council id
    (`stryi`: id kabinet-stryi, bot @kabinet_stryi, ghosts @kabinet_stryi_…, aliases
    #kabinet_stryi_…)."""

    id: str | None = Field(None, pattern=r"^[A-Za-z0-9._-]+$")
    bot_localpart: str | None = Field(None, pattern=LOCALPART)
    ghost_prefix: str | None = Field(None, pattern=LOCALPART)
    alias_prefix: str | None = Field(None, pattern=LOCALPART)


class CouncilEntry(_Section):
    id: str = Field(pattern=COUNCIL_ID)
    roster: Path
    config: Path | None = Field(None, description="The council's own Kabinet configuration "
                                "(any key but homeserver:), under what this entry says")
    web_port: int | None = Field(None, ge=1, le=65535)
    database: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,63}$",
                                 description="Its database on the region's PostgreSQL server; "
                                 "default kabinet_<id>")
    data_dir: Path | None = Field(None, description="default <data_root>/<id>")
    appservice: Namespaces = Namespaces()
    overrides: dict[str, Any] = Field(default_factory=dict, description="Inline Kabinet "
                                      "configuration keys, over the config file's")


class RegionFile(_Section):
    name: str = Field("region", pattern=COUNCIL_ID)
    data_root: Path = Path("region")
    homeserver: RegionHomeserver
    database_url: str | None = Field(None, description="The PostgreSQL server the councils' "
                                     "databases are on (one database each); null: SQLite in "
                                     "each council's data dir")
    concurrency: int = Field(4, ge=1, le=64, description="Councils applied at once")
    requests: int = Field(8, ge=1, le=256, description="Homeserver requests in flight for the "
                          "councils `region apply` applies itself, all together")
    defaults: dict[str, Any] = Field(default_factory=dict, description="Kabinet configuration "
                                     "keys every council starts from")
    councils: list[CouncilEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Council:
    """One council of the region, as its Kabinet will run."""

    id: str
    settings: Settings
    config: dict[str, Any]  # what `settings` was made from: the file written for the council
    roster: Roster
    roster_path: Path

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir

    @property
    def registration_path(self) -> Path:
        assert self.settings.homeserver.registration is not None
        return self.settings.homeserver.registration

    @property
    def config_path(self) -> Path:
        """The council's effective configuration: `kabinet … --config` this file."""
        return self.data_dir / "kabinet.yaml"

    @property
    def space_alias(self) -> str:
        s = self.settings
        return f"#{s.appservice.alias_prefix}council:{s.homeserver.server_name}"


@dataclass(frozen=True)
class Plan:
    path: Path
    region: RegionFile
    councils: list[Council]

    @property
    def registrations(self) -> Path:
        return self.region.homeserver.registrations or self.region.data_root / "registrations"

    @property
    def synapse_dir(self) -> Path:
        """The embedded shared homeserver's data dir (`region up`)."""
        return self.region.data_root / "synapse"

    @property
    def app_services_file(self) -> Path:
        """A Synapse config fragment listing every council's registration (`--config-path`)."""
        return self.registrations / "app_services.yaml"


def where(index: int, entry: Any) -> str:
    cid = entry.get("id") if isinstance(entry, dict) else None
    return f"councils[{index}]" + (f" ({cid})" if cid else "")


def _location(data: Any, loc: tuple[int | str, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "councils" and isinstance(loc[1], int):
        councils = data.get("councils") if isinstance(data, dict) else None
        entry = councils[loc[1]] if isinstance(councils, list) and loc[1] < len(councils) else None
        rest = ".".join(map(str, loc[2:]))
        return where(loc[1], entry) + (f": {rest}" if rest else "")
    return ".".join(map(str, loc)) or "(top level)"


def read_region(path: Path) -> RegionFile:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RegionError(path, [f"cannot read the file: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise RegionError(path, [f"not valid YAML: {exc}"]) from None
    if not isinstance(data, dict):
        raise RegionError(path, ["the region file must be a mapping"])
    try:
        region = RegionFile.model_validate(data)
    except ValidationError as exc:
        raise RegionError(path, [
            f"{_location(data, e['loc'])}: "
            f"{'unknown key' if e['type'] == 'extra_forbidden' else e['msg']}"
            for e in exc.errors()]) from None
    base = path.resolve().parent
    hs = region.homeserver

    def here(p: Path) -> Path:
        return (base / p).resolve()

    return region.model_copy(update={
        "data_root": here(region.data_root),
        "homeserver": hs.model_copy(update={
            "registrations": here(hs.registrations) if hs.registrations else None}),
        "councils": [c.model_copy(update={
            "roster": here(c.roster), "config": here(c.config) if c.config else None,
            "data_dir": here(c.data_dir) if c.data_dir else None}) for c in region.councils],
    })


def namespaces(entry: CouncilEntry) -> dict[str, str]:
    """The council's appservice keys: what the entry says, else derived from its id."""
    ns, under = entry.appservice, entry.id
    return {
        "id": ns.id or f"kabinet-{under}",
        "bot_localpart": ns.bot_localpart or f"kabinet_{under}",
        "ghost_prefix": ns.ghost_prefix or f"kabinet_{under}_",
        "alias_prefix": ns.alias_prefix or f"kabinet_{under}_",
    }


def council_database(region: RegionFile, entry: CouncilEntry) -> str | None:
    """The council's store URL on the region's PostgreSQL server, or None (SQLite)."""
    if region.database_url is None:
        return None
    server: URL = make_url(region.database_url)
    name = entry.database or f"kabinet_{entry.id.replace('-', '_')}"
    return server.set(drivername="postgresql+asyncpg", database=name).render_as_string(
        hide_password=False)


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, mapping by mapping."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def council_config(region: RegionFile, entry: CouncilEntry, registrations: Path
                   ) -> dict[str, Any]:
    """The council's Kabinet configuration: the region's defaults, its config file, its entry,
    then what the region decides (the homeserver, the registration, the data dir)."""
    data = copy.deepcopy(region.defaults)
    if entry.config is not None:
        try:
            own = yaml.safe_load(entry.config.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"config {entry.config}: cannot read it: {exc}") from None
        if not isinstance(own, dict):
            raise ConfigError(f"config {entry.config}: must be a mapping")
        data = merge(data, own)
    data = merge(data, entry.overrides)
    if "homeserver" in data:
        raise ConfigError("homeserver: the region's homeserver serves every council; set it in "
                          "the region file's homeserver:, not per council")
    entry_keys: dict[str, Any] = {"appservice": namespaces(entry), "roster": str(entry.roster)}
    if entry.web_port is not None:
        entry_keys["web"] = {"port": entry.web_port}
    url = council_database(region, entry)
    if url is not None and "database_url" not in data:
        entry_keys["database_url"] = url
    elif url is not None and entry.database is not None:
        raise ConfigError("database: the council's configuration sets its own database_url")
    data = merge(data, entry_keys)
    data["data_dir"] = str(entry.data_dir or region.data_root / entry.id)
    hs = region.homeserver
    data["homeserver"] = {
        "embedded": False, "url": hs.client_url, "server_name": hs.server_name,
        "registration": str(registrations / f"{entry.id}.yaml"),
        "room_version": hs.room_version, "start_timeout": hs.start_timeout,
        **({"public_url": hs.public_url} if hs.public_url else {}),
    }
    return data


def plan(path: Path) -> Plan:
    """Read the region file, every council's configuration and roster. Raises RegionError
    listing every problem found, each naming its entry; writes nothing."""
    region = read_region(path)
    registrations = region.homeserver.registrations or region.data_root / "registrations"
    problems: list[str] = []
    seen: dict[str, int] = {}
    councils: list[Council] = []
    for i, entry in enumerate(region.councils):
        name = where(i, entry.model_dump())
        if entry.id in seen:
            problems.append(f"{name}: duplicate council id (also councils[{seen[entry.id]}])")
            continue
        seen[entry.id] = i
        try:
            config = council_config(region, entry, registrations)
            settings = load_settings(None, **{k: v for k, v in config.items()})
        except ConfigError as exc:
            problems.append(f"{name}: {str(exc).replace(chr(10), ' ')}")
            continue
        try:
            roster = load_roster(entry.roster)
        except RosterError as exc:
            problems += [f"{name}: roster {exc.path}: {p}" for p in exc.problems]
            continue
        councils.append(Council(entry.id, settings, config, roster, entry.roster))
    if problems:
        raise RegionError(path, problems)
    return Plan(path, region, councils)
