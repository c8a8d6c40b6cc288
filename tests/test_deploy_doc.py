"""docs/deploy.md, exercised: every YAML and JSON block parses; Kabinet's configuration there
loads as Kabinet loads it; every `kabinet …` line parses on the real command line; the Synapse
settings (docs/examples/synapse-kabinet.yaml, shown whole in the doc, and the same keys in the
matrix-docker-ansible-deploy and Docker examples) are the embedded homeserver's, key for key and
value for value, so that the doc cannot drift from what the tests run; the nginx example sends
each path where the doc says (`nginx -t` too, when nginx is installed). End to end: a Synapse
from PyPI started with that file and the doc's listener beside a minimal homeserver.yaml, the
registration written by the documented command, the accounts made by the documented
`register_new_matrix_user`, Kabinet started against it on a store left at its first migration,
the small roster applied, a deputy in their rooms with matrix-nio and signed in on the site."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import re
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
import yaml
from alembic import command
from alembic.script import ScriptDirectory
from nio import JoinedRoomsResponse, JoinResponse, SyncResponse
from sqlalchemy import Connection, text

from appservice.roster.desired import desired_rooms
from council import rooms as registry
from council.roster import Person, load_roster
from council.store import Store, alembic_config
from kabinet import cli
from kabinet.config import AppealsConfig, HomeserverConfig, SittingsConfig, load_settings
from kabinet.features import default_features
from kabinet.launcher import EmbeddedSynapse, ping_homeserver
from kabinet.synapse_process import keep_output, run_synapse, terminate
from kabinet.synapse_workers import SynapseWorkers
from tests.conftest import REPO, SMALL_ROSTER, Deputies, free_port, start_installation
from tests.matrix_helpers import resolve, room_kind, settle
from tests.test_accounts_matrix import sign_in

DOC = REPO / "docs" / "deploy.md"
SNIPPET = REPO / "docs" / "examples" / "synapse-kabinet.yaml"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)

# The embedded template's top-level keys, each in one of three kinds: what Kabinet needs of any
# homeserver (the snippet, exactly), the client listener (the doc's listener block), and what
# belongs to each deployment (its name, database, secrets, files, federation and workers).
NEEDED = {"app_service_config_files", "auto_accept_invites", "max_upload_size", "rc_message",
          "rc_joins", "rc_joins_per_room", "rc_invites", "rc_login", "rc_registration",
          "rc_room_creation", "rc_media_create"}
LISTENER = {"listeners"}
DEPLOYMENT = {"server_name", "pid_file", "public_baseurl", "report_stats",
              "federation_domain_whitelist", "trusted_key_servers", "suppress_key_server_warning",
              "database", "log_config", "media_store_path", "signing_key_path",
              "registration_shared_secret", "macaroon_secret_key", "form_secret",
              "enable_registration", "bcrypt_rounds", "url_preview_enabled", "enable_metrics",
              "presence", "redis", "worker_replication_secret", "instance_map", "stream_writers",
              "notify_appservices_from_worker", "run_background_tasks_on"}


def blocks(language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(DOC.read_text(encoding="utf-8")) if lang == language]


def yaml_block(*keys: str) -> dict[str, Any]:
    """The doc's one YAML block that has all these top-level keys."""
    found = [data for data in map(yaml.safe_load, blocks("yaml"))
             if isinstance(data, dict) and set(keys) <= set(data)]
    assert len(found) == 1, f"{len(found)} YAML blocks in {DOC.name} have {keys}"
    return found[0]


def documented(program: str) -> list[str]:
    """The doc's one shell line that runs `program`, split as the shell splits it."""
    lines = [line for body in blocks("sh") for line in body.splitlines()
             if line.startswith(program + " ")]
    assert len(lines) == 1, f"{len(lines)} lines of {DOC.name} run {program}"
    return shlex.split(lines[0])


def with_values(argv: list[str], options: dict[str, str],
                positionals: dict[str, str] | None = None) -> list[str]:
    """The documented argv with this test's values: after each option in `options`, and in
    place of each documented positional in `positionals`; every one must be there."""
    positionals = positionals or {}
    out, seen = list(argv), set()
    for i, arg in enumerate(argv):
        if i and argv[i - 1] in options:
            out[i] = options[argv[i - 1]]
            seen.add(argv[i - 1])
        elif arg in positionals:
            out[i] = positionals[arg]
            seen.add(arg)
    assert seen == set(options) | set(positionals), f"not all of {options}, {positionals} " \
        f"in the documented {argv}"
    return out


def rendered(data_dir: Path, workers: bool) -> dict[str, Any]:
    """homeserver.yaml as the embedded homeserver renders it (alone, or with workers)."""
    hs = HomeserverConfig.model_validate({"workers": {"enabled": workers}})
    topology = SynapseWorkers(data_dir, hs, "postgresql+asyncpg://k@127.0.0.1/k") if workers \
        else None
    EmbeddedSynapse(data_dir, hs, data_dir / "registration.yaml", workers=topology).render()
    return yaml.safe_load((data_dir / "homeserver.yaml").read_text(encoding="utf-8"))


def client_listener(config: dict[str, Any]) -> dict[str, Any]:
    [listener] = [x for x in config["listeners"] if any(
        "client" in r["names"] for r in x.get("resources", []))]
    return listener


def doc_settings(tmp_path: Path) -> Any:
    path = tmp_path / "kabinet.yaml"
    path.write_text(yaml.safe_dump(yaml_block("homeserver", "appservice", "web")),
                    encoding="utf-8")
    return load_settings(path)


# -- the text ------------------------------------------------------------------------------------

def test_every_yaml_and_json_block_of_the_doc_parses():
    assert len(blocks("yaml")) >= 5 and blocks("json") and blocks("nginx") and blocks("sh")
    for body in blocks("yaml"):
        assert isinstance(yaml.safe_load(body), dict), body
    for body in blocks("json"):
        json.loads(body)


def test_kabinets_configuration_in_the_doc_is_valid_and_agrees_with_the_rest(tmp_path: Path):
    s = doc_settings(tmp_path)
    assert not s.homeserver.embedded and s.homeserver.registration is not None
    assert s.db_url.startswith("postgresql+asyncpg://")
    assert s.appservice_url == f"http://127.0.0.1:{s.web.port}/as"
    listener = yaml_block("listeners")["listeners"][0]
    assert urlsplit(s.homeserver.client_url).port == listener["port"]
    [well_known] = [json.loads(body) for body in blocks("json")]
    assert well_known == {"m.homeserver": {"base_url": s.homeserver.public_client_url}}
    argv = documented("kabinet registration write")
    assert argv[3] == str(s.homeserver.registration)
    up = documented("kabinet up")
    assert up[up.index("--homeserver-url") + 1] == s.homeserver.client_url
    assert up[up.index("--registration") + 1] == str(s.homeserver.registration)
    register = documented("register_new_matrix_user")
    assert register[-1] == s.homeserver.client_url  # the listener, not through the proxy


def test_every_kabinet_line_of_the_doc_is_a_valid_command():
    parser = cli.parser(default_features())
    lines = [line for body in blocks("sh") for line in body.splitlines()
             if line.startswith("kabinet ")]
    assert {shlex.split(line)[1] for line in lines} >= {"registration", "up", "backup", "restore"}
    for line in lines:
        try:
            parser.parse_args(shlex.split(line)[1:])
        except SystemExit:
            pytest.fail(f"the command line refuses {line!r}")


def test_the_synapse_settings_are_the_embedded_homeservers(tmp_path: Path):
    snippet_text = SNIPPET.read_text(encoding="utf-8")
    assert snippet_text.strip() in blocks("yaml") or snippet_text.strip() + "\n" in blocks("yaml")
    snippet = yaml.safe_load(snippet_text)
    alone = rendered(tmp_path / "alone", workers=False)
    workers = rendered(tmp_path / "workers", workers=True)
    # Every key the template renders is of one kind: a new one must be sorted here.
    assert set(alone) | set(workers) == NEEDED | LISTENER | DEPLOYMENT
    assert set(snippet) == NEEDED
    for key in NEEDED - {"app_service_config_files"}:
        assert snippet[key] == alone[key] == workers[key], key
    listener = client_listener(yaml_block("listeners"))
    assert listener["resources"] == client_listener(alone)["resources"]  # client and openid
    assert "openid" in listener["resources"][0]["names"]

    # matrix-docker-ansible-deploy: the same settings through its variables.
    ansible = yaml_block("matrix_synapse_configuration_extension_yaml")
    extension = yaml.safe_load(ansible["matrix_synapse_configuration_extension_yaml"])
    assert extension == {k: v for k, v in snippet.items()
                         if k not in ("app_service_config_files", "max_upload_size")}
    assert f"{ansible['matrix_synapse_max_upload_size_mb']}M" == snippet["max_upload_size"]
    assert ansible["matrix_synapse_app_service_config_files"] == \
        snippet["app_service_config_files"]
    assert [v["dst"] for v in ansible["matrix_synapse_container_additional_volumes"]] == \
        snippet["app_service_config_files"]
    assert ansible["matrix_synapse_http_listener_resource_names"] == \
        listener["resources"][0]["names"]

    # The official Docker image: both files, the registration where the snippet names it, and
    # the Synapse version the tests run.
    synapse = yaml_block("services")["services"]["synapse"]
    assert synapse["image"].endswith(f":v{metadata.version('matrix-synapse')}")
    assert shlex.split(synapse["command"])[0] == "run"
    assert "--config-path=/data/kabinet.yaml" in shlex.split(synapse["command"])
    mounts = [v.split(":") for v in synapse["volumes"]]
    assert [m[1] for m in mounts if m[-1] == "ro"] == snippet["app_service_config_files"]


# -- the nginx example ---------------------------------------------------------------------------

@dataclass
class Block:
    name: str
    args: list[str]
    children: list[Block] = field(default_factory=list)

    def all(self, name: str) -> list[Block]:
        return [c for c in self.children if c.name == name]

    def one(self, name: str) -> list[str]:
        [found] = self.all(name)
        return found.args


def parse_nginx(source: str) -> Block:
    tokens = re.findall(r"[{};]|[^\s{};]+", re.sub(r"#[^\n]*", "", source))
    root, stack, words = Block("", []), [], []
    stack.append(root)
    for token in tokens:
        if token == "{":
            block = Block(words[0], words[1:])
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        elif token == "}":
            stack.pop()
        elif token == ";":
            stack[-1].children.append(Block(words[0], words[1:]))
            words = []
        else:
            words.append(token)
    assert len(stack) == 1 and not words, "unbalanced braces"
    return root


@dataclass
class Route:
    proxy_pass: str | None
    returns: str | None
    headers: dict[str, str]


def route(conf: Block, host: str, path: str) -> Route | None:
    """Where nginx sends an HTTPS request for host and path: the location it chooses (exact
    match, else the longest prefix unless a regular expression, in order, matches)."""
    [server] = [s for s in conf.all("server") if host in s.one("server_name")
                and any("443" in listen.args[0] for listen in s.all("listen"))]
    locations = server.all("location")

    def pattern(loc: Block) -> tuple[str, str]:
        return (loc.args[0], loc.args[1]) if len(loc.args) == 2 else ("", loc.args[0])

    chosen = next((loc for loc in locations if pattern(loc) == ("=", path)), None)
    prefixes = [loc for loc in locations if pattern(loc)[0] in ("", "^~")
                and path.startswith(pattern(loc)[1])]
    longest = max(prefixes, key=lambda loc: len(pattern(loc)[1]), default=None)
    if chosen is None and not (longest and pattern(longest)[0] == "^~"):
        chosen = next((loc for loc in locations if pattern(loc)[0] in ("~", "~*") and re.search(
            pattern(loc)[1], path, re.I if pattern(loc)[0] == "~*" else 0)), None)
    chosen = chosen or longest
    if chosen is None:
        return None
    # proxy_set_header is inherited from the server only by a location that sets none.
    headers = chosen.all("proxy_set_header") or server.all("proxy_set_header")
    proxy = chosen.all("proxy_pass")
    returns = chosen.all("return")
    return Route(proxy[0].args[0] if proxy else None, returns[0].args[0] if returns else None,
                 {h.args[0].lower(): h.args[1] for h in headers})


def size(value: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmMgG]?)", value).groups()  # type: ignore[union-attr]
    return int(number) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit.lower()]


def test_the_nginx_example_sends_each_path_where_the_doc_says(tmp_path: Path):
    s = doc_settings(tmp_path)
    site, matrix = urlsplit(s.web.base_url).hostname, urlsplit(s.homeserver.public_client_url).hostname
    assert site and matrix
    [source] = blocks("nginx")
    conf = parse_nginx(source)
    kabinet, synapse = f"http://127.0.0.1:{s.web.port}", s.homeserver.client_url
    for path in ("/", "/login", "/api/v1/appeals", "/sittings/1/live/events", "/metrics",
                 "/cabinet", "/widgets/sittings/1/live"):
        got = route(conf, site, path)
        assert got and got.proxy_pass == kabinet, path
        assert got.headers["x-forwarded-for"] == "$proxy_add_x_forwarded_for", path  # /metrics too
        assert got.headers["host"] == "$host" and got.headers["x-forwarded-proto"] == "$scheme"
    for path in ("/as/_matrix/app/v1/transactions/1", "/as/_matrix/app/v1/ping"):
        got = route(conf, site, path)
        assert got and got.proxy_pass is None and got.returns == "404", path
    for path in ("/_matrix/client/versions", "/_matrix/client/v3/sync",
                 "/_matrix/client/v1/media/download/rada.example/abc",
                 "/_matrix/media/v3/download/rada.example/abc", "/_synapse/client/pick_idp",
                 "/_matrix/federation/v1/openid/userinfo"):
        got = route(conf, matrix, path)
        assert got and got.proxy_pass == synapse, path
        assert got.headers["x-forwarded-for"] == "$remote_addr", path  # x_forwarded: true
    for path in ("/_synapse/admin/v1/register", "/_matrix/federation/v1/send/1",
                 "/_matrix/key/v2/server", "/_matrix/federation/v1/openid/userinfo/x"):
        got = route(conf, matrix, path)
        assert got is None or got.proxy_pass is None, path
    # Plain HTTP redirects both names; each name has its own certificate; uploads fit.
    [plain] = [x for x in conf.all("server") if x.all("listen")[0].args == ["80"]]
    assert set(plain.one("server_name")) == {site, matrix} and plain.one("return")[0] == "301"
    snippet = yaml.safe_load(SNIPPET.read_text(encoding="utf-8"))
    for host, smallest in ((site, max(AppealsConfig().max_total_bytes,
                                      SittingsConfig().max_file_bytes)),
                           (matrix, size(snippet["max_upload_size"]))):
        [server] = [x for x in conf.all("server") if host in x.one("server_name")
                    and x.all("listen")[0].args[0] == "443"]
        assert size(server.one("client_max_body_size")[0]) >= smallest, host
        assert f"/{host}/" in server.one("ssl_certificate")[0], host
        assert f"/{host}/" in server.one("ssl_certificate_key")[0], host


def test_nginx_accepts_the_example(tmp_path: Path):
    """`nginx -t`, with a throw-away certificate in place of Let's Encrypt's (nginx is never
    installed by the tests; without it the test above checks the example's text)."""
    nginx = shutil.which("nginx") or shutil.which("/usr/sbin/nginx")
    if nginx is None:
        pytest.skip("nginx is not installed (the tests do not install it): the example is "
                    "checked from its text by test_the_nginx_example_sends_each_path_where_the_"
                    "doc_says")
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kabinet.test")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    [source] = blocks("nginx")
    source = re.sub(r"ssl_certificate_key \S+;", f"ssl_certificate_key {tmp_path}/key.pem;", source)
    source = re.sub(r"ssl_certificate \S+;", f"ssl_certificate {tmp_path}/cert.pem;", source)
    (tmp_path / "nginx.conf").write_text(
        f"error_log {tmp_path}/error.log;\npid {tmp_path}/nginx.pid;\nevents {{}}\n"
        f"http {{\naccess_log off;\n{source}\n}}\n", encoding="utf-8")
    done = subprocess.run([nginx, "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


# -- end to end ----------------------------------------------------------------------------------

def synapse_config(folder: Path, port: int, registration: Path) -> list[Path]:
    """A minimal homeserver.yaml with the doc's listener, and the snippet in a config directory
    beside it (as Debian's conf.d), naming a copy of the registration; the config paths."""
    folder.mkdir()
    listener = {**yaml_block("listeners")["listeners"][0], "port": port}
    main = {"server_name": "localhost", "public_baseurl": f"http://127.0.0.1:{port}/",
            "report_stats": False, "pid_file": str(folder / "homeserver.pid"),
            "listeners": [listener],
            "database": {"name": "sqlite3", "args": {"database": str(folder / "homeserver.db")}},
            "media_store_path": str(folder / "media_store"),
            "signing_key_path": str(folder / "signing.key"),
            "registration_shared_secret": uuid.uuid4().hex, "macaroon_secret_key": uuid.uuid4().hex,
            "form_secret": uuid.uuid4().hex, "bcrypt_rounds": 4,
            "trusted_key_servers": [], "federation_domain_whitelist": [],
            "suppress_key_server_warning": True}
    (folder / "homeserver.yaml").write_text(yaml.safe_dump(main), encoding="utf-8")
    shutil.copy(registration, folder / "kabinet-registration.yaml")
    snippet = yaml.safe_load(SNIPPET.read_text(encoding="utf-8"))
    snippet["app_service_config_files"] = [str(folder / "kabinet-registration.yaml")]
    (folder / "conf.d").mkdir()
    (folder / "conf.d" / "kabinet.yaml").write_text(yaml.safe_dump(snippet), encoding="utf-8")
    return [folder / "homeserver.yaml", folder / "conf.d"]


@contextlib.asynccontextmanager
async def synapse_from_the_doc(folder: Path, port: int, registration: Path
                               ) -> AsyncIterator[str]:
    """Synapse from PyPI, started as the Debian package starts it, with synapse_config()."""
    configs = synapse_config(folder, port, registration)
    keys = await run_synapse("synapse.app.homeserver", configs, "--generate-keys")
    out, _ = await keys.communicate()
    assert keys.returncode == 0, out.decode()[-2000:]
    proc = await run_synapse("synapse.app.homeserver", configs)
    output: collections.deque[str] = collections.deque(maxlen=60)
    drain = asyncio.create_task(keep_output(proc, output))
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(360):
            if await ping_homeserver(url):
                break
            assert proc.returncode is None, "".join(output)
            await asyncio.sleep(0.25)
        else:
            pytest.fail(f"Synapse did not answer at {url}:\n{''.join(output)}")
        yield url
    finally:
        await terminate(proc)
        drain.cancel()


async def run(*argv: str | Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        *map(str, argv), cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 300)
    assert proc.returncode == 0, f"{argv}: {err.decode()}"
    return out.decode()


async def store_at_first_migration(url: str) -> None:
    """A store as an old Kabinet left it: the first migration only, one handled event."""
    store = Store(url)

    def upgrade(conn: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")

    try:
        async with store.engine.begin() as conn:
            await conn.run_sync(upgrade)
            await conn.execute(text(
                "INSERT INTO as_events (event_id, room_id, event_type, handled_at) VALUES "
                "('$before-the-upgrade', '!old:localhost', 'm.room.message', CURRENT_TIMESTAMP)"))
    finally:
        await store.close()


async def test_kabinet_runs_against_an_external_synapse_set_up_as_the_doc_says(tmp_path: Path):
    roster = load_roster(SMALL_ROSTER)
    people_of_roster = [*roster.deputies, *roster.secretariat]
    hs_port, web_port = free_port(), free_port()
    hs_url = f"http://127.0.0.1:{hs_port}"
    var, registration = tmp_path / "kabinet", tmp_path / "registration.yaml"
    external = {"homeserver.embedded": False, "homeserver.url": hs_url,
                "homeserver.registration": registration, "web.port": web_port}
    config = tmp_path / "kabinet.yaml"
    config.write_text(yaml.safe_dump({
        "data_dir": str(var), "roster": str(SMALL_ROSTER), "web": {"port": web_port},
        "homeserver": {"embedded": False, "url": hs_url, "registration": str(registration)}}),
        encoding="utf-8")

    # The registration, by the documented command (the doc's paths replaced by this test's).
    argv = documented("kabinet registration write")
    argv = with_values(argv, {"--config": str(config)}, {argv[3]: str(registration)})
    out = await run(sys.executable, "-m", *argv)
    assert f"wrote {registration}" in out and registration.stat().st_mode & 0o777 == 0o600
    written = yaml.safe_load(registration.read_text(encoding="utf-8"))
    assert written["url"] == f"http://127.0.0.1:{web_port}/as" and written["rate_limited"] is False

    async with synapse_from_the_doc(tmp_path / "synapse", hs_port, registration) as url:
        async with aiohttp.ClientSession() as http, http.get(
                f"{url}/_matrix/client/v3/capabilities", headers={
                    "Authorization": f"Bearer {written['as_token']}"}) as resp:
            versions = (await resp.json())["capabilities"]["m.room_versions"]["available"]
        assert HomeserverConfig().room_version in versions
        # The accounts, by the documented command, once per person of the roster; one of them
        # only after Kabinet has applied the roster.
        template = documented("register_new_matrix_user")

        async def register(person: Person) -> None:
            assert person.password is not None
            secret = tmp_path / f"{person.id}.password"
            secret.write_text(person.password, encoding="utf-8")
            await run(Path(sys.executable).with_name("register_new_matrix_user"), *with_values(
                template, {"-c": str(tmp_path / "synapse" / "homeserver.yaml"), "-u": person.id,
                           "--password-file": str(secret)}, {template[-1]: url})[1:])

        [late] = [p for p in people_of_roster if p.id == "zvarych"]
        for person in people_of_roster:
            if person is not late:
                await register(person)

        await store_at_first_migration(f"sqlite+aiosqlite:///{var / 'kabinet.db'}")
        running = await start_installation(var, SMALL_ROSTER, **external)
        people = Deputies(url)
        try:
            k = running.kabinet
            assert k.synapse is None  # no homeserver of its own
            assert running.report.accounts_created == 0 and not running.report.problems
            # An account made after the roster was applied finds its invitations waiting
            # (auto_accept_invites acts when an invite arrives); accepted, as in Element, the
            # council is complete.
            await register(late)
            assert late.password is not None
            zvarych = await people.login(late.id, late.password)
            synced = await zvarych.sync(timeout=0)
            assert isinstance(synced, SyncResponse) and not synced.rooms.join
            rooms = await registry.room_map(k.store)
            wanted = {rooms[spec.key] for spec in desired_rooms(roster, "localhost")
                      if late.mxid("localhost") in spec.members}
            assert set(synced.rooms.invite) == wanted
            for room_id in wanted:
                assert isinstance(await zvarych.join(room_id), JoinResponse)
            await settle(k, roster)
            async with k.store.session() as s:  # migrated to the head, its data kept
                version = await s.scalar(text("SELECT version_num FROM alembic_version"))
                kept = await s.scalar(text("SELECT count(*) FROM as_events "
                                           "WHERE event_id = '$before-the-upgrade'"))
            assert version == ScriptDirectory.from_config(alembic_config()).get_current_head()
            assert kept == 1

            bondar = await people.login("bondar", "test-deputy-1")
            space = await resolve(bondar, f"#{k.settings.appservice.alias_prefix}council:localhost")
            assert space == rooms[registry.council_space()]
            joined = await bondar.joined_rooms()
            assert isinstance(joined, JoinedRoomsResponse)
            assert {space, rooms[registry.cabinet("bondar")]} <= set(joined.rooms)
            assert await room_kind(bondar, rooms[registry.cabinet("bondar")]) == {
                "kind": "cabinet", "ref": "bondar"}

            # Sign in with Matrix on the site: the password and the OpenID token checked by
            # this Synapse (the listener's `openid` resource).
            jar = aiohttp.CookieJar(unsafe=True)
            async with aiohttp.ClientSession(running.web_url, cookie_jar=jar) as browser:
                resp = await sign_in(browser, "bondar", "test-deputy-1")
                assert resp.status == 303 and resp.headers["Location"] == "/cabinet"
                async with browser.get("/cabinet") as page:
                    assert page.status == 200
        finally:
            await people.close()
            await running.stop()
