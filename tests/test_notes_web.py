"""Private notes on the web, without a homeserver, on SQLite and PostgreSQL: the JSON API and the
cabinet's forms for the author; 404 (never 403) to every other deputy, the secretariat and the
staff token on every route; CSRF, bad input and unsafe `next` refused with nothing written; the
note box macro; the OpenAPI document."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp_jinja2
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from council import accounts, notes
from council.models import OutboxMessage
from council.store import Store
from tests.votes_support import SERVER, mxid, plenary_with_items, small_roster
from web import accounts as web_accounts
from web import notes as web_notes
from web.app import SiteInfo, create_app

SECRET = "notes-test-secret-0123456789abcdef"
TOKEN = "notes-staff-token-" + uuid.uuid4().hex
STAFF = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Site:
    url: str
    store: Store
    server: TestServer
    app: Any
    pokes: list[int]

    async def login(self, member: str) -> dict[str, str]:
        """Headers of a signed-in browser (cookie) making a JSON change (CSRF header)."""
        async with self.store.session() as s:
            token = await accounts.start_session(s, mxid(member), "test")
        return {"Cookie": f"kb_session={token}",
                "X-CSRF-Token": web_accounts.session_csrf(SECRET, token)}

    async def call(self, method: str, path: str, headers: dict[str, str] | None = None,
                   body: Any = None, **kw: Any) -> tuple[int, Any]:
        data = json.dumps(body) if body is not None and not isinstance(body, str | bytes) else body
        async with aiohttp.ClientSession() as http, http.request(
                method, self.url + path, headers={"Content-Type": "application/json", **(headers or {})},
                data=data, allow_redirects=False, **kw) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    async def form(self, path: str, headers: dict[str, str], fields: dict[str, str]
                   ) -> aiohttp.ClientResponse:
        cookie = {"Cookie": headers["Cookie"]} if "Cookie" in headers else {}
        async with aiohttp.ClientSession() as http, http.post(
                self.url + path, data=fields, headers=cookie, allow_redirects=False) as resp:
            await resp.read()
            return resp


@pytest.fixture
async def site(store: Store, tmp_path: Path) -> AsyncIterator[Site]:
    roster = small_roster()
    await plenary_with_items(store, tmp_path, roster, items=2)
    app = create_app(SiteInfo(roster.council.name, SERVER, "http://127.0.0.1:1", "#c:" + SERVER,
                              "https://rada.example"), roster, {})
    web_accounts.setup(app, web_accounts.Deps(
        store=store, roster=lambda: roster, server_name=SERVER, session_secret=SECRET,
        staff_token=TOKEN, homeserver_url="http://127.0.0.1:1", base_url="https://rada.example",
        secure_cookies=False))
    pokes: list[int] = []
    web_notes.setup(app, web_notes.Deps(store, lambda: pokes.append(1)))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield Site(str(server.make_url("")).rstrip("/"), store, server, app, pokes)
    await server.close()


async def _written(store: Store) -> tuple[int, int]:
    """(notes, note outbox rows): what a refused request must leave unchanged."""
    async with store.session() as s:
        return (int(await s.scalar(select(func.count()).select_from(notes.Note)) or 0),
                int(await s.scalar(select(func.count()).select_from(OutboxMessage)
                                   .where(OutboxMessage.key.like("note:%"))) or 0))


async def test_the_author_writes_reads_edits_and_deletes_through_the_api(site: Site):
    me = await site.login("bondar")
    status, made = await site.call("POST", "/api/v1/notes", me, {"subject": "draft:2",
                                                                 "body": "  Спитати про кошторис "})
    assert status == 201, made
    assert (made["subject"], made["body"], made["origin"]) == ("draft:2", "Спитати про кошторис", "web")
    assert made["subject_label"].endswith("№ 2: Про питання 2") and site.pokes
    status, listed = await site.call("GET", "/api/v1/notes", me)
    assert status == 200 and [n["id"] for n in listed["notes"]] == [made["id"]]
    status, edited = await site.call("PATCH", f"/api/v1/notes/{made['id']}", me, {"body": "Інакше"})
    assert status == 200 and edited["body"] == "Інакше" and edited["edited_at"]
    status, got = await site.call("GET", f"/api/v1/notes/{made['id']}", me)
    assert status == 200 and got["body"] == "Інакше"
    status, _ = await site.call("DELETE", f"/api/v1/notes/{made['id']}", me)
    assert status == 204
    status, _ = await site.call("GET", f"/api/v1/notes/{made['id']}", me)
    assert status == 404
    async with site.store.session() as s:
        keys = list(await s.scalars(select(OutboxMessage.key).where(OutboxMessage.key.like("note:%"))
                                    .order_by(OutboxMessage.id)))
    assert keys == [f"note:{made['id']}", f"note:{made['id']}:edit:2", f"note:{made['id']}:delete"]


async def test_nobody_else_can_read_edit_or_delete_a_note_through_any_route(site: Site):
    me = await site.login("bondar")
    _, made = await site.call("POST", "/api/v1/notes", me, {"body": "Лише моє"})
    path = f"/api/v1/notes/{made['id']}"
    before = await _written(site.store)
    others = {"deputy": await site.login("hnatiuk"), "head": await site.login("holova"),
              "secretariat": await site.login("sekretar"), "staff token": STAFF}
    for who, headers in others.items():
        status, listed = await site.call("GET", "/api/v1/notes", headers)
        if who == "staff token":  # it has no notes at all
            assert (status, listed["errcode"]) == (403, "KB_NO_NOTES_ROOM")
        else:
            assert status == 200 and listed["notes"] == [], who
        for method, body in (("GET", None), ("PATCH", {"body": "чуже"}), ("DELETE", None)):
            status, answer = await site.call(method, path, headers, body)
            assert (status, answer["errcode"]) == (404, "KB_UNKNOWN_NOTE"), (who, method, answer)
    status, answer = await site.call("POST", "/api/v1/notes", STAFF, {"body": "від токена"})
    assert status == 403, answer  # the staff token has no notes room
    for method, body in (("GET", None), ("PATCH", {"body": "x"}), ("DELETE", None)):
        status, _ = await site.call(method, path, {}, body)
        assert status == 401
    status, _ = await site.call("GET", "/api/v1/notes", {})
    assert status == 401
    for who in ("hnatiuk", "sekretar"):  # the forms: the 404 page, nothing changed
        headers = await site.login(who)
        csrf = headers["X-CSRF-Token"]
        for action in (f"/cabinet/notes/{made['id']}", f"/cabinet/notes/{made['id']}/delete"):
            resp = await site.form(action, headers, {"csrf": csrf, "body": "чуже", "next": "/cabinet"})
            assert resp.status == 404, (who, action)
    resp = await site.form(f"/cabinet/notes/{made['id']}/delete", {}, {"next": "/cabinet"})
    assert resp.status == 303 and resp.headers["Location"].startswith("/login")
    assert await _written(site.store) == before
    status, mine = await site.call("GET", path, me)
    assert status == 200 and mine["body"] == "Лише моє"


async def test_the_forms_check_csrf_and_go_back_only_to_this_site(site: Site):
    me = await site.login("bondar")
    csrf = me["X-CSRF-Token"]
    resp = await site.form("/cabinet/notes", me, {"body": "Без токена", "next": "/cabinet"})
    assert resp.status == 403
    resp = await site.form("/cabinet/notes", me, {"csrf": "x" * 32, "body": "Чужий токен"})
    assert resp.status == 403
    assert await _written(site.store) == (0, 0)
    for target, back in (("/cabinet#draft-2", "/cabinet#draft-2"), ("//evil.example/", "/cabinet"),
                         ("https://evil.example/", "/cabinet"), ("/\\evil.example", "/cabinet"),
                         ("", "/cabinet")):
        resp = await site.form("/cabinet/notes", me, {"csrf": csrf, "subject": "draft:1",
                                                      "body": "Замітка", "next": target})
        assert (resp.status, resp.headers["Location"]) == (303, back), target
    async with site.store.session() as s:
        [first, *_] = await notes.for_author(s, mxid("bondar"))
    assert first.subject == "draft:1"
    resp = await site.form(f"/cabinet/notes/{first.id}", me, {"csrf": csrf, "body": "Змінено",
                                                              "next": "/cabinet#notes"})
    assert (resp.status, resp.headers["Location"]) == (303, "/cabinet#notes")
    resp = await site.form(f"/cabinet/notes/{first.id}/delete", me, {"csrf": csrf, "next": "/cabinet"})
    assert resp.status == 303
    async with site.store.session() as s:
        assert first.id not in {n.id for n in await notes.for_author(s, mxid("bondar"))}
    resp = await site.form(f"/cabinet/notes/{first.id}", me, {"csrf": csrf, "body": "знову"})
    assert resp.status == 404


async def test_bad_input_is_refused_and_nothing_is_written(site: Site):
    me = await site.login("bondar")
    csrf_less = {"Cookie": me["Cookie"]}
    cases: list[tuple[str, str, dict[str, str], Any, int]] = [
        ("POST", "/api/v1/notes", me, {"body": ""}, 422),
        ("POST", "/api/v1/notes", me, {"body": "   "}, 422),
        ("POST", "/api/v1/notes", me, {"body": "я" * 10_001}, 422),
        ("POST", "/api/v1/notes", me, {"body": "x", "subject": "draft:999"}, 422),
        ("POST", "/api/v1/notes", me, {"body": "x", "subject": "sitting:1"}, 422),
        ("POST", "/api/v1/notes", me, {"body": "x", "author": "@hnatiuk:kabinet.test"}, 422),
        ("POST", "/api/v1/notes", me, {"body": 5}, 422),
        ("POST", "/api/v1/notes", me, "[1]", 400),
        ("POST", "/api/v1/notes", me, "{not json", 400),
        ("POST", "/api/v1/notes", csrf_less, {"body": "без CSRF"}, 403),
        ("PATCH", "/api/v1/notes/abc", me, {"body": "x"}, 404),
        ("PATCH", "/api/v1/notes/99999999999999999999", me, {"body": "x"}, 404),
        ("DELETE", "/api/v1/notes/0", me, None, 404),
    ]
    for method, path, headers, body, expected in cases:
        status, answer = await site.call(method, path, headers, body)
        assert status == expected, (method, path, body, answer)
    csrf = me["X-CSRF-Token"]
    for fields in ({"csrf": csrf, "body": ""}, {"csrf": csrf, "body": "x" * 10_001},
                   {"csrf": csrf, "body": "x", "subject": "appeal:5"}):
        resp = await site.form("/cabinet/notes", me, fields)
        assert resp.status == 422, fields
    assert await _written(site.store) == (0, 0)


async def test_the_note_box_labels_every_field_and_has_no_script(site: Site):
    me = await site.login("bondar")
    _, made = await site.call("POST", "/api/v1/notes", me, {"subject": "draft:1", "body": "<b>Ось</b>"})
    async with site.store.session() as s:
        found = await notes.for_author(s, mxid("bondar"))
    env = aiohttp_jinja2.get_env(site.app)
    template = env.from_string('{% from "_notes.html" import note_box %}'
                               '{{ note_box(subject, notes, csrf, next, _) }}')
    from web import i18n
    html = template.render(subject="draft:1", notes=found, csrf="TOKEN", next="/cabinet#draft-1",
                           _=i18n.translations("uk").gettext)
    assert "&lt;b&gt;Ось&lt;/b&gt;" in html and "<script" not in html and "style=" not in html
    assert f'action="/cabinet/notes/{made["id"]}"' in html
    assert f'action="/cabinet/notes/{made["id"]}/delete"' in html
    assert 'name="subject" value="draft:1"' in html and "Додати замітку" in html
    ids = set(re.findall(r'<textarea id="([^"]+)"', html))
    assert ids and ids == set(re.findall(r'<label for="([^"]+)"', html))
    assert html.count('value="TOKEN"') == 3 and html.count('value="/cabinet#draft-1"') == 3
    empty = template.render(subject=None, notes=[], csrf="T", next="/cabinet",
                            _=i18n.translations("en").gettext)
    assert 'name="subject"' not in empty and "Add note" in empty


async def test_the_notes_api_is_in_the_openapi_document(site: Site):
    from openapi_spec_validator import validate

    status, doc = await site.call("GET", "/api/openapi.json")
    assert status == 200
    validate(doc)
    assert set(doc["paths"]["/api/v1/notes/{id}"]) == {"get", "patch", "delete"}
    assert doc["paths"]["/api/v1/notes"]["post"]["responses"]["422"]
    assert "sessionCookie" in doc["components"]["securitySchemes"]
