"""Kabinet's configuration: one YAML file plus `KABINET_…` environment overrides.

Unknown keys are errors (a typo must not silently fall back to a default), and
secrets that still hold the example's placeholder are refused.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyNetwork,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

PLACEHOLDERS = {"change-me", "changeme", "CHANGE_ME", "secret", "xxx", ""}


class ConfigError(ValueError):
    pass


def real_secret(value: SecretStr | None) -> SecretStr | None:
    """A configured token must not be the example's placeholder, nor short."""
    if value is not None and (value.get_secret_value().strip() in PLACEHOLDERS
                              or len(value.get_secret_value()) < 16):
        raise ValueError("is a placeholder or shorter than 16 characters; set a real secret")
    return value


# `public_host`: listen on every interface; Kabinet reaches its own listeners over loopback.
LOOPBACK_OF = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}
LOOPBACKS = ("127.0.0.1", "localhost", "::1")
HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}"
                       r"[A-Za-z0-9])?)*")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SynapseWorkersConfig(_Section):
    """The embedded Synapse as main process + workers on PostgreSQL and Redis
    (docs/synapse-workers.md)."""

    enabled: bool = Field(False, description="Main process + event persister, appservice sender "
                          "and background worker; needs a PostgreSQL database_url and Redis")
    redis_host: str = "127.0.0.1"
    redis_port: int = Field(6379, ge=1, le=65535)
    database: str | None = Field(None, description="Synapse's database on database_url's "
                                 "PostgreSQL server; default <Kabinet's database>_synapse")
    ports_from: int | None = Field(None, ge=1, le=65535 - 7, description="First of 8 loopback "
                                   "ports (replication, health, metrics); default port + 1000")


class HomeserverConfig(_Section):
    embedded: bool = Field(True, description="Start Synapse from PyPI as a child process")
    server_name: str = "localhost"
    bind: str = "127.0.0.1"
    port: int = Field(8008, ge=1, le=65535)
    url: str | None = Field(None, description="External homeserver's client URL")
    public_url: str | None = Field(None, description="URL that clients use; default http://bind:port")
    registration: Path | None = Field(None, description="External homeserver: appservice registration")
    federation: bool = False
    bcrypt_rounds: int = Field(12, ge=4, le=20)
    max_upload_size: str = "50M"
    room_version: str = "12"
    start_timeout: float = Field(90.0, gt=0)
    workers: SynapseWorkersConfig = SynapseWorkersConfig()

    @property
    def client_url(self) -> str:
        """How Kabinet itself reaches the homeserver (on all interfaces: over loopback)."""
        host = LOOPBACK_OF.get(self.bind, self.bind)
        return (self.url or f"http://{host}:{self.port}").rstrip("/")

    @property
    def public_client_url(self) -> str:
        return (self.public_url or self.client_url).rstrip("/")


class AppserviceConfig(_Section):
    id: str = "kabinet"
    bot_localpart: str = "kabinet"
    bot_displayname: str = "Кабінет депутата"
    ghost_prefix: str = "kabinet_"
    alias_prefix: str = "kabinet_"
    url: str | None = Field(None, description="How the homeserver reaches the appservice")
    concurrency: int = Field(8, ge=1, le=64, description="Homeserver requests in flight")


class WebConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    public_url: str | None = Field(None, description="The site's public URL: links in mail, "
                                   "calendar.ics and the API are built from it, never from Host")
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list, description="Reverse proxies (IPs or CIDRs) whose X-Forwarded-For "
        "names the client; from any other peer the header is ignored")

    widget_frame_ancestors: list[str] = Field(
        default_factory=lambda: ["*", "vector:"], description="Who may frame the sitting "
        "widget's pages (CSP frame-ancestors sources): any web origin and Element Desktop")
    metrics_token: SecretStr | None = Field(None, description="Bearer token that /metrics "
                                            "requires from every scraper; unset: /metrics answers "
                                            "only direct requests from this machine (loopback)")

    @field_validator("metrics_token")
    @classmethod
    def _real_token(cls, value: SecretStr | None) -> SecretStr | None:
        return real_secret(value)

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


DeadlineDays = dict[Literal["proposal", "application", "complaint"], int | Literal["month"]]
DEFAULT_DEADLINE_DAYS: DeadlineDays = {"proposal": 15, "application": "month", "complaint": "month"}


class AppealsConfig(_Section):
    """Citizens' appeals: terms per appeal type (art. 20), attachments, intake rate limit."""

    deadline_days: DeadlineDays = \
        Field(default_factory=lambda: dict(DEFAULT_DEADLINE_DAYS),
              description='Days to answer, or "month" (a calendar month); at most 45')
    max_attachments: int = Field(5, ge=0, le=20)
    max_attachment_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    max_total_bytes: int = Field(25 * 1024 * 1024, ge=1024)
    rate_limit_requests: int = Field(10, ge=1, description="Submissions per client address ...")
    rate_limit_seconds: float = Field(600, gt=0, description="... per this many seconds")
    reminder_interval: float = Field(3600, gt=0, description="Seconds between deadline checks")
    housekeeping_interval: float = Field(3600, gt=0, description="Seconds between collections of "
                                         "orphaned files and expired Idempotency-Keys")

    @field_validator("deadline_days")
    @classmethod
    def _within_law(cls, value: dict[str, int | str]) -> dict[str, int | str]:
        for kind, term in value.items():
            if term != "month" and not 1 <= int(term) <= 45:
                raise ValueError(f"{kind}: a term is 1-45 days or \"month\" (art. 20)")
        return value


class MailConfig(_Section):
    """SMTP for e-mail to citizens (receipts, answers, extensions). host null: mail is queued
    and kept until a server is configured."""

    host: str | None = None
    port: int = Field(587, ge=1, le=65535)
    tls: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    sender: str = Field("kabinet@localhost", alias="from")
    timeout: float = Field(30, gt=0)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SittingsConfig(_Section):
    """Paperless sittings: draft files, the council's time zone, the holiday calendar."""

    max_file_bytes: int = Field(25 * 1024 * 1024, ge=1024,
                                description="Largest draft file (keep below homeserver.max_upload_size)")
    timezone: str = Field("Europe/Kyiv", description="The council's time zone: sitting times, and "
                          "the local dates the appeals law counts (receipt, deadlines)")
    holidays_file: Path | None = Field(None, description="Holiday calendar; default: the one shipped "
                                       "in council/holidays-ua.yaml")
    sync_interval: float = Field(30, gt=0, description="Seconds between checks of sitting rooms")
    video_url: str | None = Field(None, pattern=r"^https://[^\s]+$", description="A video "
                                  "conference service for remote sittings (a Jitsi or Element Call "
                                  "base URL); null: sitting rooms carry no video widget")


class FeedSource(_Section):
    name: str = Field(min_length=1, max_length=100, description="Shown on each posted entry")
    url: str = Field(pattern=r"^https?://[^\s]+$", max_length=2000, description="RSS or Atom URL")


class FeedsConfig(_Section):
    """News feeds posted into the announcements room: each new entry once."""

    sources: list[FeedSource] = Field(default_factory=list)
    interval: float = Field(900, ge=10, description="Seconds between polls of each feed")
    timeout: float = Field(30, gt=0, description="Seconds a fetch may take")
    max_bytes: int = Field(2 * 1024 * 1024, ge=1024, description="Largest feed response read")
    report_after: float = Field(86400, gt=0, description="Seconds of failures before the "
                                "secretariat's room is told")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KABINET_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Path("var")
    database_url: str | None = Field(None, description="Default: SQLite in the data dir")
    roster: Path = Path("config/council.example.yaml")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    language: Literal["uk", "en"] = Field("uk", description="The council's language: what the "
                                          "bot writes into Matrix and into citizens' e-mails")
    staff_api_token: SecretStr | None = None
    public_host: str | None = Field(None, description="A name or address of this machine that "
                                    "other devices reach (e.g. 192.168.1.20): the web site and "
                                    "the embedded homeserver then listen on every interface and "
                                    "their public URLs use it (an explicit public_url wins)")
    homeserver: HomeserverConfig = HomeserverConfig()
    appservice: AppserviceConfig = AppserviceConfig()
    web: WebConfig = WebConfig()
    sittings: SittingsConfig = SittingsConfig()
    appeals: AppealsConfig = AppealsConfig()
    mail: MailConfig = MailConfig()
    feeds: FeedsConfig = FeedsConfig()

    @field_validator("staff_api_token")
    @classmethod
    def _no_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        return real_secret(value)

    @field_validator("public_host")
    @classmethod
    def _plain_host(cls, value: str | None) -> str | None:
        if value is None:
            return None
        bare = value.strip().removeprefix("[").removesuffix("]")
        try:
            return str(ipaddress.ip_address(bare))
        except ValueError:
            pass
        if not HOST_NAME.fullmatch(bare) or len(bare) > 253:
            raise ValueError("a host name or an IP address, without a scheme, port or path")
        return bare

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str | None) -> str | None:
        """`postgresql://…` (as libpq and Synapse spell it) means asyncpg for Kabinet's store."""
        if value is not None and value.startswith(("postgresql://", "postgres://")):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        return value

    @model_validator(mode="after")
    def _workers_on_postgresql(self) -> Settings:
        if self.homeserver.workers.enabled and not (
                self.homeserver.embedded and self.db_url.startswith("postgresql")):
            raise ValueError("homeserver.workers (--synapse-workers) runs the embedded Synapse on "
                             "PostgreSQL: set database_url to postgresql://… (and no external "
                             "homeserver)")
        return self

    @model_validator(mode="after")
    def _reachable_at_public_host(self) -> Settings:
        """`public_host`: the web site and the embedded homeserver listen on every interface
        (unless bound to a non-loopback address already), and the URLs given to browsers and
        Matrix clients (web.public_url, homeserver.public_url) name the host, unless set."""
        if self.public_host is None:
            return self
        v6 = ":" in self.public_host
        host, everywhere = (f"[{self.public_host}]", "::") if v6 else (self.public_host, "0.0.0.0")
        web: dict[str, Any] = {"host": everywhere} if self.web.host in LOOPBACKS else {}
        if self.web.public_url is None:
            web["public_url"] = f"http://{host}:{self.web.port}"
        self.web = self.web.model_copy(update=web)
        if self.homeserver.embedded:
            hs: dict[str, Any] = {"bind": everywhere} if self.homeserver.bind in LOOPBACKS else {}
            if self.homeserver.public_url is None:
                hs["public_url"] = f"http://{host}:{self.homeserver.port}"
            self.homeserver = self.homeserver.model_copy(update=hs)
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment wins over the file; the file arrives as init kwargs.
        return env_settings, init_settings

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir.resolve()}/kabinet.db"

    @property
    def appservice_url(self) -> str:
        return (self.appservice.url or f"http://127.0.0.1:{self.web.port}/as").rstrip("/")


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read the YAML file (if any), apply CLI overrides, then the environment."""
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read the configuration: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the configuration must be a mapping")
    for dotted, value in overrides.items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        return Settings(**data)
    except ValidationError as exc:
        where = path or "configuration"
        lines = [f"  - {'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}"
                 for e in exc.errors()]
        raise ConfigError(f"{where}: invalid configuration:\n" + "\n".join(lines)) from None
