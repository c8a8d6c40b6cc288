"""Sends the mail queue (council/mailqueue.py) with aiosmtplib; retries with backoff.

Runs beside intake, never inside it: a mail server that is down delays a receipt, it never
blocks or loses an appeal. One job's failure, whatever it is, parks or backs off that job only;
the round goes on with the others. Log lines name the job id and the error class, never the
address or the content.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from council import mailqueue
from council.store import Store
from council.worker import Worker

log = logging.getLogger(__name__)

# Control characters (CR, LF, NUL, ...) would let a header value start a new header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


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
        # Checked again here: rows stored before intake used email-validator, or written by
        # other code, must never reach RCPT TO as they are (`root]x[@…` went out as `root`).
        try:
            to_addr = mailqueue.sending_address(job.to_addr)
        except mailqueue.BadAddress:
            log.warning("mail job %s has an invalid recipient address; parked", job.id)
            await mailqueue.mark_failed(self.store, job, "invalid recipient address", permanent=True)
            return
        try:
            await self._deliver(cfg, job, to_addr)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            await self._refused(job, exc)
            return
        except aiosmtplib.SMTPResponseException as exc:
            await self._response_error(job, exc)
            return
        except Exception as exc:  # anything else is this job's problem, not the queue's
            log.warning("mail job %s not sent (%s); will retry", job.id, type(exc).__name__)
            await mailqueue.mark_failed(self.store, job, type(exc).__name__)
            return
        await mailqueue.mark_sent(self.store, job.id)
        self.sent += 1

    async def _deliver(self, cfg: object, job: mailqueue.MailJob, to_addr: str) -> None:
        msg = message(cfg.sender, to_addr, job)  # type: ignore[attr-defined]
        password = cfg.password.get_secret_value() if cfg.password else None  # type: ignore[attr-defined]
        await aiosmtplib.send(
            # The envelope recipient is given, not parsed back out of the To header.
            msg, recipients=[to_addr],
            hostname=cfg.host, port=cfg.port,  # type: ignore[attr-defined]
            username=cfg.username, password=password,  # type: ignore[attr-defined]
            use_tls=cfg.tls == "tls", start_tls=cfg.tls == "starttls",  # type: ignore[attr-defined]
            timeout=cfg.timeout)  # type: ignore[attr-defined]

    async def _refused(self, job: mailqueue.MailJob, exc: aiosmtplib.SMTPRecipientsRefused) -> None:
        # Our single recipient was refused. 5xx: the mailbox will not take it, park the job;
        # 4xx (greylisting, a full mailbox): try again later.
        codes = [r.code for r in exc.recipients] or [0]
        permanent = all(500 <= code < 600 for code in codes)
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        log.warning("mail job %s: recipient refused (%s, %s); %s", job.id, type(exc).__name__,
                    ",".join(map(str, codes)), "parked" if permanent else "will retry")
        await mailqueue.mark_failed(self.store, job, f"recipient refused: {detail}", permanent=permanent)

    async def _response_error(self, job: mailqueue.MailJob,
                              exc: aiosmtplib.SMTPResponseException) -> None:
        # A 5xx to the message itself (DATA) is final for this message; a 5xx to our sender or
        # login is a configuration problem shared by all jobs, so it is retried (and the job is
        # parked after MAX_ATTEMPTS) rather than parked at once.
        permanent = isinstance(exc, aiosmtplib.SMTPDataError) and 500 <= exc.code < 600
        log.warning("mail job %s not sent (%s, %s); %s", job.id, type(exc).__name__, exc.code,
                    "parked" if permanent else "will retry")
        await mailqueue.mark_failed(self.store, job, f"{type(exc).__name__}: {exc.code} {exc.message}",
                                    permanent=permanent)


def message(sender: str, to_addr: str, job: mailqueue.MailJob) -> EmailMessage:
    """The e-mail of a job. `to_addr` has passed email-validator; Address() parses it again as
    a single mailbox, and the subject loses any control character, so nothing can add a header."""
    msg = EmailMessage()
    msg["From"] = sender
    local, _, domain = to_addr.rpartition("@")
    msg["To"] = Address(username=local, domain=domain)
    msg["Subject"] = _CONTROL.sub(" ", job.subject).strip()
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(idstring=f"kabinet-{job.id}")
    msg.set_content(job.body)
    return msg
