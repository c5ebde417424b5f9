"""The walk bounds in the fleet file: defaults, [defaults] and per-device values, and one exact
line for each kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from poller.config.load import load_config
from poller.config.model import WalkLimits
from poller.errors import ConfigError

BASE = '[credentials.public]\ncommunity = "c0mm"\n'
DEVICE = '[[devices]]\nname = "sw1"\nhost = "127.0.0.1"\n'


def load(tmp_path: Path, text: str) -> WalkLimits:
    path = tmp_path / "fleet.toml"
    path.write_text(BASE + text)
    path.chmod(0o600)
    (device,) = load_config(path).devices
    return device.walk


def test_defaults_bound_every_walk(tmp_path: Path) -> None:
    # the time cap: 0.9 x the poll deadline (0.9 x the interval, 60 s by default)
    assert load(tmp_path, DEVICE) == WalkLimits(
        allow_non_increasing=False, max_rows=5_000, max_requests=10_000, max_time_s=48.6
    )
    assert load(tmp_path, DEVICE + "interval = 10\n").max_time_s == 8.1
    assert load(tmp_path, DEVICE + "interval = 10\nmax_walk_time = 0\n").max_time_s == 8.1


def test_defaults_and_device_values_combine(tmp_path: Path) -> None:
    text = ('[defaults]\nmax_walk_rows = 500\nmax_walk_time = "20s"\n' + DEVICE
            + 'allow_non_increasing = true\nmax_walk_requests = 40\nmax_walk_time = "2500ms"\n')
    assert load(tmp_path, text) == WalkLimits(
        allow_non_increasing=True, max_rows=500, max_requests=40, max_time_s=2.5
    )


D = "devices[0] (sw1)"


@pytest.mark.parametrize(
    "extra, problem",
    [
        ("allow_non_increasing = 1", f"{D}.allow_non_increasing: 1 is not true or false"),
        ("max_walk_rows = 0", f"{D}.max_walk_rows: 0 is not an integer in 1..10000000"),
        ('max_walk_requests = "many"', f"{D}.max_walk_requests: 'many' is not an integer in 1..1000000"),
        ('max_walk_time = "forever"', (f"{D}.max_walk_time: 'forever' is not a duration (a number "
                                      'of seconds or a string like "500ms", "30s", "5m")')),
        ('max_walk_time = "50ms"', (f"{D}.max_walk_time: 0.05 s is below 0.1 s (0 means 0.9 x "
                                   "the poll deadline)")),
    ],
)
def test_mistakes_are_one_line(tmp_path: Path, extra: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, DEVICE + extra + "\n")
    assert str(caught.value) == f"{tmp_path / 'fleet.toml'}: {problem}"


def test_a_mistake_in_defaults_names_defaults(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"defaults\.max_walk_rows: -5 is not an integer"):
        load(tmp_path, "[defaults]\nmax_walk_rows = -5\n" + DEVICE)
