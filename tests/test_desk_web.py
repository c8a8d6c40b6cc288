"""The secretariat's desk and the staff API on SQLite and PostgreSQL: sittings created, several
drafts published in one form, a new version, a withdrawal with its reason and a new order, through
the desk and through the JSON API; each change is in the audit log; bad input is a 4xx that writes
nothing; anonymous visitors are sent to /login (pages) or answered 401 (API), deputies 403."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from council import accounts, appeals
from council import sittings as sittings_domain
from council import votes as votes_domain
from council.store import Store
from kabinet.features.sittings_demo import draft_pdf
from tests.votes_support import KYIV, SERVER, context, sittings_context, small_roster
from web import accounts as web_accounts
from web import desk as web_desk
from web import sittings as web_sittings
from web import votes as web_votes
from web.app import create_app
from web.pages import SiteInfo

TOKEN = "desk-staff-token"
SECRET = "desk-session-secret"
SECRETARY = f"@sekretar:{SERVER}"
DEPUTY = f"@bondar:{SERVER}"


@dataclass
class Site:
    url: str
    store: Store
    server: TestServer
    pokes: list[str] = field(default_factory=list)

    async def session_of(self, mxid: str) -> dict[str, str]:
        """Headers of a signed-in browser: the session cookie; `csrf` is its form token."""
        async with self.store.session() as s:
            token = await accounts.start_session(s, mxid, "test")
        return {"Cookie": f"{web_accounts.COOKIE}={token}",
                "csrf": web_accounts.session_csrf(SECRET, token)}


async def start_site(store: Store, tmp_path: Path) -> Site:
    roster = small_roster()
    vctx = context(roster)

    def sctx() -> sittings_domain.Context:
        return sittings_context(tmp_path, roster)

    app = create_app(SiteInfo(roster.council.name, SERVER, "http://127.0.0.1:1", "#c:kabinet.test",
                              "https://rada.example"), roster, {})
    pokes: list[str] = []
    web_accounts.setup(app, web_accounts.Deps(
        store, lambda: roster, SERVER, SECRET, TOKEN, "http://127.0.0.1:1", "https://rada.example",
        False))
    web_sittings.setup(app, web_sittings.Deps(store, sctx, TOKEN, lambda: pokes.append("sittings")))
    web_votes.setup(app, web_votes.Deps(store, lambda: vctx, TOKEN, votes_domain.Changes(),
                                        lambda: pokes.append("votes")))
    web_desk.setup(app, web_desk.Deps(
        store, sctx, lambda: vctx, appeals.Context(SERVER, "kabinet_", "https://rada.example",
                                                   tz=KYIV),
        on_sittings_change=lambda: pokes.append("desk-sittings"),
        on_votes_change=lambda sid: pokes.append(f"desk-votes:{sid}"),
        on_appeals_change=lambda: pokes.append("desk-appeals")))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return Site(str(server.make_url("")).rstrip("/"), store, server, pokes)


@pytest.fixture
async def site(store: Store, tmp_path: Path) -> AsyncIterator[Site]:
    s = await start_site(store, tmp_path)
    yield s
    await s.server.close()


def pdf(n: str, text: str = "Текст проєкту.") -> bytes:
    return draft_pdf(n, f"Про питання {n}", "Виконком", [text], pages=1)


def drafts_form(csrf: str, files: list[tuple[str, bytes]], titles: str = "",
                initiator: str = "Виконавчий комітет") -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field("csrf", csrf)
    for name, data in files or [("", b"")]:  # none: the browser's empty file input
        f.add_field("file", data, filename=name, content_type="application/octet-stream")
    f.add_field("titles", titles)
    f.add_field("initiator", initiator)
    f.add_field("commission", "budget")
    return f


def one_file(csrf: str, data: bytes, name: str = "v2.pdf") -> aiohttp.FormData:
    f = aiohttp.FormData()
    f.add_field("csrf", csrf)
    f.add_field("file", data, filename=name, content_type="application/pdf")
    return f


async def call(method: str, url: str, headers: dict[str, str] | None = None, **kw: object
               ) -> tuple[int, str, str]:
    """(status, Location, body) without following redirects."""
    head = {k: v for k, v in (headers or {}).items() if k != "csrf"}
    async with aiohttp.ClientSession() as http, http.request(
            method, url, headers=head, allow_redirects=False, **kw) as r:  # type: ignore[arg-type]
        return r.status, r.headers.get("Location", ""), await r.text()


async def written(store: Store) -> tuple[int, ...]:
    """What a refused request must not add."""
    models = (sittings_domain.Sitting, sittings_domain.AgendaItem, sittings_domain.DraftVersion,
              accounts.AuditEntry, votes_domain.Registration, votes_domain.Vote)
    async with store.session() as s:
        return tuple([await s.scalar(select(func.count()).select_from(m)) or 0 for m in models])


async def audit_log(store: Store) -> list[tuple[str, str, str]]:
    async with store.session() as s:
        return [(e.actor, e.action, e.subject) for e in reversed(await accounts.audit.recent(s))]


def sitting_form(csrf: str, title: str, days: int = 30, **over: str) -> dict[str, str]:
    day = (datetime.now(KYIV) + timedelta(days=days)).date().isoformat()
    return {"csrf": csrf, "kind": "plenary", "number": "12", "title": title, "date": day,
            "time": "10:00", "place": "Сесійна зала", **over}


async def create_sitting(site: Site, me: dict[str, str], title: str, days: int = 30) -> int:
    status, location, _ = await call("POST", f"{site.url}/desk/sittings", me,
                                     data=sitting_form(me["csrf"], title, days))
    assert status == 303, location
    found = re.fullmatch(r"/desk/sittings/(\d+)\?done=created", location)
    assert found, location
    return int(found.group(1))


async def items(store: Store, sid: int) -> list[tuple[str, str, str, int]]:
    """(number, title, status, versions) in agenda order."""
    async with store.session() as s:
        v = await sittings_domain.view(s, sittings_context(Path("/nonexistent"), small_roster()), sid)
    return [(i.number, i.title, i.status, len(vs)) for i, vs in v.items]


async def test_the_desk_publishes_revises_withdraws_and_reorders(site: Site) -> None:
    me = await site.session_of(SECRETARY)
    status, _, page = await call("GET", f"{site.url}/desk", me)
    assert status == 200 and me["csrf"] in page and 'id="create-sitting"' in page
    sid = await create_sitting(site, me, "Двадцята сесія")
    status, location, _ = await call("POST", f"{site.url}/desk/sittings/{sid}/drafts", me,
                                     data=drafts_form(me["csrf"], [("Про бюджет.pdf", pdf("1")),
                                                                   ("zemlia.pdf", pdf("2"))],
                                                      titles="Про бюджет на 2027 рік\n"))
    assert status == 303 and location == f"/desk/sittings/{sid}?done=added&added=1,2#agenda"
    assert await items(site.store, sid) == [
        ("1", "Про бюджет на 2027 рік", "active", 1), ("2", "zemlia", "active", 1)]
    status, _, page = await call("GET", f"{site.url}{location}", me)
    assert status == 200 and 'id="added"' in page and "№ 1, № 2" in page
    assert 'id="law-ok"' in page  # 30 days ahead: in time for art. 15 p.3

    async with site.store.session() as s:
        first = (await sittings_domain.view(s, sittings_context(Path("/x"), small_roster()), sid)).items
    one, two = first[0][0].id, first[1][0].id
    status, location, _ = await call("POST", f"{site.url}/desk/sittings/{sid}/items/{one}/versions",
                                     me, data=one_file(me["csrf"], pdf("1", "Нова редакція.")))
    assert status == 303 and "done=revised" in location
    status, location, _ = await call("POST", f"{site.url}/desk/sittings/{sid}/items/{two}/withdraw",
                                     me, data={"csrf": me["csrf"], "reason": "Відкликано ініціатором"})
    assert status == 303 and "done=withdrawn" in location
    status, location, _ = await call("POST", f"{site.url}/desk/sittings/{sid}/order", me,
                                     data={"csrf": me["csrf"], "number": "2", "move": "up"})
    assert status == 303 and "done=reordered" in location
    assert await items(site.store, sid) == [
        ("2", "zemlia", "withdrawn", 1), ("1", "Про бюджет на 2027 рік", "active", 2)]
    status, location, _ = await call("POST", f"{site.url}/desk/sittings/{sid}/order", me,
                                     data={"csrf": me["csrf"], "order": "1 2"})
    assert status == 303 and [n for n, *_ in await items(site.store, sid)] == ["1", "2"]

    log = await audit_log(site.store)
    assert [a for _, a, _ in log] == ["sitting.create", "draft.add", "draft.add", "draft.revise",
                                      "draft.withdraw", "agenda.reorder", "agenda.reorder"]
    assert {actor for actor, _, _ in log} == {SECRETARY}
    assert {subject for _, _, subject in log} == {f"sitting:{sid}"}
    async with site.store.session() as s:
        [withdrawal] = [e for e in await accounts.audit.recent(s) if e.action == "draft.withdraw"]
    assert withdrawal.detail["reason"] == "Відкликано ініціатором"
    assert site.pokes.count("desk-sittings") == 6
    status, _, page = await call("GET", f"{site.url}/desk/log", me)
    assert status == 200 and page.count("draft.add") == 2 and "Оксана Секретаріат" in page
    status, _, page = await call("GET", f"{site.url}/desk/paper", me)
    assert status == 200 and 'id="paper-total"' in page


async def test_the_law_warnings_show_before_and_after_publishing(site: Site) -> None:
    me = await site.session_of(SECRETARY)
    sid = await create_sitting(site, me, "Позачергова сесія", days=3)
    status, _, page = await call("GET", f"{site.url}/desk/sittings/{sid}", me)
    assert status == 200 and 'id="today-warning"' in page  # before any draft is published
    assert "ст. 46" in page or "46" in page
    status, location, _ = await call("POST", f"{site.url}/desk/sittings/{sid}/drafts", me,
                                     data=drafts_form(me["csrf"], [("a-draft.pdf", pdf("1"))]))
    assert status == 303
    status, _, page = await call("GET", f"{site.url}{location}", me)
    assert status == 200 and "№ 1: " in page and "law-warning" in page  # the upload's answer


async def test_bad_input_is_refused_and_nothing_is_written(site: Site) -> None:
    me = await site.session_of(SECRETARY)
    sid = await create_sitting(site, me, "Сесія для відмов")
    await call("POST", f"{site.url}/desk/sittings/{sid}/drafts", me,
               data=drafts_form(me["csrf"], [("one.pdf", pdf("1"))]))
    before = await written(site.store)
    base = f"{site.url}/desk/sittings/{sid}"
    cases: list[tuple[str, str, object, int]] = [
        ("/drafts", "no csrf", drafts_form("", [("x.pdf", pdf("2"))]), 403),
        ("/drafts", "wrong csrf", drafts_form("forged", [("x.pdf", pdf("2"))]), 403),
        ("/drafts", "a GIF", drafts_form(me["csrf"], [("pic.pdf", b"GIF89a not a document")]), 415),
        ("/drafts", "one good, one bad: none", drafts_form(me["csrf"], [
            ("good.pdf", pdf("2")), ("bad.pdf", b"%PDF-1.4 truncated")]), 400),
        ("/drafts", "no initiator", drafts_form(me["csrf"], [("x.pdf", pdf("2"))], initiator=""), 422),
        ("/drafts", "a title too short", drafts_form(me["csrf"], [("x.pdf", pdf("2"))], titles="ab"),
         422),
        ("/drafts", "no files", drafts_form(me["csrf"], []), 400),
        ("/order", "a number twice", {"csrf": me["csrf"], "order": "1 1"}, 400),
        ("/order", "no csrf", {"order": "1"}, 403),
        ("/items/999999/withdraw", "unknown item", {"csrf": me["csrf"], "reason": "Причина"}, 404),
        ("/votes", "no quorum", {"csrf": me["csrf"], "item": "1"}, 409),
        ("/votes", "bad minutes", {"csrf": me["csrf"], "item": "1", "minutes": "٣"}, 422),
        ("/votes/close", "no vote", {"csrf": me["csrf"]}, 409),
        ("/registration", "no csrf", {}, 403),
    ]
    for path, why, body, want in cases:
        status, _, page = await call("POST", base + path, me, data=body)
        assert status == want, (why, page[-500:])
        assert await written(site.store) == before, why
    async with site.store.session() as s:
        item = (await sittings_domain.view(s, sittings_context(Path("/x"), small_roster()), sid)).items[0][0]
    status, _, page = await call("POST", f"{base}/items/{item.id}/withdraw", me,
                                 data={"csrf": me["csrf"], "reason": " "})
    assert status == 422 and 'id="desk-error"' in page
    status, _, page = await call("POST", f"{base}/items/{item.id}/versions", me,
                                 data=one_file(me["csrf"], b"not a document at all", "x.docx"))
    assert status == 415 and "x.docx" in page
    status, _, page = await call("POST", f"{site.url}/desk/sittings", me,
                                 data=sitting_form(me["csrf"], "Сесія", date="31.12.2026"))
    assert status == 422
    status, _, _ = await call("POST", f"{site.url}/desk/sittings", me,
                              data=sitting_form(me["csrf"], "Сесія", kind="commission", body="no"))
    assert status == 404
    assert await written(site.store) == before
    assert site.pokes.count("desk-sittings") == 2  # the sitting and its first draft only


async def test_anonymous_visitors_go_to_login_and_deputies_are_refused(site: Site) -> None:
    sid = await create_sitting(site, await site.session_of(SECRETARY), "Сесія для перевірки прав")
    before = await written(site.store)
    for path in ("/desk", f"/desk/sittings/{sid}", "/desk/appeals", "/desk/log", "/desk/paper"):
        status, location, _ = await call("GET", site.url + path)
        assert status == 303 and location == "/login?next=" + path
    status, location, _ = await call("POST", f"{site.url}/desk/sittings",
                                     data=sitting_form("", "Анонімна"))
    assert status == 303 and location.startswith("/login")
    deputy = await site.session_of(DEPUTY)
    for path in ("/desk", f"/desk/sittings/{sid}", "/desk/log"):
        status, _, _ = await call("GET", site.url + path, deputy)
        assert status == 403
    status, _, _ = await call("POST", f"{site.url}/desk/sittings", deputy,
                              data=sitting_form(deputy["csrf"], "Депутатська"))
    assert status == 403
    status, _, _ = await call("POST", f"{site.url}/desk/sittings/{sid}/registration", deputy,
                              data={"csrf": deputy["csrf"]})
    assert status == 403
    api = f"{site.url}/api/v1/sittings"
    body = {"kind": "plenary", "title": "Через API", "place": "Зала",
            "starts_at": "2030-03-01T10:00:00+02:00"}
    for headers, want, code in (({}, 401, "KB_UNAUTHORIZED"),
                                ({"Authorization": "Bearer wrong"}, 401, "KB_UNAUTHORIZED"),
                                (deputy, 403, "KB_FORBIDDEN"),
                                ({**deputy, "X-CSRF-Token": deputy["csrf"]}, 403, "KB_FORBIDDEN")):
        for method, path, payload in (("POST", "", body), ("PUT", f"/{sid}/order", ["1"]),
                                      ("POST", f"/{sid}/items/1/withdraw", {"reason": "Так"}),
                                      ("POST", f"/{sid}/registration", None)):
            async with aiohttp.ClientSession() as http, http.request(
                    method, api + path, json=payload,
                    headers={k: v for k, v in headers.items() if k != "csrf"}) as r:
                assert (r.status, (await r.json())["errcode"]) == (want, code), (headers, path)
    secretary = await site.session_of(SECRETARY)
    cookie = {"Cookie": secretary["Cookie"]}
    async with aiohttp.ClientSession() as http:
        async with http.post(api, json=body, headers=cookie) as r:
            assert (r.status, (await r.json())["errcode"]) == (403, "KB_CSRF")
        assert await written(site.store) == before
        async with http.post(api, json=body, headers={**cookie, "X-CSRF-Token": secretary["csrf"]}) as r:
            assert r.status == 201
    assert (await audit_log(site.store))[-1][:2] == (SECRETARY, "sitting.create")


async def test_the_api_revises_withdraws_and_reorders(site: Site) -> None:
    staff = {"Authorization": f"Bearer {TOKEN}"}
    api = f"{site.url}/api/v1/sittings"
    async with aiohttp.ClientSession() as http:
        async with http.post(api, headers=staff, json={
                "kind": "plenary", "title": "Сесія через API", "place": "Зала",
                "starts_at": (datetime.now(KYIV) + timedelta(days=5)).isoformat()}) as r:
            assert r.status == 201
            sid = (await r.json())["id"]
        for n in ("1", "2"):
            f = aiohttp.FormData()
            for k, v in {"number": n, "title": f"Про питання {n}", "initiator": "Виконком"}.items():
                f.add_field(k, v)
            f.add_field("file", pdf(n), filename=f"p{n}.pdf")
            async with http.post(f"{api}/{sid}/drafts", headers=staff, data=f) as r:
                assert r.status == 201
                assert [w["rule"] for w in (await r.json())["warnings"]]  # 5 days ahead: late
        before = await written(site.store)
        refusals: list[tuple[str, str, object, int, str]] = [
            ("PUT", "/order", ["1"], 400, "KB_BAD_ORDER"),
            ("PUT", "/order", ["1", "1"], 400, "KB_BAD_ORDER"),
            ("PUT", "/order", {"order": ["2", "1"]}, 422, "KB_INVALID"),
            ("PUT", "/order", [], 422, "KB_INVALID"),
            ("POST", "/items/1/withdraw", {}, 422, "KB_INVALID"),
            ("POST", "/items/1/withdraw", ["x"], 400, "KB_BAD_JSON"),
            ("POST", "/items/9/withdraw", {"reason": "Причина"}, 404, "KB_UNKNOWN_ITEM"),
        ]
        for method, path, payload, want, code in refusals:
            async with http.request(method, f"{api}/{sid}{path}", json=payload, headers=staff) as r:
                assert (r.status, (await r.json())["errcode"]) == (want, code), (path, payload)
        f = aiohttp.FormData()
        f.add_field("file", b"GIF89a", filename="x.pdf")
        async with http.post(f"{api}/{sid}/items/1/versions", headers=staff, data=f) as r:
            assert (r.status, (await r.json())["errcode"]) == (415, "KB_UNSUPPORTED_FILE")
        async with http.post(f"{api}/{sid}/items/1/versions", headers=staff, json={}) as r:
            assert (r.status, (await r.json())["errcode"]) == (415, "KB_MULTIPART_REQUIRED")
        assert await written(site.store) == before

        f = aiohttp.FormData()
        f.add_field("file", pdf("1", "Друга редакція."), filename="v2.pdf")
        async with http.post(f"{api}/{sid}/items/1/versions", headers=staff, data=f) as r:
            assert r.status == 201, await r.text()
            revised = await r.json()
        assert (revised["number"], revised["version"]) == ("1", 2) and revised["warnings"]
        async with http.post(f"{api}/{sid}/items/2/withdraw", headers=staff,
                             json={"reason": "Відкликано"}) as r:
            assert r.status == 200 and (await r.json())["status"] == "withdrawn"
        async with http.put(f"{api}/{sid}/order", headers=staff, json=["2", "1"]) as r:
            assert r.status == 200 and (await r.json())["order"] == ["2", "1"]
        me = await site.session_of(SECRETARY)
        async with http.post(f"{api}/{sid}/registration", headers={
                "Cookie": me["Cookie"], "X-CSRF-Token": me["csrf"]}) as r:
            assert r.status == 201
        async with http.get(f"{site.url}/api/openapi.json") as r:
            doc = await r.json()
    assert (await items(site.store, sid)) == [("2", "Про питання 2", "withdrawn", 1),
                                             ("1", "Про питання 1", "active", 2)]
    log = await audit_log(site.store)
    assert [(a, x) for a, x, _ in log] == [
        ("staff-api", "sitting.create"), ("staff-api", "draft.add"), ("staff-api", "draft.add"),
        ("staff-api", "draft.revise"), ("staff-api", "draft.withdraw"),
        ("staff-api", "agenda.reorder"), (SECRETARY, "registration.open")]
    paths = doc["paths"]
    assert {"/api/v1/sittings/{id}/items/{number}/versions",
            "/api/v1/sittings/{id}/items/{number}/withdraw", "/api/v1/sittings/{id}/order"} <= set(paths)
    assert paths["/api/v1/sittings/{id}/order"]["put"]["requestBody"]
    from openapi_spec_validator import validate
    validate(doc)


async def test_registration_and_a_vote_from_the_desk(site: Site) -> None:
    me = await site.session_of(SECRETARY)
    sid = await create_sitting(site, me, "Сесія з голосуванням")
    await call("POST", f"{site.url}/desk/sittings/{sid}/drafts", me,
               data=drafts_form(me["csrf"], [("one.pdf", pdf("1"))]))
    status, location, _ = await call("POST", f"{site.url}/desk/sittings/{sid}/registration", me,
                                     data={"csrf": me["csrf"]})
    assert status == 303 and "done=registration" in location
    assert f"desk-votes:{sid}" in site.pokes
    status, _, page = await call("GET", f"{site.url}{location}", me)
    assert status == 200 and "Повторити реєстрацію" in page
    async with site.store.session() as s:
        [reg] = (await s.scalars(select(votes_domain.Registration))).all()
    assert reg.opened_by == SECRETARY
    assert (await audit_log(site.store))[-1] == (SECRETARY, "registration.open", f"sitting:{sid}")


async def test_appeals_at_the_desk(site: Site) -> None:
    me = await site.session_of(SECRETARY)
    ctx = appeals.Context(SERVER, "kabinet_", "https://rada.example", tz=KYIV)
    new = appeals.NewAppeal(name="Петренко Петро", residence="м. Тест", subject="Ремонт дороги",
                            text="Прошу відремонтувати дорогу.", email="petro@example.com",
                            addressee_kind="deputy", addressee_deputy="bondar")
    async with site.store.session() as s:
        late, _ = await appeals.register(s, ctx, new, today=date.today() - timedelta(days=60))
        fresh, _ = await appeals.register(s, ctx, new)
    status, _, page = await call("GET", f"{site.url}/desk/appeals", me)
    assert status == 200 and late.number in page.split('id="open-h"')[0]  # in the overdue list
    assert fresh.number in page and "petro@example.com" not in page  # no contact data
    before = await written(site.store)
    status, _, page = await call("POST", f"{site.url}/desk/appeals/{late.id}/extend", me,
                                 data={"csrf": me["csrf"], "days": "20", "reason": "Потрібна перевірка"})
    assert status == 409 and 'id="desk-error"' in page  # beyond 45 days: KB_APPEAL_REFUSED
    status, _, _ = await call("POST", f"{site.url}/desk/appeals/{fresh.id}/transfer", me,
                              data={"csrf": me["csrf"], "deputy": "nobody"})
    assert status == 422
    status, _, _ = await call("POST", f"{site.url}/desk/appeals/{fresh.id}/transfer", me,
                              data={"deputy": "hnatiuk"})
    assert status == 403
    assert await written(site.store) == before
    status, location, _ = await call("POST", f"{site.url}/desk/appeals/{fresh.id}/transfer", me,
                                     data={"csrf": me["csrf"], "deputy": "hnatiuk"})
    assert status == 303 and "done=transferred" in location
    status, location, _ = await call("POST", f"{site.url}/desk/appeals/{fresh.id}/extend", me,
                                     data={"csrf": me["csrf"], "days": "10",
                                           "reason": "Потрібна додаткова перевірка"})
    assert status == 303 and "done=extended" in location
    async with site.store.session() as s:
        row = await appeals.by_id(s, fresh.id)
        assert row is not None and row.responsible == "hnatiuk" and row.deadline > fresh.deadline
    log = await audit_log(site.store)
    assert log[-2:] == [(SECRETARY, "appeal.transfer", f"appeal:{fresh.id}"),
                        (SECRETARY, "appeal.extend", f"appeal:{fresh.id}")]
    async with site.store.session() as s:
        details = [e.detail for e in await accounts.audit.recent(s, 2)]
    assert "Потрібна" not in str(details) and "Петренко" not in str(details)
    assert site.pokes.count("desk-appeals") == 2
    status, _, page = await call("GET", f"{site.url}/desk/appeals", me)
    assert status == 200 and "очікує надсилання" in page  # the receipt and extension mails
    status, _, page = await call("GET", f"{site.url}/desk/log?subject=appeal:{fresh.id}", me)
    assert status == 200 and page.count("appeal.") == 2


async def test_a_commission_sittings_drafts_follow_its_numbering(site: Site) -> None:
    """The desk's form numbers as a file dropped in the room does: К-1, К-2 … at a commission."""
    me = await site.session_of(SECRETARY)
    status, location, _ = await call("POST", f"{site.url}/desk/sittings", me, data=sitting_form(
        me["csrf"], "Засідання бюджетної комісії", kind="commission", body="budget"))
    assert status == 303, location
    found = re.fullmatch(r"/desk/sittings/(\d+)\?done=created", location)
    assert found, location
    sid = int(found.group(1))
    form = drafts_form(me["csrf"], [("budget.pdf", pdf("К-1")), ("taxes.pdf", pdf("К-2"))])
    status, location, page = await call("POST", f"{site.url}/desk/sittings/{sid}/drafts", me,
                                        data=form)
    assert status == 303, desk_error(page)
    assert [n for n, *_ in await items(site.store, sid)] == ["К-1", "К-2"]
    status, _, page = await call("GET", f"{site.url}{location}", me)
    assert status == 200 and "№ К-1, № К-2" in page
    status, _, _ = await call("POST", f"{site.url}/desk/sittings/{sid}/drafts", me,
                              data=drafts_form(me["csrf"], [("fees.pdf", pdf("К-3"))]))
    assert status == 303
    assert [n for n, *_ in await items(site.store, sid)] == ["К-1", "К-2", "К-3"]


def desk_error(page: str) -> str:
    found = re.search(r'id="desk-error">(.*?)</p>', page, re.S)
    assert found, page[-800:]
    return html.unescape(found.group(1))


async def test_a_refusal_is_said_in_the_pages_language_only(site: Site) -> None:
    """'Немає файлів / No files chosen' no more: Ukrainian on a Ukrainian page, English on an
    English one (?lang= or the cookie), the domain's refusals too."""
    me = await site.session_of(SECRETARY)
    sid = await create_sitting(site, me, "Сесія двома мовами")
    english = {**me, "Cookie": f"{me['Cookie']}; lang=en"}
    base = f"{site.url}/desk/sittings/{sid}"
    said = {}
    for lang, headers in (("uk", me), ("en", english)):
        _, _, page = await call("POST", f"{base}/drafts", headers, data=drafts_form(me["csrf"], []))
        said[lang, "none"] = desk_error(page)
        _, _, page = await call("POST", f"{base}/votes", headers,
                                data={"csrf": me["csrf"], "item": "1", "minutes": "٣"})
        said[lang, "minutes"] = desk_error(page)
        _, _, page = await call("POST", f"{base}/drafts", headers,
                                data=drafts_form(me["csrf"], [("pic.pdf", b"GIF89a nothing")]))
        said[lang, "file"] = desk_error(page)
        _, _, page = await call("POST", f"{site.url}/desk/sittings", headers,
                                data=sitting_form(me["csrf"], "Сесія", date="2400-01-01"))
        said[lang, "year"] = desk_error(page)
    assert said["uk", "none"] == "Немає файлів" and said["en", "none"] == "No files chosen"
    assert said["uk", "minutes"] == "Тривалість — ціле число хвилин"
    assert said["en", "minutes"] == "The duration is whole minutes"
    assert said["uk", "year"] == "Рік має бути від 1990 до 2100"
    assert said["en", "year"] == "The year must be 1990 to 2100"
    assert said["uk", "file"].startswith("pic.pdf: ") and said["en", "file"].startswith("pic.pdf: ")
    assert said["uk", "file"] != said["en", "file"]  # the domain's reason in each language
    for (lang, why), text in said.items():
        assert " / " not in text, (lang, why, text)
        assert bool(re.search(r"[А-Яа-яІіЇїЄєҐґ]", text)) == (lang == "uk"), (lang, why, text)
    _, _, page = await call("POST", f"{base}/drafts?lang=en", me, data=drafts_form(me["csrf"], []))
    assert desk_error(page) == "No files chosen"
    assert await written(site.store) == (1, 0, 0, 1, 0, 0)  # the sitting and its audit entry
