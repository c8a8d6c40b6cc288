"""Kabinet installed with a plain (not editable) `pip install .` runs outside a checkout: what it
reads at run time (the homeserver's config templates, migrations, web templates) is package data.

The project is copied and installed into a temporary folder, and `kabinet up` is run from there
with only that copy and the virtualenv's libraries on the path — never the checkout."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from importlib.metadata import version
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, SMALL_ROSTER, free_port

# What a source tree holds that a build never reads: caches, data, earlier builds.
NOT_SOURCE = shutil.ignore_patterns(".*", "__pycache__", "*.egg-info", "build", "dist", "var",
                                    "node_modules")


def _setuptools_fits() -> bool:
    """Whether the virtualenv's setuptools can build the project without fetching a newer one."""
    major = int(version("setuptools").split(".")[0])
    return major >= 69  # pyproject.toml's [build-system] requires


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project, installed by pip from a copy of the source tree: its site folder."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    shutil.copytree(REPO, source, ignore=NOT_SOURCE)
    site = root / "site"
    isolation = ["--no-build-isolation"] if _setuptools_fits() else []  # else pip fetches setuptools
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-input", *isolation,
         "--target", str(site), str(source)],
        capture_output=True, text=True, timeout=600, cwd=root)
    assert build.returncode == 0, build.stderr[-3000:]
    return site


def outside(site: Path, run_dir: Path) -> dict[str, str]:
    """An environment that sees the installed copy and the libraries, not the checkout (with
    `python -S`, the virtualenv's .pth files, among them the editable install's, are not read)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "KABINET_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(site), sysconfig.get_paths()["purelib"]])
    env["HOME"] = str(run_dir)
    return env


def test_the_installed_copy_is_the_one_imported(installed: Path, tmp_path: Path):
    probe = subprocess.run(
        [sys.executable, "-S", "-c", "import kabinet.launcher as l; print(l.__file__); "
         "print(l._template_source('homeserver.yaml.j2') is not None)"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=outside(installed, tmp_path))
    assert probe.returncode == 0, probe.stderr
    where, found = probe.stdout.split()
    assert Path(where).is_relative_to(installed) and found == "True"


def test_kabinet_up_runs_from_a_plain_install(installed: Path, tmp_path: Path):
    roster = tmp_path / "roster.yaml"
    shutil.copy(SMALL_ROSTER, roster)
    web_port = free_port()
    config = tmp_path / "kabinet.yaml"
    config.write_text(yaml.safe_dump({
        "roster": str(roster), "web": {"port": web_port},
        "homeserver": {"port": free_port(), "bcrypt_rounds": 4}}), encoding="utf-8")
    data_dir = tmp_path / "var"
    log = (tmp_path / "kabinet.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-S", "-m", "kabinet", "up", "--config", str(config),
         "--data-dir", str(data_dir)],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, env=outside(installed, tmp_path))
    try:
        healthy = _wait_healthy(f"http://127.0.0.1:{web_port}/healthz", proc, timeout=240)
        assert healthy, (tmp_path / "kabinet.log").read_text()[-3000:]
        rendered = (data_dir / "homeserver.yaml").read_text(encoding="utf-8")
        assert "app_service_config_files" in rendered and str(data_dir.resolve()) in rendered
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0, (tmp_path / "kabinet.log").read_text()[-3000:]


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(1)
    return False
