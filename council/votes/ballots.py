"""What votes look like in Matrix: the registration ballot and its live count, the roll-call
poll, its end and the result. Pure functions; operations.py enqueues them."""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any

from council.votes.inputs import (
    ANSWER_UK,
    ANSWERS,
    MAJORITY_EN,
    MAJORITY_UK,
    OUTCOME_EN,
    OUTCOME_UK,
    PRESENT,
    RESULT_UK,
)
from council.votes.tally import STABLE_RESPONSE, UNSTABLE_RESPONSE, Line

POLL_START = "org.matrix.msc3381.poll.start"
POLL_END = "org.matrix.msc3381.poll.end"
RESPONSE_TYPES = frozenset({UNSTABLE_RESPONSE, STABLE_RESPONSE})
VOTE_KEY = "ua.kabinet.vote"  # on the bot's poll start and end: which vote or registration
TEXT = "org.matrix.msc1767.text"
NO_FACTION = "Позафракційні / Independent"

def _poll(question: str, answers: list[tuple[str, str]], marker: dict[str, int],
          reply_to: str | None = None) -> dict[str, Any]:
    fallback = "\n".join([question, *(f"{n}. {text}" for n, (_, text) in enumerate(answers, 1))])
    content: dict[str, Any] = {
        POLL_START: {
            "kind": "org.matrix.msc3381.poll.disclosed", "max_selections": 1,
            "question": {TEXT: question, "body": question, "msgtype": "m.text"},
            "answers": [{"id": key, TEXT: text} for key, text in answers],
        },
        TEXT: fallback, "body": fallback, VOTE_KEY: marker,
    }
    if reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
    return content

def registration_poll(registration_id: int, heading: str, round_: int) -> dict[str, Any]:
    again = f" (повторна, {round_})" if round_ > 1 else ""
    question = (f"Реєстрація{again}: {heading}. Оберіть «Присутній» / Registration: choose "
                f"“Присутній” (present)")
    return _poll(question, [(PRESENT, ANSWER_UK[PRESENT])], {"registration": registration_id})

def count_text(registered: int, total: int, quorum: int) -> str:
    verdict = "є ✅" if registered >= quorum else "немає ⛔"
    return (f"📋 Зареєстровано {registered} з {total}. Кворум {verdict} (потрібно {quorum}) / "
            f"Registered {registered} of {total}; quorum {'yes' if registered >= quorum else 'no'} "
            f"({quorum} needed)")

def count_message(registered: int, total: int, quorum: int) -> dict[str, Any]:
    return {"msgtype": "m.notice", "body": count_text(registered, total, quorum)}

def count_edit(original_ref: str, registered: int, total: int, quorum: int) -> dict[str, Any]:
    new = count_message(registered, total, quorum)
    return {"msgtype": "m.notice", "body": f"* {new['body']}", "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": original_ref}}

def vote_poll(vote_id: int, number: int, item_number: str, item_title: str, majority: str,
              needed: int, total: int, reply_to: str | None) -> dict[str, Any]:
    question = (f"Голосування № {number}: питання {item_number} «{item_title}». Поріг: {needed} "
                f"«За» ({MAJORITY_UK[majority]}, склад {total}) / Vote {number} on item "
                f"{item_number}: {needed} “For” needed ({MAJORITY_EN[majority]})")
    return _poll(question, [(a, ANSWER_UK[a]) for a in ANSWERS], {"vote": vote_id}, reply_to)

def poll_end(vote_id: int, poll_ref: str) -> dict[str, Any]:
    text = "Голосування завершено; результати — нижче / The vote is closed; results follow"
    return {"m.relates_to": {"rel_type": "m.reference", "event_id": poll_ref}, TEXT: text,
            "body": text, VOTE_KEY: {"vote": vote_id}}

def by_faction(lines: list[Line]) -> list[tuple[str, list[Line]]]:
    groups: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        groups[line.faction or NO_FACTION].append(line)
    return sorted(groups.items(), key=lambda g: (g[0] == NO_FACTION, g[0]))

def totals_line(totals: dict[str, int]) -> str:
    return " · ".join(f"{RESULT_UK[k]} {totals.get(k, 0)}" for k in RESULT_UK)

def result_message(number: int, item_number: str, item_title: str, majority: str, needed: int,
                   total: int, outcome: str, totals: dict[str, int], lines: list[Line],
                   conflicts: list[tuple[str, str]], digest: str, *,
                   reply_to: str | None = None, link: str | None = None) -> dict[str, Any]:
    head = (f"🗳 Результати поіменного голосування № {number} — питання {item_number} "
            f"«{item_title}»: {OUTCOME_UK[outcome].upper()} / Roll-call vote {number}: "
            f"{OUTCOME_EN[outcome]}")
    rule = (f"Поріг {needed} «За» ({MAJORITY_UK[majority]}, склад {total}) / {needed} needed "
            f"({MAJORITY_EN[majority]})")
    body = [head, rule, totals_line(totals)]
    html = [f"<h4>{escape(head)}</h4>", f"<p>{escape(rule)}<br>{escape(totals_line(totals))}</p>"]
    for faction, members in by_faction(lines):
        body.append(f"\n{faction}:")
        body.extend(f"  {m.name} — {RESULT_UK[m.result]}" for m in members)
        html.append(f"<p><strong>{escape(faction)}</strong></p><ul>" + "".join(
            f"<li>{escape(m.name)} — {RESULT_UK[m.result]}</li>" for m in members) + "</ul>")
    if conflicts:
        body.append("\nКонфлікт інтересів / Conflicts of interest:")
        body.extend(f"  {name}: {text}" for name, text in conflicts)
        html.append("<p><strong>Конфлікт інтересів / Conflicts of interest</strong></p><ul>" +
                    "".join(f"<li>{escape(n)}: {escape(t)}</li>" for n, t in conflicts) + "</ul>")
    tail = f"SHA-256: {digest}" + (f"\n{link}" if link else "")
    body.append("\n" + tail)
    html.append(f"<p><code>SHA-256: {digest}</code>" +
                (f"<br><a href=\"{escape(link)}\">{escape(link)}</a>" if link else "") + "</p>")
    content: dict[str, Any] = {"msgtype": "m.notice", "body": "\n".join(body),
                               "format": "org.matrix.custom.html", "formatted_body": "".join(html),
                               VOTE_KEY: {"result": number}}
    if reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
    return content

def announcement(heading: str, number: int, item_number: str, item_title: str, outcome: str,
                 totals: dict[str, int], link: str | None) -> dict[str, Any]:
    text = (f"🗳 {heading}: голосування № {number}, питання {item_number} «{item_title}» — "
            f"{OUTCOME_UK[outcome]}. {totals_line(totals)}" + (f"\n{link}" if link else "") +
            f"\n/ Vote {number} on item {item_number}: {OUTCOME_EN[outcome]}")
    return {"msgtype": "m.notice", "body": text}
