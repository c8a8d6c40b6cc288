"""Sends the mail queue (council/mailqueue.py) with aiosmtplib; retries with backoff.

Runs beside intake, never inside it: a mail server that is down delays a receipt, it never
blocks or loses an appeal. Log lines name the job id, never the address or the content.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from council import mailqueue
from council.store import Store
from council.worker import Worker

log = logging.getLogger(__name__)


class MailSender(Worker):
    def __init__(self, store: Store, settings: Callable[[], object], *, idle: float = 5.0) -> None:
        # `settings()` returns the current mail section, so a changed config is seen at once.
        self.store = store
        self.settings = settings
        super().__init__(idle)
        self.sent = 0

    async def round(self) -> bool:
        cfg = self.settings()
        if getattr(cfg, "host", None) is None:
            return False  # no server configured: keep the queue
        jobs = await mailqueue.due(self.store)
        for job in jobs:
            await self._send(cfg, job)
        return bool(jobs)

    async def _send(self, cfg: object, job: mailqueue.MailJob) -> None:
        msg = EmailMessage()
        msg["From"] = cfg.sender  # type: ignore[attr-defined]
        msg["To"] = job.to_addr
        msg["Subject"] = job.subject
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(idstring=f"kabinet-{job.id}")
        msg.set_content(job.body)
        password = cfg.password.get_secret_value() if cfg.password else None  # type: ignore[attr-defined]
        try:
            await aiosmtplib.send(
                msg, hostname=cfg.host, port=cfg.port,  # type: ignore[attr-defined]
                username=cfg.username, password=password,  # type: ignore[attr-defined]
                use_tls=cfg.tls == "tls", start_tls=cfg.tls == "starttls",  # type: ignore[attr-defined]
                timeout=cfg.timeout)  # type: ignore[attr-defined]
        except aiosmtplib.SMTPRecipientsRefused as exc:
            log.warning("mail job %s refused by the server; parked", job.id)
            await mailqueue.mark_failed(self.store, job, f"recipient refused: {exc.code}",
                                        permanent=True)
            return
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            log.warning("mail job %s not sent (%s); will retry", job.id, type(exc).__name__)
            await mailqueue.mark_failed(self.store, job, type(exc).__name__)
            return
        await mailqueue.mark_sent(self.store, job.id)
        self.sent += 1
