"""The homeserver as the appservice's bot, for a command run beside `kabinet up` (`kabinet vote
audit`, `kabinet backup`): its tokens from the registration that `kabinet up` wrote or was given."""

from __future__ import annotations

from appservice.homeserver import Homeserver
from kabinet.core import Core
from kabinet.secrets import Registration


class NoRegistration(Exception):
    pass


def bot_client(core: Core, url: str | None = None) -> Homeserver:
    """Not opened yet: the caller opens and closes it. `url`: where the running Kabinet
    reaches its homeserver (its lock file says, kabinet/lock.py), if not the configured one."""
    s = core.settings
    path = s.homeserver.registration or s.data_dir / "appservice-registration.yaml"
    if not path.exists():
        raise NoRegistration(f"{path}: no appservice registration (has `kabinet up` run here?)")
    reg = Registration.load(path)
    return Homeserver(url or s.homeserver.client_url, reg.as_token, reg.sender_localpart,
                      s.homeserver.server_name)
