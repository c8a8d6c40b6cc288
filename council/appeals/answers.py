"""The official answer, shown before it goes.

An `!answer <text>` sends nothing: it becomes a pending answer, and the bot replies with a
preview (to whom, by which way, with which files, the full text). Until someone decides:
- an edit of the `!answer` message replaces the text, and the bot edits its preview;
- a new `!answer` replaces the pending one (the files sent for it stay with the new one);
- a file sent as a reply to the preview joins the answer (stored as `pending`, shown nowhere);
- confirming (✅ on the preview, or `!yes`) does exactly what `operations.answer` does —
  status page, history, the citizen's e-mail, the bot's truthful confirmation — and the files
  become the answer's; cancelling (`!cancel`) sends nothing and drops the files.
Everything is stored, so a pending answer survives a restart; a confirmation is taken once (the
state changes from `pending` in one UPDATE): a second ✅ finds nothing to send.

Who may do what is the caller's decision (appservice/appeals/), as for every appeal command.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox
from council.appeals import texts
from council.appeals.operations import add_answer_file, answer, answerable
from council.appeals.tables import Appeal, AppealAttachment, PendingAnswer
from council.appeals.values import Context, StoredFile, room_ref
from council.models import OutboxMessage, utcnow
from council.store import affected

FALLBACK_CHARS = 1000  # an edit's plain body, for clients without edits; others show the new content


async def pending(session: AsyncSession, appeal_id: int) -> PendingAnswer | None:
    """The appeal's answer waiting for confirmation, if any."""
    return await session.scalar(select(PendingAnswer).where(
        PendingAnswer.appeal_id == appeal_id, PendingAnswer.state == "pending")
        .order_by(PendingAnswer.id.desc()).limit(1))


async def by_command(session: AsyncSession, event_id: str) -> PendingAnswer | None:
    """The answer an `!answer` message (this Matrix event) proposed."""
    return await session.scalar(select(PendingAnswer).where(PendingAnswer.command_event == event_id))


async def by_preview(session: AsyncSession, appeal_id: int, event_id: str) -> PendingAnswer | None:
    """The answer whose preview is this Matrix event (known once the preview was sent)."""
    return await session.scalar(select(PendingAnswer).join(
        OutboxMessage, OutboxMessage.key == PendingAnswer.preview_key).where(
        PendingAnswer.appeal_id == appeal_id, OutboxMessage.event_id == event_id))


async def pending_files(session: AsyncSession, appeal_id: int) -> list[AppealAttachment]:
    return list(await session.scalars(select(AppealAttachment).where(
        AppealAttachment.appeal_id == appeal_id, AppealAttachment.origin == "pending")
        .order_by(AppealAttachment.id)))


async def propose(session: AsyncSession, ctx: Context, appeal: Appeal, text: str, author: str,
                  command_event: str) -> PendingAnswer:
    """`!answer <text>`: the pending answer and the bot's preview, a reply to the command."""
    answerable(appeal, text)
    old = await pending(session, appeal.id)
    if old is not None:
        await _decide(session, ctx, appeal, old, "replaced", author, "")
    row = PendingAnswer(appeal_id=appeal.id, state="pending", text=text.strip(), author=author,
                        command_event=command_event, revision=0, created_at=utcnow(),
                        preview_key=f"appeal:{appeal.id}:preview:{command_event}")
    session.add(row)
    await session.flush()
    body = texts.preview(appeal, row.text, await _files(session, appeal.id), ctx.mail_configured)
    await outbox.enqueue(session, row.preview_key, room_ref(appeal.id), "m.room.message",
                         {**texts.notice(body),
                          "m.relates_to": {"m.in_reply_to": {"event_id": command_event}}})
    return row


async def revise(session: AsyncSession, ctx: Context, appeal: Appeal, row: PendingAnswer,
                 text: str) -> None:
    """Its author edited the `!answer`: the new text is the pending one; the preview follows."""
    answerable(appeal, text)
    row.text = text.strip()
    await _show(session, ctx, appeal, row, await _files(session, appeal.id))


async def add_file(session: AsyncSession, ctx: Context, appeal: Appeal, row: PendingAnswer,
                   f: StoredFile, source_event: str) -> bool:
    """A file sent as a reply to the preview: it goes with the answer, once confirmed (once per
    Matrix event). The preview lists it."""
    if not await add_answer_file(session, appeal, f, source_event, origin="pending"):
        return False
    await _show(session, ctx, appeal, row, await _files(session, appeal.id))
    return True


async def confirm(session: AsyncSession, ctx: Context, appeal: Appeal, actor: str, who: str,
                  *, preview_event: str | None = None) -> str | None:
    """Send the pending answer, exactly as `operations.answer` does, once. With `preview_event`
    (a ✅ on a preview) only the answer of that preview, if it still waits. Returns the outbox
    key of the bot's confirmation, or None when nothing was waiting."""
    row = await (by_preview(session, appeal.id, preview_event) if preview_event is not None
                 else pending(session, appeal.id))
    if row is None or row.state != "pending":
        return None
    answerable(appeal, row.text)  # refused before anything changes (a closed appeal)
    files = await _files(session, appeal.id)
    if not await _take(session, row, "sent", actor):
        return None
    key = await answer(session, ctx, appeal, row.text, actor)
    await session.execute(update(AppealAttachment).where(
        AppealAttachment.appeal_id == appeal.id, AppealAttachment.origin == "pending")
        .values(origin="answer"))
    await _show(session, ctx, appeal, row, files, who)
    return key


async def cancel(session: AsyncSession, ctx: Context, appeal: Appeal, actor: str, who: str
                 ) -> bool:
    """Nothing is sent; the files sent for it are dropped. False if nothing was waiting."""
    row = await pending(session, appeal.id)
    if row is None or not await _decide(session, ctx, appeal, row, "cancelled", actor, who):
        return False
    await session.execute(delete(AppealAttachment).where(
        AppealAttachment.appeal_id == appeal.id, AppealAttachment.origin == "pending"))
    return True


async def _take(session: AsyncSession, row: PendingAnswer, state: str, actor: str) -> bool:
    """The one step from `pending`: whoever makes it first decides, any later try finds it done."""
    result = await session.execute(update(PendingAnswer).where(
        PendingAnswer.id == row.id, PendingAnswer.state == "pending")
        .values(state=state, decided_by=actor, decided_at=utcnow()))
    return affected(result) == 1


async def _decide(session: AsyncSession, ctx: Context, appeal: Appeal, row: PendingAnswer,
                  state: str, actor: str, who: str) -> bool:
    if not await _take(session, row, state, actor):
        return False
    await _show(session, ctx, appeal, row, [], who)
    return True


async def _files(session: AsyncSession, appeal_id: int) -> list[tuple[str, int]]:
    return [(f.name, f.size) for f in await pending_files(session, appeal_id)]


async def _show(session: AsyncSession, ctx: Context, appeal: Appeal, row: PendingAnswer,
                files: list[tuple[str, int]], who: str = "") -> None:
    """The bot edits its preview (m.replace) to say what the answer is now."""
    row.revision += 1
    body = texts.preview(appeal, row.text, files, ctx.mail_configured, row.state, who)
    await outbox.enqueue(session, f"{row.preview_key}:{row.revision}", room_ref(appeal.id),
                         "m.room.message", _edit(row.preview_key, body))


def _edit(original_key: str, body: str) -> dict[str, Any]:
    short = body if len(body) <= FALLBACK_CHARS else body[:FALLBACK_CHARS] + "…"
    return {**texts.notice("* " + short), "m.new_content": texts.notice(body),
            "m.relates_to": {"rel_type": "m.replace",
                             "event_id": outbox.EVENT_REF + original_key}}
