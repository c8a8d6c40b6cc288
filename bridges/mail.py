"""The mail channel's sender (council/outbox/mail.py) with aiosmtplib, in the outbox's one
sender shape (council/outbox/sender.py) and retry policy.

Runs beside intake, never inside it: a mail server that is down delays a receipt, it never
blocks or loses an appeal. One job's failure, whatever it is, parks or backs off that job only;
the round goes on with the others. Log lines name the job id and the error class, never the
address or the content.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib

from council.outbox import mail as mailqueue
from council.outbox.sender import Sender
from council.store import Store

log = logging.getLogger(__name__)

# Control characters (CR, LF, NUL, ...) would let a header value start a new header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class MailSender(Sender[mailqueue.MailJob]):
    log = log
    row_name = "mail job"
    log_traceback = False  # an exception's text may hold the address or the content

    def __init__(self, store: Store, settings: Callable[[], object], *, idle: float = 5.0,
                 on_done: Callable[[int], Awaitable[None]] | None = None) -> None:
        # `settings()` returns the current mail section, so a changed config is seen at once.
        # `on_done(job id)`: after a job is sent or parked for good (who asked is told).
        self.store = store
        self.settings = settings
        self.on_done = on_done
        super().__init__(idle)
        self.sent = 0
        self._cfg: object = None

    async def due(self) -> Sequence[mailqueue.MailJob]:
        self._cfg = self.settings()
        if getattr(self._cfg, "host", None) is None:
            return []  # no server configured: keep the queue
        return await mailqueue.due(self.store)

    async def failed(self, job: mailqueue.MailJob, exc: Exception) -> None:
        await self._record_failure(job, type(exc).__name__)

    async def _record_failure(self, job: mailqueue.MailJob, error: str, *, permanent: bool = False) -> None:
        await mailqueue.mark_failed(self.store, job, error, permanent=permanent)
        if mailqueue.policy.parked(job.attempts + 1, permanent=permanent):
            await self._done(job.id)

    async def _done(self, job_id: int) -> None:
        if self.on_done is None:
            return
        try:
            await self.on_done(job_id)
        except Exception as exc:  # the mail went (or is parked) either way; only the news is lost
            log.warning("mail job %s: telling its outcome failed (%s)", job_id, type(exc).__name__)

    async def send(self, job: mailqueue.MailJob) -> bool:
        # Checked again here: rows stored before intake used email-validator, or written by
        # other code, must never reach RCPT TO as they are (`root]x[@…` went out as `root`).
        try:
            to_addr = mailqueue.sending_address(job.to_addr)
        except mailqueue.BadAddress:
            log.warning("mail job %s has an invalid recipient address; parked", job.id)
            await self._record_failure(job, "invalid recipient address", permanent=True)
            return False
        await mailqueue.mark_attempt(self.store, job.id)
        try:
            await self._deliver(self._cfg, job, to_addr)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            await self._refused(job, exc)
            return False
        except aiosmtplib.SMTPResponseException as exc:
            await self._response_error(job, exc)
            return False
        await mailqueue.mark_sent(self.store, job.id)
        self.sent += 1
        await self._done(job.id)
        return True

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
        await self._record_failure(job, f"recipient refused: {detail}", permanent=permanent)

    async def _response_error(self, job: mailqueue.MailJob,
                              exc: aiosmtplib.SMTPResponseException) -> None:
        # A 5xx to the message itself (DATA) is final for this message; a 5xx to our sender or
        # login is a configuration problem shared by all jobs, so it is retried (and the job is
        # parked after the policy's MAX_ATTEMPTS) rather than parked at once.
        permanent = isinstance(exc, aiosmtplib.SMTPDataError) and 500 <= exc.code < 600
        log.warning("mail job %s not sent (%s, %s); %s", job.id, type(exc).__name__, exc.code,
                    "parked" if permanent else "will retry")
        await self._record_failure(job, f"{type(exc).__name__}: {exc.code} {exc.message}",
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
