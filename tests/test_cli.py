"""The command line: bad input gets a clear message and a non-zero exit, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from kabinet.secrets import write_registration
from tests.conftest import DEMO_ROSTER, SMALL_ROSTER, free_port


def kabinet(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kabinet", *map(str, args)], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def test_roster_check_accepts_the_demo_roster():
    result = kabinet("roster", "check", DEMO_ROSTER)
    assert result.returncode == 0, result.stderr
    assert "valid — 36 deputies, 6 commissions, 3 secretariat" in result.stdout


def test_roster_check_names_the_file_the_entry_and_the_problem(tmp_path: Path):
    data = yaml.safe_load(SMALL_ROSTER.read_text(encoding="utf-8"))
    data["deputies"][1]["commissions"] = ["transport"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    result = kabinet("roster", "check", bad)
    assert result.returncode == 2
    assert str(bad) in result.stderr
    assert "deputy 'hnatyshyn': unknown commission 'transport'" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_roster_apply_with_an_invalid_roster_touches_nothing(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("council: {name: X}\n", encoding="utf-8")
    data_dir = tmp_path / "var"
    result = kabinet("roster", "apply", bad, "--data-dir", data_dir)
    assert result.returncode == 2 and "required field is missing" in result.stderr
    assert not data_dir.exists()  # no database, no homeserver, no secrets


def test_up_with_a_homeserver_that_is_down_says_so_and_exits_non_zero(tmp_path: Path):
    registration = tmp_path / "registration.yaml"
    write_registration(registration, as_id="kabinet", url="http://127.0.0.1:1/as",
                       bot_localpart="kabinet", ghost_prefix="kabinet_", alias_prefix="kabinet_",
                       server_name="localhost", tokens={"as_token": "a" * 20, "hs_token": "h" * 20})
    down = f"http://127.0.0.1:{free_port()}"
    result = kabinet("up", "--data-dir", tmp_path / "var", "--homeserver-url", down,
                     "--registration", registration, "--web-port", free_port())
    assert result.returncode == 1
    assert f"the homeserver at {down} does not answer" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_config_key_that_does_not_exist_is_an_error(tmp_path: Path):
    config = tmp_path / "kabinet.yaml"
    config.write_text("web:\n  prot: 8081\n", encoding="utf-8")
    result = kabinet("roster", "apply", SMALL_ROSTER, "--config", config)
    assert result.returncode == 2
    assert "web.prot" in result.stderr and "Extra inputs are not permitted" in result.stderr


def test_a_placeholder_secret_in_the_config_is_refused(tmp_path: Path):
    config = tmp_path / "kabinet.yaml"
    config.write_text("staff_api_token: change-me\n", encoding="utf-8")
    result = kabinet("roster", "apply", SMALL_ROSTER, "--config", config)
    assert result.returncode == 2 and "staff_api_token" in result.stderr
    assert "placeholder" in result.stderr


def test_the_example_config_is_valid_once_its_secret_is_set(tmp_path: Path):
    from kabinet.config import load_settings

    example = Path(__file__).resolve().parents[1] / "config" / "kabinet.example.yaml"
    data = yaml.safe_load(example.read_text(encoding="utf-8"))
    data["staff_api_token"] = "a-real-secret-of-32-characters-xx"
    real = tmp_path / "kabinet.yaml"
    real.write_text(yaml.safe_dump(data), encoding="utf-8")
    settings = load_settings(real)
    assert settings.homeserver.embedded and settings.web.port == 8080


def test_the_environment_overrides_the_config_file(tmp_path: Path, monkeypatch):
    from kabinet.config import load_settings

    config = tmp_path / "kabinet.yaml"
    config.write_text("web:\n  port: 8081\nhomeserver:\n  server_name: rada.example\n",
                      encoding="utf-8")
    monkeypatch.setenv("KABINET_WEB__PORT", "9090")
    settings = load_settings(config)
    assert settings.web.port == 9090  # the environment wins
    assert settings.homeserver.server_name == "rada.example"  # the file still counts


def test_store_commands_start_no_homeserver_and_write_no_secrets(tmp_path: Path):
    """`appeals list`, `sitting list`, `report paper` open the store only: they work with a config
    for an external homeserver that names no registration, and leave no secrets behind."""
    config = tmp_path / "kabinet.yaml"
    config.write_text(yaml.safe_dump({
        "roster": str(SMALL_ROSTER),
        "homeserver": {"embedded": False, "url": f"http://127.0.0.1:{free_port()}"}}),
        encoding="utf-8")
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    for command in (("appeals", "list"), ("sitting", "list"), ("report", "paper")):
        result = kabinet(*command, "--config", config, "--data-dir", data_dir)
        assert result.returncode == 0, (command, result.stderr)
        assert "Traceback" not in result.stderr
    assert "total: 0 pages of drafts" in result.stdout
    written = {p.name for p in data_dir.rglob("*")}
    assert "kabinet.db" in written  # the store was opened (and migrated)
    assert not written & {"secrets.yaml", "appservice-registration.yaml", "homeserver.yaml"}, written


def test_the_demo_gets_a_staff_token_of_its_own_and_production_does_not(tmp_path: Path):
    from kabinet.cli import with_demo_staff_token
    from kabinet.config import load_settings
    from kabinet.secrets import read_secrets

    settings = load_settings(None, data_dir=tmp_path / "var")
    assert with_demo_staff_token(settings, demo=False).staff_api_token is None  # still 403
    demo = with_demo_staff_token(settings, demo=True).staff_api_token
    assert demo is not None and len(demo.get_secret_value()) >= 32
    assert read_secrets(tmp_path / "var")["demo_staff_token"] == demo.get_secret_value()
    again = with_demo_staff_token(settings, demo=True).staff_api_token
    assert again is not None and again.get_secret_value() == demo.get_secret_value()  # kept
    assert (tmp_path / "var" / "secrets.yaml").stat().st_mode & 0o777 == 0o600
    configured = load_settings(None, data_dir=tmp_path / "var",
                               staff_api_token="a-real-secret-of-32-characters-xx")
    assert with_demo_staff_token(configured, demo=True).staff_api_token == \
        configured.staff_api_token
