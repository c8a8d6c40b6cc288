"""What votes look like in Matrix: the registration ballot and its live count, the roll-call
poll, its end and the result. Pure functions; operations.py enqueues them."""

from __future__ import annotations

from collections import defaultdict
from html import escape
from typing import Any

from council.language import Text, _
from council.votes.inputs import ANSWER_LABELS, ANSWERS, MAJORITIES, OUTCOMES, PRESENT, RESULTS
from council.votes.tally import STABLE_RESPONSE, UNSTABLE_RESPONSE, Line

POLL_START = "org.matrix.msc3381.poll.start"
POLL_END = "org.matrix.msc3381.poll.end"
RESPONSE_TYPES = frozenset({UNSTABLE_RESPONSE, STABLE_RESPONSE})
VOTE_KEY = "ua.kabinet.vote"  # on the bot's poll start and end: which vote or registration
TEXT = "org.matrix.msc1767.text"
NO_FACTION = Text("Independent")

def _poll(question: str, answers: list[tuple[str, str]], marker: dict[str, int],
          reply_to: str | None = None) -> dict[str, Any]:
    fallback = "\n".join([question, *(f"{n}. {text}" for n, (_key, text) in enumerate(answers, 1))])
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
    question = (_("Registration (round {round}): {heading}. Choose «Present»", round=round_,
                  heading=heading) if round_ > 1 else
                _("Registration: {heading}. Choose «Present»", heading=heading))
    return _poll(question, [(PRESENT, ANSWER_LABELS[PRESENT].render())],
                 {"registration": registration_id})

def count_text(registered: int, total: int, quorum: int) -> str:
    if registered >= quorum:
        return _("📋 Registered {registered} of {total}. Quorum: yes ✅ ({quorum} needed)",
                 registered=registered, total=total, quorum=quorum)
    return _("📋 Registered {registered} of {total}. Quorum: no ⛔ ({quorum} needed)",
             registered=registered, total=total, quorum=quorum)

def count_message(registered: int, total: int, quorum: int) -> dict[str, Any]:
    return {"msgtype": "m.notice", "body": count_text(registered, total, quorum)}

def count_edit(original_ref: str, registered: int, total: int, quorum: int) -> dict[str, Any]:
    new = count_message(registered, total, quorum)
    return {"msgtype": "m.notice", "body": f"* {new['body']}", "m.new_content": new,
            "m.relates_to": {"rel_type": "m.replace", "event_id": original_ref}}

def vote_poll(vote_id: int, number: int, item_number: str, item_title: str, majority: str,
              needed: int, total: int, reply_to: str | None) -> dict[str, Any]:
    question = _("Vote {number}: item {item} «{title}». Threshold: {needed} «For» "
                 "({majority}, composition {total})", number=number, item=item_number,
                 title=item_title, needed=needed, majority=MAJORITIES[majority].render(),
                 total=total)
    return _poll(question, [(a, ANSWER_LABELS[a].render()) for a in ANSWERS], {"vote": vote_id},
                 reply_to)

def poll_end(vote_id: int, poll_ref: str) -> dict[str, Any]:
    text = _("The vote is closed; the results follow")
    return {"m.relates_to": {"rel_type": "m.reference", "event_id": poll_ref}, TEXT: text,
            "body": text, VOTE_KEY: {"vote": vote_id}}

def by_faction(lines: list[Line]) -> list[tuple[str, list[Line]]]:
    groups: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        groups[line.faction or ""].append(line)
    independent = NO_FACTION.render()
    return [(faction or independent, lines)
            for faction, lines in sorted(groups.items(), key=lambda g: (g[0] == "", g[0]))]

def totals_line(totals: dict[str, int]) -> str:
    return " · ".join(f"{label} {totals.get(k, 0)}" for k, label in RESULTS.items())

def result_message(number: int, item_number: str, item_title: str, majority: str, needed: int,
                   total: int, outcome: str, totals: dict[str, int], lines: list[Line],
                   conflicts: list[tuple[str, str]], digest: str, *,
                   reply_to: str | None = None, link: str | None = None) -> dict[str, Any]:
    head = _("🗳 Results of roll-call vote {number} — item {item} «{title}»: {outcome}",
             number=number, item=item_number, title=item_title,
             outcome=OUTCOMES[outcome].render().upper())
    rule = _("Threshold {needed} «For» ({majority}, composition {total})", needed=needed,
             majority=MAJORITIES[majority].render(), total=total)
    body = [head, rule, totals_line(totals)]
    html = [f"<h4>{escape(head)}</h4>", f"<p>{escape(rule)}<br>{escape(totals_line(totals))}</p>"]
    for faction, members in by_faction(lines):
        body.append(f"\n{faction}:")
        body.extend(f"  {m.name} — {RESULTS[m.result]}" for m in members)
        html.append(f"<p><strong>{escape(faction)}</strong></p><ul>" + "".join(
            f"<li>{escape(m.name)} — {escape(str(RESULTS[m.result]))}</li>" for m in members)
            + "</ul>")
    if conflicts:
        declared = _("Conflicts of interest")
        body.append(f"\n{declared}:")
        body.extend(f"  {name}: {text}" for name, text in conflicts)
        html.append(f"<p><strong>{escape(declared)}</strong></p><ul>" +
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
    text = _("🗳 {heading}: vote {number}, item {item} «{title}» — {outcome}. {totals}",
             heading=heading, number=number, item=item_number, title=item_title,
             outcome=OUTCOMES[outcome].render(), totals=totals_line(totals))
    text += f"\n{link}" if link else ""
    return {"msgtype": "m.notice", "body": text}
