"""`kabinet up --public-host HOST` (config `public_host`, `KABINET_PUBLIC_HOST`): the site and the
embedded homeserver listen on every interface, the URLs for browsers and Matrix clients name
HOST, Kabinet still reaches its homeserver over loopback, and an explicit public URL wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from kabinet.cli import parser, settings_from
from kabinet.config import ConfigError, load_settings
from kabinet.features import default_features
from kabinet.launcher import EmbeddedSynapse


def test_the_default_listens_on_loopback_only() -> None:
    s = load_settings(None)
    assert (s.web.host, s.homeserver.bind) == ("127.0.0.1", "127.0.0.1")
    assert s.web.base_url == "http://127.0.0.1:8080"
    assert s.homeserver.public_client_url == s.homeserver.client_url == "http://127.0.0.1:8008"


def test_the_option_sets_the_listeners_and_the_public_urls_together() -> None:
    args = parser(default_features()).parse_args(
        ["up", "--public-host", "192.168.1.20", "--web-port", "8090"])
    s = settings_from(args)
    assert (s.web.host, s.homeserver.bind) == ("0.0.0.0", "0.0.0.0")
    assert s.web.base_url == "http://192.168.1.20:8090"  # status links, calendar.ics
    assert s.homeserver.public_client_url == "http://192.168.1.20:8008"  # typed into Element
    assert s.homeserver.client_url == "http://127.0.0.1:8008"  # Kabinet's own calls
    assert s.appservice_url == "http://127.0.0.1:8090/as"


def test_the_environment_and_an_ipv6_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KABINET_PUBLIC_HOST", "[fd00::20]")
    s = load_settings(None)
    assert (s.web.host, s.homeserver.bind) == ("::", "::")
    assert s.web.base_url == "http://[fd00::20]:8080"
    assert s.homeserver.client_url == "http://[::1]:8008"


def test_an_explicit_public_url_or_bind_address_wins(tmp_path: Path) -> None:
    config = tmp_path / "kabinet.yaml"
    config.write_text("public_host: kabinet.local\nweb:\n  public_url: https://rada.example.ua\n"
                      "homeserver:\n  bind: 10.0.0.5\n", encoding="utf-8")
    s = load_settings(config)
    assert s.web.base_url == "https://rada.example.ua" and s.web.host == "0.0.0.0"
    assert s.homeserver.bind == "10.0.0.5"
    assert s.homeserver.public_client_url == "http://kabinet.local:8008"


def test_an_external_homeserver_is_left_as_configured() -> None:
    s = load_settings(None, public_host="192.168.1.20",
                      **{"homeserver.embedded": False, "homeserver.url": "https://matrix.example"})
    assert s.homeserver.public_client_url == "https://matrix.example"
    assert s.web.base_url == "http://192.168.1.20:8080"


@pytest.mark.parametrize("bad", ["http://192.168.1.20", "192.168.1.20:8080", "host/path", "a b",
                                 "-bad.example"])
def test_anything_but_a_host_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match="public_host"):
        load_settings(None, public_host=bad)


def test_the_embedded_synapse_is_told_its_public_url_and_listens_everywhere(tmp_path: Path) -> None:
    s = load_settings(None, public_host="192.168.1.20", data_dir=tmp_path)
    EmbeddedSynapse(tmp_path, s.homeserver, tmp_path / "registration.yaml").render()
    text = (tmp_path / "homeserver.yaml").read_text(encoding="utf-8")
    assert 'public_baseurl: "http://192.168.1.20:8008/"' in text
    assert 'bind_addresses: ["0.0.0.0"]' in text
