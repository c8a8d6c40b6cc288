"""The demo's mail catcher. `kabinet up --demo` without a mail server in the configuration
starts an SMTP server (aiosmtpd) on a loopback port, on Kabinet's own event loop, that takes
every e-mail to citizens and keeps it as an `.eml` file in the data dir (web/demo/mailbox.py:
`<data_dir>/demo-mail`, 0700, files 0600) instead of sending it on, so that whoever runs the
demo can read what citizens would receive (`kabinet mail list`, /demo/mail).

Kabinet's one mail sender (bridges/mail.py) is pointed at it through the settings' mail
section, in memory only (no config file is written): `for_demo` gives the settings a
`CaughtMail` section, which carries the catcher, and the demo mail feature
(kabinet/features/demo_mail.py) serves it for the life of the web site and mounts its page.
A configuration with `mail.host` has a real server, and no catcher starts; without `--demo`
none ever does, and e-mail waits in the queue until a server is configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.smtp import SMTP
from pydantic import PrivateAttr

from kabinet.config import MailConfig, Settings
from web.demo import mailbox

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_MESSAGE_BYTES = 10 * 1024 * 1024  # Kabinet's mails are text; this bounds a stray client
IDLE_SECONDS = 30  # an idle SMTP connection is closed (a stop never waits for one)
STOP_SECONDS = 5.0


class Catcher:
    """An SMTP server that keeps what it is given. Its socket is bound (the port is the
    kernel's choice) when it is made, so its address is known before Kabinet is built; it
    listens once `serve` runs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.caught = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind((HOST, 0))
        self.port: int = self._sock.getsockname()[1]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd's hook: one message is kept, as the client sent it."""
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        try:
            path = await asyncio.to_thread(mailbox.save, self.folder, content)
        except OSError as exc:  # a full disk: the sender tries again later (4xx), nothing is lost
            log.warning("demo mail: a message could not be kept (%s)", type(exc).__name__)
            return "451 Could not keep the message; try again later"
        self.caught += 1
        log.info("demo mail: kept %s (not sent)", path.name)  # never the address or the content
        return "250 OK: kept by the demo's mail catcher, not sent"

    async def serve(self, _app: web.Application | None = None) -> AsyncIterator[None]:
        """Listen for the life of the web site (an aiohttp cleanup context)."""
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: SMTP(self, hostname="kabinet-demo", enable_SMTPUTF8=True,
                         data_size_limit=MAX_MESSAGE_BYTES, timeout=IDLE_SECONDS, loop=loop),
            sock=self._sock)
        try:
            yield
        finally:
            server.close()
            with contextlib.suppress(TimeoutError):  # a client still connected is left behind
                await asyncio.wait_for(server.wait_closed(), STOP_SECONDS)

    def close(self) -> None:
        """Give the port back when the catcher never served (`serve` closes it otherwise)."""
        self._sock.close()


class CaughtMail(MailConfig):
    """The mail section while the catcher runs: plain SMTP to it on loopback."""

    _catcher: Catcher | None = PrivateAttr(default=None)


def for_demo(settings: Settings, demo: bool) -> Settings:
    """The settings `kabinet up` runs with: with `--demo` and no mail server configured, mail
    goes to a new catcher in the data dir; otherwise the settings as they are."""
    if not demo or settings.mail.host is not None:
        return settings
    catcher = Catcher(mailbox.folder_of(settings.data_dir))
    mail = CaughtMail(host=HOST, port=catcher.port, tls="none", sender=settings.mail.sender,
                      timeout=settings.mail.timeout)
    mail._catcher = catcher
    return settings.model_copy(update={"mail": mail})


def catcher_of(settings: Settings) -> Catcher | None:
    """The catcher these settings send mail to, if they do."""
    return settings.mail._catcher if isinstance(settings.mail, CaughtMail) else None


def banner_lines(settings: Settings) -> list[str]:
    """What `kabinet up` says about the catcher, if it runs."""
    catcher = catcher_of(settings)
    if catcher is None:
        return []
    return [f"  Demo mail:   e-mails to citizens are kept in {catcher.folder}, not sent; read them at "
            f"{settings.web.base_url}/demo/mail or with `kabinet mail list`"]
