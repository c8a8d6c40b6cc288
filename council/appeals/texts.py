"""What the bot says about appeals (Ukrainian first, English second) and the citizen's e-mails.

Room messages are plain text (m.notice bodies), so nothing a citizen typed is ever rendered
as markup in a Matrix client. Only `card` carries personal data: it goes into the appeal
room, which only the people handling the appeal can read.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from council.appeals import Appeal

STATUS_UK = {"registered": "зареєстровано", "in_progress": "розглядається",
             "answered": "надано відповідь", "closed": "закрито"}
STATUS_EN = {"registered": "registered", "in_progress": "in progress",
             "answered": "answered", "closed": "closed"}
TYPE_UK = {"proposal": "пропозиція", "application": "заява", "complaint": "скарга"}

BAD_STATUS = ("Статус: in_progress, answered або closed / Status: in_progress, answered or closed")
ANSWER_FIRST = ("Спершу надішліть відповідь: !answer <текст> / Send the answer first: !answer <text>")
ANSWER_EMPTY = "Потрібен текст відповіді: !answer <текст> / The answer needs text: !answer <text>"
CLOSED = "Звернення закрито / The appeal is closed"
NOT_OPEN = ("Звернення вже розглянуто або закрито / The appeal is already answered or closed")
EXTEND_REASON = ("Вкажіть причину: !extend <днів> <причина> / Give a reason: !extend <days> <reason>")
SAME_DEPUTY = "Звернення вже в цього депутата / The appeal is already with this deputy"
NOT_TAKEABLE = ("Взяти можна лише звернення до округу, яке ще ніхто не взяв / Only a district "
                "appeal nobody has taken yet can be taken")
NOT_CANDIDATE = ("Взяти звернення може депутат цього округу / Only a deputy of this district "
                 "can take it")


def d(day: date) -> str:
    return day.strftime("%d.%m.%Y")


def notice(body: str) -> dict[str, Any]:
    return {"msgtype": "m.notice", "body": body}


def room_name(number: str) -> str:
    """No personal data in room names: the number only."""
    return f"Звернення {number}"


def topic(appeal: Appeal) -> str:
    return (f"Звернення {appeal.number} · {STATUS_UK[appeal.status]} · термін {d(appeal.deadline)}"
            f" / Appeal {appeal.number} · {STATUS_EN[appeal.status]} · due {d(appeal.deadline)}")


def card(appeal: Appeal) -> str:
    """The appeal as the room sees it first: who wrote, how to reach them, what about."""
    if appeal.addressee_kind == "deputy":
        to = "депутату / to the deputy"
    elif appeal.addressee_kind == "district":
        to = (f"депутатам округу № {appeal.addressee_district} (один бере: !take) / to the "
              f"deputies of district {appeal.addressee_district} (one takes it: !take)")
    else:
        to = "адресата визначає секретаріат (!transfer) / the secretariat routes it (!transfer)"
    lines = [
        f"Нове звернення {appeal.number} / New appeal {appeal.number}",
        f"Вид / Type: {TYPE_UK.get(appeal.type, appeal.type)} ({appeal.type})",
        f"Адресовано / Addressed: {to}",
        f"Тема / Subject: {appeal.subject}",
        f"Заявник / Citizen: {appeal.name}",
        f"Місце проживання / Residence: {appeal.residence}",
    ]
    if appeal.email:
        lines.append(f"E-mail: {appeal.email}")
    if appeal.phone:
        lines.append(f"Телефон / Phone: {appeal.phone}")
    lines += [
        f"Зареєстровано / Registered: {d(appeal.received_on)}; відповісти до / answer by: "
        f"{d(appeal.deadline)} (ст. 20 Закону «Про звернення громадян»)",
        "Повідомлення тут — внутрішні; громадянин бачить лише офіційну відповідь: "
        "!answer <текст> (!відповідь). Також: !status, !extend <днів> <причина>, !transfer "
        "<депутат>, !take, !help / Messages here are internal; the citizen sees only the "
        "official answer (!answer).",
    ]
    return "\n".join(lines)


MAIL_STATE_UK = {"pending": "у черзі", "sent": "надіслано", "failed": "не доставлено"}
MAIL_KIND_UK = {"receipt": "підтвердження реєстрації", "answer": "відповідь",
                "extend": "продовження строку"}


def status_summary(appeal: Appeal, responsible: str | None, mails: list[tuple[str, str, str | None]],
                   mail_configured: bool) -> str:
    """`!status` without a word: where the appeal stands and what the citizen was sent.
    `mails`: (kind, state, last error) per e-mail, oldest first."""
    lines = [f"Звернення {appeal.number}: {STATUS_UK[appeal.status]}, термін {d(appeal.deadline)}.",
             f"Розглядає: {responsible}." if responsible else "Відповідального ще немає."]
    if not appeal.email:
        lines.append("E-mail громадянин не вказав: відповідь лише на сторінці статусу.")
    for kind, state, error in mails:
        said = MAIL_STATE_UK.get(state, state)
        if state == "pending" and not mail_configured:
            said = "чекає: сервер пошти не налаштовано"
        lines.append(f"Лист «{MAIL_KIND_UK.get(kind, kind)}»: {said}"
                     + (f" ({error[:200]})" if error and state == "failed" else "") + ".")
    lines.append("Змінити статус: " + "!status <in_progress|answered|closed>")
    return "\n".join(lines)


def mail_news(appeal: Appeal, mail_configured: bool) -> str:
    """What became of the e-mail that goes with a step, said when the step is taken."""
    if not appeal.email:
        return "E-mail громадянин не вказав. / No e-mail was given."
    if not mail_configured:
        return ("Лист громадянину чекає: сервер пошти не налаштовано. / The e-mail waits: no mail "
                "server is configured.")
    return ("Лист громадянину поставлено в чергу; бот скаже, коли його надішле. / The e-mail is "
            "queued; the bot will say when it is sent.")


def answer_confirmation(appeal: Appeal, mail_configured: bool) -> str:
    return (f"Відповідь на звернення {appeal.number} опубліковано на сторінці статусу звернення. "
            f"{mail_news(appeal, mail_configured)} Щоб додати файли до відповіді, надішліть їх у "
            f"відповідь на це повідомлення. / To attach files, send them as a reply to this "
            f"message.")


def mail_outcome(appeal: Appeal, kind: str, state: str, error: str | None) -> str:
    what = MAIL_KIND_UK.get(kind, kind)
    if state == "sent":
        return f"✉ Лист громадянину («{what}», звернення {appeal.number}) надіслано."
    return (f"✉ Лист громадянину («{what}», звернення {appeal.number}) не доставлено"
            + (f": {error[:200]}" if error else "") + ". Відповідь і стан звернення є на його "
            "сторінці статусу; за потреби зв'яжіться з громадянином інакше.")


def reminder(appeal: Appeal, kind: str) -> str:
    if kind == "overdue":
        return (f"⚠ Звернення {appeal.number}: строк розгляду минув {d(appeal.deadline)} / "
                f"Appeal {appeal.number} is overdue since {d(appeal.deadline)}")
    if kind == "today":
        return (f"⏰ Звернення {appeal.number}: сьогодні останній день розгляду / "
                f"Appeal {appeal.number}: the deadline is today")
    return (f"⏰ Звернення {appeal.number}: відповісти до {d(appeal.deadline)} / "
            f"Appeal {appeal.number}: answer by {d(appeal.deadline)}")


def receipt_mail(appeal: Appeal, status_url: str) -> tuple[str, str]:
    return (f"Звернення {appeal.number} зареєстровано / Appeal {appeal.number} registered",
            f"Ваше звернення зареєстровано за номером {appeal.number}.\n"
            f"Строк розгляду — до {d(appeal.deadline)}.\n"
            f"Стан звернення і відповідь: {status_url}\n"
            f"Збережіть це посилання: воно єдиний доступ до вашого звернення.\n\n"
            f"Your appeal is registered as {appeal.number}, to be answered by "
            f"{d(appeal.deadline)}.\nStatus and answer: {status_url}\n")


def answer_mail(appeal: Appeal) -> tuple[str, str]:
    return (f"Відповідь на звернення {appeal.number} / Answer to appeal {appeal.number}",
            f"Відповідь на ваше звернення {appeal.number}:\n\n{appeal.answer_text}\n\n"
            f"Answer to your appeal {appeal.number} (above). Any attachments are on the "
            f"appeal's status page.\n")


def extension_mail(appeal: Appeal, days: int, reason: str) -> tuple[str, str]:
    return (f"Строк розгляду звернення {appeal.number} продовжено / Appeal {appeal.number}: "
            f"term extended",
            f"Строк розгляду вашого звернення {appeal.number} продовжено на {days} дн. — до "
            f"{d(appeal.deadline)} (ст. 20 Закону «Про звернення громадян»).\nПричина: {reason}\n\n"
            f"The term of your appeal {appeal.number} is extended by {days} day(s), to "
            f"{d(appeal.deadline)}.\nReason: {reason}\n")
