"""Ukrainian public holidays as data (holidays-ua.yaml beside this module, or another file)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

DEFAULT_FILE = Path(__file__).with_name("holidays-ua.yaml")


@dataclass(frozen=True)
class Holidays:
    fixed: dict[tuple[int, int], str] = field(default_factory=dict)  # (month, day) -> name
    extra: dict[date, str] = field(default_factory=dict)
    observe: bool = True

    def name(self, day: date) -> str | None:
        if not self.observe:
            return None
        return self.extra.get(day) or self.fixed.get((day.month, day.day))

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and self.name(day) is None


def parse(data: dict) -> Holidays:
    fixed = {}
    for key, name in (data.get("fixed") or {}).items():
        month, day = (int(x) for x in str(key).split("-"))
        date(2024, month, day)  # validates (2024 is a leap year: 02-29 allowed)
        fixed[(month, day)] = str(name)
    extra = {date.fromisoformat(str(k)): str(v) for k, v in (data.get("extra") or {}).items()}
    return Holidays(fixed, extra, bool(data.get("observe_holidays", True)))


# path -> ((mtime_ns, size), calendar): each file is read and parsed once per version of it,
# not once per request (the sittings context asks for it on every page and command).
_LOADED: dict[Path, tuple[tuple[int, int], Holidays]] = {}
_LOCK = threading.Lock()


def load(path: Path = DEFAULT_FILE) -> Holidays:
    """The calendar in `path`, parsed again only when the file changed (mtime or size): an
    edited holiday file is taken up without a restart, and an unchanged one costs a stat."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the holiday calendar: {exc}") from None
    version = (stat.st_mtime_ns, stat.st_size)
    known = _LOADED.get(path)
    if known is not None and known[0] == version:
        return known[1]
    with _LOCK:
        calendar = _parse_file(path)
        _LOADED[path] = (version, calendar)
    return calendar


def _parse_file(path: Path) -> Holidays:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return parse(data)
    except (OSError, yaml.YAMLError, ValueError, AttributeError) as exc:
        raise ValueError(f"{path}: cannot read the holiday calendar: {exc}") from None
