"""`kabinet registration write FILE`: the appservice registration that an external homeserver
loads (`app_service_config_files`; docs/deploy.md, "Production on an external Synapse").

The same registration the embedded homeserver gets at every start (kabinet/secrets.py
`write_registration`): Kabinet's appservice id, where the homeserver reaches it
(`appservice.url`), the tokens both sides authenticate with (generated once into the data
dir's `secrets.yaml` and never rotated, so writing it again writes the same tokens), the
exclusive namespaces of the bot, the citizens' ghosts and the room aliases, and
`rate_limited: false`. `kabinet up --registration FILE` reads its tokens from the same file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kabinet.core import Core
from kabinet.features import CommonOptions, Subparsers
from kabinet.secrets import ensure_secrets, write_registration


async def cmd_write(core: Core, args: argparse.Namespace) -> int:
    s = core.settings
    await core.store.close()  # this command needs no store
    if s.homeserver.embedded:
        print("error: the configuration runs the embedded homeserver, which writes its own "
              f"registration ({s.data_dir / 'appservice-registration.yaml'}) at every start; "
              "for an external homeserver set homeserver.embedded: false and homeserver.url",
              file=sys.stderr)
        return 2
    registration = write_registration(
        args.file, as_id=s.appservice.id, url=s.appservice_url,
        bot_localpart=s.appservice.bot_localpart, ghost_prefix=s.appservice.ghost_prefix,
        alias_prefix=s.appservice.alias_prefix, server_name=s.homeserver.server_name,
        tokens=ensure_secrets(s.data_dir))
    print(f"wrote {args.file} (0600): appservice {registration.id!r}, bot "
          f"@{registration.sender_localpart}:{s.homeserver.server_name}, the homeserver sends "
          f"events to {registration.url}; its tokens are kept in {s.data_dir / 'secrets.yaml'}")
    print("next: give the homeserver a copy it can read (app_service_config_files), restart it, "
          f"and start Kabinet with --registration {args.file}")
    return 0


def add_command(sub: Subparsers, common: CommonOptions) -> None:
    p = sub.add_parser("registration", help="the appservice registration of an external "
                       "homeserver")
    rsub = p.add_subparsers(dest="registration_command", required=True)
    write = rsub.add_parser("write", help="write the appservice registration that an external "
                            "homeserver loads (tokens from the data dir's secrets)")
    write.add_argument("file", type=Path, help="where to write it, e.g. "
                       "/etc/kabinet/registration.yaml")
    common(write)
    write.set_defaults(run=cmd_write)
