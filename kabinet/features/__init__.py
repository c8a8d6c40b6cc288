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
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from kabinet.installation import Installation

Subparsers = argparse._SubParsersAction
CommonOptions = Callable[[argparse.ArgumentParser], None]


class Feature(Protocol):
    name: str

    def install(self, kabinet: Installation) -> None: ...

    def cli(self, sub: Subparsers, common: CommonOptions) -> None: ...


def default_features() -> list[Feature]:
    """Every feature, fresh (a feature instance belongs to one Kabinet), in wiring order."""
    from kabinet.features.appeals import Appeals
    from kabinet.features.sittings import Sittings

    return [Sittings(), Appeals()]
