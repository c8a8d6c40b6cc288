"""What the directory writes: the pinned directory's post and edits, `!dm` requests and the
direct chats that answer them. Each function writes in the caller's unit of work, its outbox
rows with it."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from council import outbox, rooms
from council.directory import cards
from council.directory.search import entries
from council.directory.tables import DirectChat, DirectoryPost, DirectRequest
from council.language import _
from council.models import utcnow
from council.roster import Roster


def post_key(room_key: str) -> str:
    """The outbox key of the directory's first post in a room (the edits' target)."""
    return f"directory:{room_key}"


async def refresh_directory(session: AsyncSession, roster: Roster, server_name: str,
                            room_key: str | None = None) -> int | None:
    """Post the directory once (and pin it), or edit it when its text changed. Returns the
    version written, None when nothing changed (then nothing is written at all)."""
    room_key = room_key or rooms.lounge()
    content = cards.directory_content(roster, entries(roster, server_name))
    digest = cards.digest(content)
    post = await session.get(DirectoryPost, room_key, with_for_update=True)
    if post is not None and post.digest == digest:
        return None
    room, key = rooms.placeholder(room_key), post_key(room_key)
    if post is None:
        post = DirectoryPost(room_key=room_key, digest=digest, version=1)
        session.add(post)
        await outbox.enqueue(session, key, room, "m.room.message", content)
        await outbox.enqueue(session, f"{key}:pin", room, "m.room.pinned_events",
                             {"pinned": [f"{outbox.EVENT_REF}{key}"]}, state_key="")
    else:
        post.version += 1
        post.digest, post.updated_at = digest, utcnow()
        await outbox.enqueue(session, f"{key}:v{post.version}", room, "m.room.message", {
            "msgtype": "m.notice", "body": f"* {content['body']}", "m.new_content": content,
            "m.relates_to": {"rel_type": "m.replace", "event_id": f"{outbox.EVENT_REF}{key}"}})
    await session.flush()
    return post.version


def pair(one: str, other: str) -> tuple[str, str]:
    """The pair in its stored order."""
    a, b = sorted((one, other))
    return a, b


async def request_direct(session: AsyncSession, event_id: str, room_id: str, asker: str,
                         partner: str, partner_name: str) -> bool:
    """Record a `!dm` for the worker; False if this event was recorded already."""
    if await session.get(DirectRequest, event_id) is not None:
        return False
    session.add(DirectRequest(event_id=event_id, room_id=room_id, asker=asker, partner=partner,
                              partner_name=partner_name))
    await session.flush()
    return True


async def pending_requests(session: AsyncSession, limit: int = 20) -> list[DirectRequest]:
    rows = await session.scalars(select(DirectRequest).where(DirectRequest.done_at.is_(None))
                                 .order_by(DirectRequest.created_at).limit(limit))
    return list(rows)


async def latest_chat(session: AsyncSession, one: str, other: str) -> DirectChat | None:
    """The newest room made for the pair, if any."""
    a, b = pair(one, other)
    found: DirectChat | None = await session.scalar(
        select(DirectChat).where(DirectChat.person_a == a, DirectChat.person_b == b)
        .order_by(DirectChat.generation.desc()).limit(1))
    return found


async def record_chat(session: AsyncSession, one: str, other: str, generation: int,
                      room_id: str) -> DirectChat:
    a, b = pair(one, other)
    chat = DirectChat(person_a=a, person_b=b, generation=generation, room_id=room_id)
    session.add(chat)
    await session.flush()
    return chat


@dataclass(frozen=True)
class Answer:
    created: bool  # a new room (else the pair's existing one)


async def answer_request(session: AsyncSession, request: DirectRequest, chat: DirectChat,
                         answer: Answer) -> None:
    """Close the request and reply to the `!dm` with the room's link."""
    request.chat_id, request.done_at = chat.id, utcnow()
    link = f"https://matrix.to/#/{chat.room_id}"
    said = (_("✅ A direct chat with {name} was created: {link} — you both have the invitation",
              name=request.partner_name, link=link) if answer.created else
            _("💬 You already have a direct chat with {name}: {link}", name=request.partner_name,
              link=link))
    await outbox.enqueue(session, f"reply:{request.event_id}", request.room_id, "m.room.message",
                         {"msgtype": "m.notice", "body": said,
                          "m.relates_to": {"m.in_reply_to": {"event_id": request.event_id}}})
    await session.flush()


async def give_up_request(session: AsyncSession, event_id: str) -> None:
    """Close a request the homeserver refused for good, telling the asker."""
    request = await session.get(DirectRequest, event_id)
    if request is None or request.done_at is not None:
        return
    request.done_at = utcnow()
    await outbox.enqueue(session, f"reply:{request.event_id}", request.room_id, "m.room.message", {
        "msgtype": "m.notice",
        "body": _("❌ The chat with {name} could not be created: the homeserver refused. Please "
                  "contact the secretariat", name=request.partner_name),
        "m.relates_to": {"m.in_reply_to": {"event_id": request.event_id}}})
