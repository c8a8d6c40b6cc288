"""Features: each is one module here that wires itself into a Kabinet.

A feature (kabinet/features/<name>.py) is an object with a `name` and two methods:

- `install(kabinet)`: adds what runs while `kabinet up` runs — workers (`kabinet.workers`),
  transaction handlers (`kabinet.transactions.handlers`), bot commands (`kabinet.commands`),
  web routes (`kabinet.web_setups`), demo data (`kabinet.demo_seeders`) and what to wake when
  the homeserver is back (`kabinet.on_homeserver_back`). It may keep what it built on itself
  (tests reach it with `kabinet.feature(TheFeature)`), so an instance serves one Kabinet.
- `cli(subparsers, common)`: adds its commands to `kabinet …`. Each command's parser sets
  `run=<async function(core: Core, args) -> exit code>`: commands get a `kabinet.core.Core`
  (settings, roster, store, files), never a homeserver, and `common(parser)` adds the
  --config/--data-dir options.

`Kabinet` is handed its features (default: `default_features()`) and knows none by name.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Protocol, TypeVar

from pydantic import ValidationError

if TYPE_CHECKING:
    from kabinet.core import Core
    from kabinet.installation import Installation

Subparsers = argparse._SubParsersAction
CommonOptions = Callable[[argparse.ArgumentParser], None]


class Feature(Protocol):
    name: str

    def install(self, kabinet: Installation) -> None: ...

    def cli(self, sub: Subparsers, common: CommonOptions) -> None: ...


class CliError(Exception):
    """A command's own refusal (a file it cannot read, a date it cannot parse)."""


C = TypeVar("C")


async def guarded(core: Core, context: C, body: Callable[[C], Awaitable[int]],
                  refusals: tuple[type[Exception], ...]) -> int:
    """Run a store command's body in the store's life: a refusal of the domain (`refusals`:
    `council.language.Refusal`s), bad input or a `CliError` is said on stderr with exit code 2;
    nothing was written (each body writes in one unit of work)."""
    async with asynccontextmanager(core.store_ctx)():
        try:
            return await body(context)
        except refusals as exc:
            print(f"error: {exc}", file=sys.stderr)  # in the council's language
        except ValidationError as exc:
            for e in exc.errors():
                print(f"error: {'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}", file=sys.stderr)
        except CliError as exc:
            print(f"error: {exc}", file=sys.stderr)
    return 2


def default_features() -> list[Feature]:
    """Every feature, fresh (a feature instance belongs to one Kabinet), in wiring order."""
    from kabinet.features.accounts import Accounts
    from kabinet.features.announcements import Announcements
    from kabinet.features.appeals import Appeals
    from kabinet.features.demo_mail import DemoMail
    from kabinet.features.desk import Desk
    from kabinet.features.directory import Directory
    from kabinet.features.feeds import Feeds
    from kabinet.features.notes import Notes
    from kabinet.features.sittings import Sittings
    from kabinet.features.votes import Votes
    from kabinet.features.widgets import Widgets

    return [Accounts(), Sittings(), Appeals(), Votes(), Notes(), Directory(), Desk(), Feeds(),
            Widgets(), Announcements(), DemoMail()]
