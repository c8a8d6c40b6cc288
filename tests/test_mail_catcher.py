"""The demo's mail catcher (issue 12): `kabinet up --demo` without a mail server keeps every
e-mail to citizens in the data dir, and `kabinet mail list|show` and /demo/mail show them; a
production site (no `--demo`, or a real `mail.host`) has no catcher and no such page.

The fast tests build a real Kabinet and serve its own web site (its store and the catcher run;
only the homeserver's part is left out, as nothing here talks to Matrix) and send through the
appeals feature's own mail sender. The last one runs `kabinet up --demo` as `make run` does."""

from __future__ import annotations

import html
import io
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import aiohttp
import aiosmtplib
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.pofile import read_po
from sqlalchemy import select

from council import appeals
from council.outbox import mail as mailqueue
from council.roster import load_roster
from kabinet import mailcatcher
from kabinet.cli import banner
from kabinet.features.appeals import Appeals, context
from kabinet.wiring import Kabinet
from tests.conftest import REPO, SMALL_ROSTER, free_port, test_settings
from web.demo import mailbox

SCRIPT = "<script>alert('x')</script>"
CYRILLIC = re.compile(r"[А-Яа-яІіЇїЄєҐґ]")


def kabinet_cli(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kabinet", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=REPO)


def site_of(kabinet: Kabinet) -> web.Application:
    """The Kabinet's own web site, without starting the homeserver (nothing here needs it)."""
    app = kabinet.web_app()
    app.cleanup_ctx.remove(kabinet.homeserver_ctx)
    return app


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Kabinet, str]]:
    """A demo Kabinet (no mail server configured) serving its site, with the catcher listening."""
    settings = mailcatcher.for_demo(test_settings(tmp_path / "var", SMALL_ROSTER), demo=True)
    kabinet = Kabinet(settings, load_roster(SMALL_ROSTER))
    server = TestServer(site_of(kabinet), host="127.0.0.1")
    await server.start_server()
    yield kabinet, str(server.make_url("")).rstrip("/")
    await server.close()


async def get(url: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        return resp.status, await resp.text(), dict(resp.headers)


def test_only_the_demo_without_a_mail_server_starts_a_catcher(tmp_path: Path):
    plain = test_settings(tmp_path / "var", SMALL_ROSTER)
    assert mailcatcher.for_demo(plain, demo=False) is plain  # production: mail stays queued
    configured = test_settings(tmp_path / "var", SMALL_ROSTER, **{"mail.host": "smtp.example.org"})
    assert mailcatcher.for_demo(configured, demo=True) is configured  # a real server wins
    demo = mailcatcher.for_demo(plain, demo=True)
    catcher = mailcatcher.catcher_of(demo)
    try:
        assert catcher is not None and mailcatcher.catcher_of(plain) is None
        assert (demo.mail.host, demo.mail.port, demo.mail.tls) == ("127.0.0.1", catcher.port, "none")
        assert plain.mail.host is None  # the loaded settings are not changed, nothing is written
        assert catcher.folder == tmp_path / "var" / "demo-mail"
        assert context(Kabinet(demo, load_roster(SMALL_ROSTER))).mail_configured  # "queued"
        assert not context(Kabinet(plain, load_roster(SMALL_ROSTER))).mail_configured
    finally:
        if catcher:
            catcher.close()


async def test_a_site_without_the_catcher_has_no_demo_mail_page(tmp_path: Path):
    for settings in (test_settings(tmp_path / "var", SMALL_ROSTER),
                     test_settings(tmp_path / "var", SMALL_ROSTER, **{"mail.host": "127.0.0.1"})):
        kabinet = Kabinet(mailcatcher.for_demo(settings, demo=settings.mail.host is not None),
                          load_roster(SMALL_ROSTER))
        app = site_of(kabinet)
        assert not [r for r in app.router.routes() if "/demo" in r.resource.canonical]
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            for path in ("/demo/mail", "/demo/mail/20260101T000000Z-1.eml"):
                status, _, _ = await get(str(server.make_url(path)))
                assert status == 404, path
        finally:
            await server.close()
    assert not (tmp_path / "var" / "demo-mail").exists()


async def caught_appeal(kabinet: Kabinet) -> list[mailqueue.MailJob]:
    """A citizen's appeal with an e-mail address, answered (the answer holds a script): its
    receipt and its answer are queued, then sent by the appeals feature's own mail sender.
    Returns the two mail jobs, oldest first."""
    ctx = context(kabinet)
    async with kabinet.store.session() as s:
        appeal, _ = await appeals.register(s, ctx, appeals.NewAppeal(
            name="Литвин Ганна Степанівна", residence="с. Тестове, вул. Садова, 3",
            email="hanna@example.org", subject="Ремонт дороги", text="Прошу відремонтувати дорогу.",
            addressee_kind="deputy", addressee_deputy="bondar"))
        await appeals.answer(s, ctx, appeal, f"Дорогу відремонтують у травні. {SCRIPT}", "bondar")
    sender = kabinet.feature(Appeals).mail
    assert await sender.round() and sender.sent == 2
    async with kabinet.store.session() as s:
        jobs = list(await s.scalars(select(mailqueue.MailJob).order_by(mailqueue.MailJob.id)))
    assert [j.status for j in jobs] == ["sent", "sent"]
    return jobs


async def test_the_mail_is_kept_in_the_data_dir_and_shown_on_the_page_and_in_the_terminal(served):
    kabinet, url = served
    receipt, answer = await caught_appeal(kabinet)
    assert CYRILLIC.search(receipt.subject) and CYRILLIC.search(answer.subject)
    folder = kabinet.settings.data_dir / "demo-mail"
    files = sorted(folder.iterdir())
    assert len(files) == 2 and all(re.fullmatch(r"\d{8}T\d{6}Z-\d+\.eml", f.name) for f in files)
    assert folder.stat().st_mode & 0o777 == 0o700
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    raw = b"".join(f.read_bytes() for f in files)
    assert b"=?utf-8?" in raw and receipt.subject.encode() not in raw  # RFC 2047 on the wire
    newest, oldest = mailbox.entries(folder)
    assert (newest.subject, oldest.subject) == (answer.subject, receipt.subject)  # decoded
    assert newest.to == oldest.to == "hanna@example.org"

    status, page, headers = await get(url + "/demo/mail")
    assert status == 200 and "Демо-пошта" in page and "no-store" in headers["Cache-Control"]
    assert html.escape(receipt.subject) in page and "hanna@example.org" in page
    assert page.index(newest.name) < page.index(oldest.name)  # newest first
    status, message, _ = await get(f"{url}/demo/mail/{newest.name}")
    assert status == 200 and "Дорогу відремонтують у травні." in message
    assert SCRIPT not in message and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in message
    assert "Demo mail" in (await get(url + "/demo/mail?lang=en"))[1]
    for bad in ("../secrets.yaml", "%2e%2e%2fsecrets.yaml", "20990101T000000Z-1.eml", "x.eml"):
        assert (await get(f"{url}/demo/mail/{bad}"))[0] == 404, bad

    listed = kabinet_cli("mail", "list", "--data-dir", kabinet.settings.data_dir)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert "received" in lines[0] and "subject" in lines[0]
    assert lines[1].startswith("  1 ") and str(folder / newest.name) in lines[1]
    assert "hanna@example.org" in lines[2] and receipt.subject[:40] in lines[2]
    shown = kabinet_cli("mail", "show", "2", "--data-dir", kabinet.settings.data_dir)
    assert shown.returncode == 0, shown.stderr
    assert f"Subject:  {receipt.subject}\n" in shown.stdout
    assert receipt.body.strip() in shown.stdout
    by_file = kabinet_cli("mail", "show", folder / newest.name, "--data-dir", kabinet.settings.data_dir)
    assert by_file.returncode == 0 and SCRIPT in by_file.stdout  # a terminal shows text as text
    missing = kabinet_cli("mail", "show", "3", "--data-dir", kabinet.settings.data_dir)
    assert missing.returncode == 2 and "no message 3" in missing.stderr


async def test_only_text_parts_are_shown_and_no_control_character_passes(served):
    kabinet, url = served
    catcher = mailcatcher.catcher_of(kabinet.settings)
    assert catcher is not None
    msg = EmailMessage()
    msg["From"] = "someone@example.org"
    msg["To"] = "citizen@example.org"
    msg["Subject"] = "Лист\x1b[31m з HTML"
    msg.set_content("Текстова частина.\x1b]0;title\x07")
    msg.add_alternative(f"<p>HTML part {SCRIPT}</p>", subtype="html")
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="a.pdf")
    await aiosmtplib.send(msg, hostname="127.0.0.1", port=catcher.port)
    [entry] = mailbox.entries(catcher.folder)
    assert "\x1b" not in entry.subject and entry.subject.startswith("Лист")
    shown = mailbox.show(entry.path)
    assert [t.strip() for t in shown.texts] == ["Текстова частина.]0;title"]
    assert shown.others == ["text/html", "application/pdf: a.pdf"]
    status, page, _ = await get(f"{url}/demo/mail/{entry.name}")
    assert status == 200 and "HTML part" not in page
    assert "text/html" in page and "\x1b" not in page
    kept = message_from_bytes(entry.path.read_bytes(), policy=policy.default)
    assert kept.get_body(("html",)) is not None  # kept as sent, only shown as text


async def test_a_message_that_cannot_be_kept_is_refused_for_now(tmp_path: Path):
    """451, not 250: the sender keeps the job and tries again (nothing is lost, nothing claimed)."""
    catcher = mailcatcher.catcher_of(
        mailcatcher.for_demo(test_settings(tmp_path / "var", SMALL_ROSTER), demo=True))
    assert catcher is not None
    catcher.folder.parent.mkdir(parents=True, exist_ok=True)
    catcher.folder.write_text("a file where the folder should be")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.org", "b@example.org", "Тест"
    msg.set_content("Текст.")
    async with asynccontextmanager(catcher.serve)():
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await aiosmtplib.send(msg, hostname="127.0.0.1", port=catcher.port)
    assert refused.value.code == 451 and catcher.caught == 0


def test_the_banner_says_where_the_mail_goes(tmp_path: Path):
    demo = mailcatcher.for_demo(test_settings(tmp_path / "var", SMALL_ROSTER), demo=True)
    try:
        said = banner(Kabinet(demo, load_roster(SMALL_ROSTER)), "0 changes", demo=True)
        assert f"kept in {tmp_path / 'var' / 'demo-mail'}, not sent" in said
        assert f"{demo.web.base_url}/demo/mail" in said and "kabinet mail list" in said
        assert "No mail server" not in said
    finally:
        if catcher := mailcatcher.catcher_of(demo):
            catcher.close()
    plain = banner(Kabinet(test_settings(tmp_path / "var", SMALL_ROSTER), load_roster(SMALL_ROSTER)),
                   "0 changes")
    assert "No mail server" in plain and "/demo/mail" not in plain


def test_kabinet_mail_list_without_caught_mail_says_so(tmp_path: Path):
    result = kabinet_cli("mail", "list", "--data-dir", tmp_path / "var")
    assert result.returncode == 0 and "No e-mail caught" in result.stdout
    result = kabinet_cli("mail", "show", "../secrets.yaml", "--data-dir", tmp_path / "var")
    assert result.returncode == 2 and "not a message the demo kept" in result.stderr


PLACEHOLDER = re.compile(r"%\(\w+\)s")


@pytest.mark.parametrize("locale", ["uk", "en"])
def test_every_word_of_the_page_is_in_the_catalogs(locale: str):
    ids = {m for _l, m, _c, _x in extract_from_file(
        "jinja2", REPO / "web/templates/demo_mail.html", keywords=DEFAULT_KEYWORDS)}
    folder = REPO / f"web/locale/{locale}/LC_MESSAGES"
    demo = read_po(io.BytesIO((folder / "demo.po").read_bytes()), locale=locale)
    site = read_po(io.BytesIO((folder / "messages.po").read_bytes()), locale=locale)
    for msg in ids:
        entry = demo.get(msg) or site.get(msg)
        assert entry is not None, msg
        if locale == "uk":
            assert entry.string and PLACEHOLDER.findall(entry.string) == PLACEHOLDER.findall(msg), msg
    for entry in demo:  # one translation each: the site's words stay in messages.po
        assert not entry.id or entry.id not in site, entry.id


def test_make_run_catches_the_demo_appeals_mail(tmp_path: Path):
    """`kabinet up --demo` as `make run` starts it: the banner says where mail goes, and the
    demo appeals' receipts are on /demo/mail and in `kabinet mail list` while it runs."""
    import time
    import urllib.request

    web_port, data_dir = free_port(), tmp_path / "var"
    env = {**os.environ, "KABINET_HOMESERVER__BCRYPT_ROUNDS": "4"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kabinet", "up", "--demo", "--data-dir", str(data_dir),
         "--roster", str(SMALL_ROSTER), "--web-port", str(web_port),
         "--homeserver-port", str(free_port())],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C stops everything" in line:
                break
        out = "".join(lines)
        assert f"Demo mail:   e-mails to citizens are kept in {data_dir / 'demo-mail'}" in out, out
        assert "No mail server" not in out
        reader = threading.Thread(target=lambda: lines.extend(proc.stdout or ()), daemon=True)
        reader.start()
        deadline = time.monotonic() + 60
        while len(mailbox.entries(data_dir / "demo-mail")) < 3 and time.monotonic() < deadline:
            time.sleep(0.5)  # two receipts and one answer, sent by the running mail sender
        subjects = [e.subject for e in mailbox.entries(data_dir / "demo-mail")]
        # The receipts of the two demo appeals with an address, and the answer to the third.
        numbers = [m.group(0)[-1] for s in subjects if (m := re.search(r"Д-\d{4}/\d{6}", s))]
        assert sorted(numbers) == ["1", "3", "3"], subjects
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/demo/mail", timeout=30) as resp:
            page = resp.read().decode()
        assert all(s.split(" / ")[0] in page for s in subjects)
        listed = kabinet_cli("mail", "list", "--data-dir", data_dir)
        assert listed.returncode == 0 and "maria.petrenko@example.org" in listed.stdout
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0, "".join(lines[-40:])
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run(["pkill", "-f", str((data_dir / "homeserver.yaml").resolve())])
