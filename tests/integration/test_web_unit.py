"""systemd/poller-web.service passes `systemd-analyze verify` and is hardened at least as well
as the poller's own unit."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_systemd_unit import stand_in_unit

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "poller-web.service"


@pytest.fixture()
def unit(tmp_path: Path) -> Path:
    return stand_in_unit(UNIT, tmp_path)


def test_the_web_unit_verifies(unit: Path) -> None:
    done = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "poller-web.service" not in done.stderr, done.stderr


def test_the_web_unit_is_well_hardened(unit: Path) -> None:
    done = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)],
                          capture_output=True, text=True, check=False)
    match = re.search(r"Overall exposure level for poller-web.service: ([0-9.]+)", done.stdout)
    assert match, done.stdout + done.stderr
    assert float(match[1]) <= 1.5


def test_the_web_unit_runs_poller_web_and_takes_no_password_from_its_command_line() -> None:
    text = UNIT.read_text()
    (start,) = [line for line in text.splitlines() if line.startswith("ExecStart=")]
    assert start.endswith("poller web --config /etc/poller/poller.toml")
    assert "RestartPreventExitStatus=2" in text and "password" not in start
