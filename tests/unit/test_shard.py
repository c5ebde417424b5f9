"""Who polls which device: shards of a fleet are disjoint, cover it, and stay put across runs,
processes and fleet edits; workers split a shard evenly and independently of it; --shard,
--workers and [daemon] shard/workers are checked with one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from poller import cli
from poller.config.load import load_config
from poller.config.shard import (
    CommandLine,
    Shard,
    name_hash,
    owned,
    parse_shard,
    parse_workers,
    split,
    usable_cores,
    worker_of,
)
from poller.errors import ConfigError

NAMES = [f"sw-{n:04d}.ams{n % 7}" for n in range(1200)] + ["ßwitch-ü", "core-sw1", "edge-7"]


class Named:
    """Stands in for a Device: sharding looks at the name only."""

    def __init__(self, name: str) -> None:
        self.name = name


FLEET = [Named(name) for name in NAMES]


@pytest.mark.parametrize("count", [1, 2, 3, 7, 16])
def test_the_shards_are_disjoint_and_cover_the_fleet(count: int) -> None:
    shares = [owned(FLEET, Shard(i, count)) for i in range(count)]  # type: ignore[arg-type]
    names = [d.name for share in shares for d in share]
    assert sorted(names) == sorted(NAMES)  # every device once: none twice, none lost
    for share in shares:  # and evenly enough: within 25 % of a fair share
        assert abs(len(share) - len(NAMES) / count) < 0.25 * len(NAMES) / count


def test_the_hash_is_pinned_so_every_host_and_version_agrees() -> None:
    # SHA-1 of the UTF-8 name, first 8 bytes big-endian: these values are a promise to operators
    assert name_hash("core-sw1") == 1528627229751571775
    assert name_hash("ßwitch-ü") == 6273642594766561447
    assert [Shard(i, 3).owns("core-sw1") for i in range(3)] == [False, False, True]
    assert worker_of("core-sw1", 3, 2) == 1


def test_another_process_with_another_hash_seed_makes_the_same_split() -> None:
    script = ("from poller.config.shard import name_hash; import sys; "
              "print(','.join(str(name_hash(n) % 5) for n in sys.argv[1:]))")
    here = ",".join(str(name_hash(n) % 5) for n in NAMES[:50])
    for seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", script, *NAMES[:50]], capture_output=True,
                              text=True, env=dict(os.environ, PYTHONHASHSEED=seed), check=True)
        assert done.stdout.strip() == here


def test_a_device_moves_only_when_the_number_of_shards_changes() -> None:
    before = {d.name for d in owned(FLEET, Shard(1, 3))}  # type: ignore[arg-type]
    grown = FLEET + [Named(f"new-{n}") for n in range(100)]
    after = {d.name for d in owned(grown, Shard(1, 3))}  # type: ignore[arg-type]
    assert before <= after  # adding devices moves none of the others
    resharded = {d.name for d in owned(FLEET, Shard(1, 4))}  # type: ignore[arg-type]
    assert resharded != before  # n changed: the split changed


def test_workers_split_a_shard_evenly_and_independently_of_it() -> None:
    shard = Shard(0, 2)
    mine = owned(FLEET, shard)  # type: ignore[arg-type]
    shares = split(mine, shard, 2)
    assert sorted(d.name for s in shares for d in s) == sorted(d.name for d in mine)
    # "hash mod 2" for both would give every device of shard 0 to worker 0
    assert all(0.4 < len(s) / len(mine) < 0.6 for s in shares)
    for index, share in enumerate(shares):
        assert all(worker_of(d.name, 2, 2) == index for d in share)


@pytest.mark.parametrize("text, expected", [
    ("0/1", Shard(0, 1)), ("2/3", Shard(2, 3)), (" 1 / 3 ", Shard(1, 3)),
])
def test_shards_parse(text: str, expected: Shard) -> None:
    assert parse_shard(text) == expected
    assert str(expected) == f"{expected.index}/{expected.count}"


@pytest.mark.parametrize("value", ["3/3", "-1/3", "1/0", "0/0", "x", "1/3/4", "", "1/", 3,
                                   "0/10001"])
def test_a_bad_shard_is_one_line_that_shows_it(value: object) -> None:
    with pytest.raises(ValueError) as error:
        parse_shard(value)
    message = str(error.value)
    shown = repr(value) if isinstance(value, str) else str(value)
    assert "\n" not in message and shown in message
    assert '"i/n" with 0 <= i < n' in message


def test_workers_are_a_count_or_auto() -> None:
    assert parse_workers(4) == 4 and parse_workers("2") == 2
    assert parse_workers("auto") == min(64, usable_cores()) >= 1
    for bad in (0, 65, "two", True, 1.5, "-1"):
        with pytest.raises(ValueError, match="is not a number of workers"):
            parse_workers(bad)


FILE = """
[daemon]
{daemon}
[credentials.public]
community = "x"
[[devices]]
name = "a"
host = "127.0.0.1"
"""


def write(tmp_path: Path, daemon: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(FILE.format(daemon=daemon))
    path.chmod(0o600)
    return path


def test_the_file_may_set_shard_and_workers_and_the_command_line_wins(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, 'shard = "1/3"\nworkers = 2'))
    assert (config.daemon.shard, config.daemon.workers) == (Shard(1, 3), 2)
    assert load_config(write(tmp_path, "")).daemon.workers == 1  # one process unless asked
    overridden = CommandLine(shard=Shard(0, 2), workers=3).apply(config)
    assert (overridden.daemon.shard, overridden.daemon.workers) == (Shard(0, 2), 3)
    assert CommandLine().apply(config) is config


@pytest.mark.parametrize("daemon, message", [
    ('shard = "3/3"', "daemon.shard: '3/3' is not a shard"),
    ("shard = 2", "daemon.shard: 2 is not a shard"),
    ("workers = 0", "daemon.workers: 0 is not a number of workers"),
    ('workers = "many"', "daemon.workers: 'many' is not a number of workers"),
])
def test_bad_file_values_are_one_line(tmp_path: Path, daemon: str, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        load_config(write(tmp_path, daemon))
    assert str(error.value).startswith(f"{tmp_path / 'fleet.toml'}: {message}")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("argv, message", [
    (["check", "--shard", "3/3"], "poller: --shard: '3/3' is not a shard"),
    (["run", "--shard", "one"], "poller: --shard: 'one' is not a shard"),
    (["run", "--workers", "0"], "poller: --workers: '0' is not a number of workers"),
])
def test_bad_command_line_values_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    path = write(tmp_path, "")
    assert cli.main([*argv, "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_check_lists_what_each_shard_owns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(FILE.format(daemon="workers = 2").replace(
        '[[devices]]\nname = "a"\nhost = "127.0.0.1"\n',
        "".join(f'[[devices]]\nname = "{n}"\nhost = "127.0.0.1"\n' for n in NAMES[:12])))
    path.chmod(0o600)
    listed: list[str] = []
    for index in range(3):
        assert cli.main(["check", "--config", str(path), "--shard", f"{index}/3"]) == 0
        out = capsys.readouterr().out
        names = [line.split()[-1] for line in out.splitlines() if line.strip().startswith("owns")]
        assert f"shard        {index}/3: {len(names)} of the file's 12 devices" in out
        assert f"devices      {len(names)}" in out  # the summary is of this shard's devices
        assert all(Shard(index, 3).owns(name) for name in names)
        listed += names
    assert sorted(listed) == sorted(NAMES[:12])
