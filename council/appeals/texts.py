"""What the bot says about appeals and the citizens' e-mails, in the council's language
(council/language.py; the Ukrainian catalog is council/locale/uk/LC_MESSAGES/appeals.po).

Room messages are plain text (m.notice bodies), so nothing a citizen typed is ever rendered
as markup in a Matrix client. Only `card` and `preview` carry personal data: they go into the
appeal room, which only the people handling the appeal can read.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from council.language import Text, _, day, ngettext, size

if TYPE_CHECKING:
    from council.appeals import Appeal

STATUS = {"registered": Text("registered"), "in_progress": Text("in progress"),
          "answered": Text("answered"), "closed": Text("closed")}
STATUS_EN = {status: text.render("en") for status, text in STATUS.items()}  # the CLI's table
TYPE = {"proposal": Text("proposal"), "application": Text("application"),
        "complaint": Text("complaint")}

BAD_STATUS = Text("Status: in_progress, answered or closed")
ANSWER_FIRST = Text("Send the answer first: !answer <text>")
ANSWER_EMPTY = Text("The answer needs text: !answer <text>")
CLOSED = Text("The appeal is closed")
NOT_OPEN = Text("The appeal is already answered or closed")
EXTEND_REASON = Text("Give a reason: !extend <days> <reason>")
SAME_DEPUTY = Text("The appeal is already with this deputy")
NOT_TAKEABLE = Text("Only a district appeal nobody has taken yet can be taken")
NOT_CANDIDATE = Text("Only a deputy of this district can take it")
KEY_REUSED = Text("This key was already used for a different request")


def d(value: date) -> str:
    return day(value)


def notice(body: str) -> dict[str, Any]:
    return {"msgtype": "m.notice", "body": body}


def status_word(status: str) -> str:
    text = STATUS.get(status)
    return str(text) if text is not None else status


def room_name(number: str) -> str:
    """No personal data in room names: the number only."""
    return _("Appeal {number}", number=number)


def topic(appeal: Appeal) -> str:
    return _("Appeal {number} · {status} · due {deadline}", number=appeal.number,
             status=status_word(appeal.status), deadline=d(appeal.deadline))


def card(appeal: Appeal) -> str:
    """The appeal as the room sees it first: who wrote, how to reach them, what about."""
    if appeal.addressee_kind == "deputy":
        to = _("to the deputy")
    elif appeal.addressee_kind == "district":
        to = _("to the deputies of district {district} (one takes it: !take)",
               district=appeal.addressee_district)
    else:
        to = _("the secretariat routes it (!transfer)")
    kind = TYPE.get(appeal.type)
    lines = [
        _("New appeal {number}", number=appeal.number),
        _("Type: {type}", type=str(kind) if kind is not None else appeal.type),
        _("Addressed: {to}", to=to),
        _("Subject: {subject}", subject=appeal.subject),
        _("Applicant: {name}", name=appeal.name),
        _("Residence: {residence}", residence=appeal.residence),
    ]
    if appeal.email:
        lines.append(_("E-mail: {email}", email=appeal.email))
    if appeal.phone:
        lines.append(_("Phone: {phone}", phone=appeal.phone))
    lines += [
        _("Registered: {received}; answer by: {deadline} (art. 20 of the Law “On Citizens' "
          "Appeals”)", received=d(appeal.received_on), deadline=d(appeal.deadline)),
        _("Messages here are internal; the citizen sees only the official answer: !answer "
          "<text>, which the bot shows you to confirm before it goes. Also: !status, !extend "
          "<days> <reason>, !transfer <deputy>, !take, !help"),
    ]
    return "\n".join(lines)


MAIL_STATE = {"pending": Text("queued"), "sent": Text("sent"), "failed": Text("not delivered")}
MAIL_KIND = {"receipt": Text("registration receipt"), "answer": Text("answer"),
             "extend": Text("term extension")}


def _label(table: dict[str, Text], key: str) -> str:
    text = table.get(key)
    return str(text) if text is not None else key


def status_summary(appeal: Appeal, responsible: str | None, mails: list[tuple[str, str, str | None]],
                   mail_configured: bool) -> str:
    """`!status` without a word: where the appeal stands and what the citizen was sent.
    `mails`: (kind, state, last error) per e-mail, oldest first."""
    lines = [_("Appeal {number}: {status}, due {deadline}.", number=appeal.number,
               status=status_word(appeal.status), deadline=d(appeal.deadline)),
             _("Handled by: {name}.", name=responsible) if responsible
             else _("Nobody is responsible yet.")]
    if not appeal.email:
        lines.append(_("The citizen gave no e-mail: the answer is on the status page only."))
    for kind, state, error in mails:
        said = _label(MAIL_STATE, state)
        if state == "pending" and not mail_configured:
            said = _("waiting: no mail server is configured")
        if error and state == "failed":
            lines.append(_("E-mail “{kind}”: {state} ({error}).", kind=_label(MAIL_KIND, kind),
                           state=said, error=error[:200]))
        else:
            lines.append(_("E-mail “{kind}”: {state}.", kind=_label(MAIL_KIND, kind), state=said))
    lines.append(_("Change the status: !status <in_progress|answered|closed>"))
    return "\n".join(lines)


def mail_news(appeal: Appeal, mail_configured: bool) -> str:
    """What became of the e-mail that goes with a step, said when the step is taken."""
    if not appeal.email:
        return _("No e-mail was given.")
    if not mail_configured:
        return _("The e-mail to the citizen waits: no mail server is configured.")
    return _("The e-mail to the citizen is queued; the bot will say when it is sent.")


def answer_confirmation(appeal: Appeal, mail_configured: bool) -> str:
    return _("The answer to appeal {number} is published on the appeal's status page. {mail} "
             "To add files to the answer, send them as a reply to this message.",
             number=appeal.number, mail=mail_news(appeal, mail_configured))


def mail_outcome(appeal: Appeal, kind: str, state: str, error: str | None) -> str:
    what = _label(MAIL_KIND, kind)
    if state == "sent":
        return _("✉ The e-mail to the citizen (“{what}”, appeal {number}) was sent.", what=what,
                 number=appeal.number)
    if error:
        return _("✉ The e-mail to the citizen (“{what}”, appeal {number}) was not delivered: "
                 "{error}. The answer and the appeal's state are on its status page; if need "
                 "be, contact the citizen another way.", what=what, number=appeal.number,
                 error=error[:200])
    return _("✉ The e-mail to the citizen (“{what}”, appeal {number}) was not delivered. The "
             "answer and the appeal's state are on its status page; if need be, contact the "
             "citizen another way.", what=what, number=appeal.number)


def reminder(appeal: Appeal, kind: str) -> str:
    if kind == "overdue":
        return _("⚠ Appeal {number} is overdue since {deadline}", number=appeal.number,
                 deadline=d(appeal.deadline))
    if kind == "today":
        return _("⏰ Appeal {number}: the deadline is today", number=appeal.number)
    return _("⏰ Appeal {number}: answer by {deadline}", number=appeal.number,
             deadline=d(appeal.deadline))


def receipt_mail(appeal: Appeal, status_url: str) -> tuple[str, str]:
    return (_("Appeal {number} registered", number=appeal.number),
            _("Your appeal is registered as {number}.\n"
              "It will be answered by {deadline}.\n"
              "Status and answer: {url}\n"
              "Keep this link: it is the only way to your appeal.\n",
              number=appeal.number, deadline=d(appeal.deadline), url=status_url))


def answer_mail(appeal: Appeal) -> tuple[str, str]:
    return (_("Answer to appeal {number}", number=appeal.number),
            _("The answer to your appeal {number}:\n\n{text}\n\n"
              "Files attached to the answer, if any, are on the appeal's status page.\n",
              number=appeal.number, text=appeal.answer_text))


def extension_mail(appeal: Appeal, days: int, reason: str) -> tuple[str, str]:
    return (_("Appeal {number}: term extended", number=appeal.number),
            ngettext("The term of your appeal {number} is extended by {n} day, to {deadline} "
                     "(art. 20 of the Law “On Citizens' Appeals”).\nReason: {reason}\n",
                     "The term of your appeal {number} is extended by {n} days, to {deadline} "
                     "(art. 20 of the Law “On Citizens' Appeals”).\nReason: {reason}\n",
                     days, number=appeal.number, deadline=d(appeal.deadline), reason=reason))


# -- the answer shown before it goes (council/appeals/answers.py) -------------------------------


def _preview_head(state: str, number: str, who: str) -> str:
    if state == "sent":
        return _("✅ Confirmed ({who}): this answer to appeal {number} is published.", who=who,
                 number=number)
    if state == "cancelled":
        return _("✖ Cancelled ({who}): this answer to appeal {number} was not sent.", who=who,
                 number=number)
    if state == "replaced":
        return _("↻ A newer !answer replaced this one: this text of the answer to appeal "
                 "{number} was not sent.", number=number)
    return _("Answer to appeal {number}: not sent yet. Check it and confirm.", number=number)


def recipient_mail(appeal: Appeal, mail_configured: bool) -> str:
    """Where the answer will go, said before it goes (the same truth as `mail_news`)."""
    if not appeal.email:
        return _("The citizen gave no e-mail: the answer will be on the status page only.")
    if not mail_configured:
        return _("The e-mail to {email} will wait: no mail server is configured. The answer "
                 "will be on the status page.", email=appeal.email)
    return _("On confirmation an e-mail to {email} is queued (the bot says when it is sent), "
             "and the answer is published on the status page.", email=appeal.email)


PREVIEW_CHARS = 20_000  # a Matrix event holds 64 KiB; a longer text is shown in part


def _shown(text: str) -> str:
    if len(text) <= PREVIEW_CHARS:
        return text
    return text[:PREVIEW_CHARS] + "…\n" + _(
        "(Too long for one message: the first {shown} of its {n} characters are shown here; "
        "all of it goes.)", shown=PREVIEW_CHARS, n=len(text))


def preview(appeal: Appeal, text: str, files: list[tuple[str, int]], mail_configured: bool,
            state: str = "pending", who: str = "") -> str:
    """The answer as it will go: to whom, by which way, with which files, the full text; while
    it waits, how to confirm, cancel or correct it."""
    waiting = state == "pending"
    lines = [_preview_head(state, appeal.number, who), _("Recipient: {name}", name=appeal.name),
             recipient_mail(appeal, mail_configured)]
    if files:
        lines.append(_("Files: {files}.", files=", ".join(
            f"{name} ({size(nbytes)})" for name, nbytes in files)))
    if waiting:
        lines.append(_("More files: send them as a reply to this message before you confirm.")
                     if files else _("To attach a file, send it as a reply to this message "
                                     "before you confirm."))
    lines += ["", _("Text of the answer:"), _shown(text)]
    if waiting:
        lines += ["", _("Confirm: react ✅ to this message, or send !yes. Cancel: !cancel. To "
                        "correct the text, edit your !answer message or send a new !answer.")]
    return "\n".join(lines)


NOTHING_PENDING = Text("No answer is waiting for confirmation here. Write one first: "
                       "!answer <text>")
EDIT_TOO_LATE = {
    "sent": Text("This answer was already sent: editing the command does not change it."),
    "cancelled": Text("This answer was cancelled: send a new !answer."),
    "replaced": Text("A newer !answer replaced this one: edit that one, or send a new !answer."),
}
