"""Every way a fleet file can fail to load ends in one ConfigError line naming the file (and the
key), never another exception, a hang or a memory blow-up: `poller check` and `poller run` exit
2 with that line, and a reload keeps the running fleet."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from poller.config.files import MAX_CONFIG_BYTES
from poller.config.load import load_config
from poller.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
FLEET = """
[credentials.public]
community = "public"
[[devices]]
name = "sw1"
host = "127.0.0.1"
"""
MIB_HEAD = """{name} DEFINITIONS ::= BEGIN
IMPORTS
    MODULE-IDENTITY, OBJECT-TYPE, Integer32 FROM SNMPv2-SMI
    {imported} FROM {other};
{node} MODULE-IDENTITY
    LAST-UPDATED "202401010000Z"
    ORGANIZATION "test"
    CONTACT-INFO "test"
    DESCRIPTION "each module's root is under the other's"
    ::= {{ {imported} 1 }}
END
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return path


def _line(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    line = str(caught.value)
    assert "\n" not in line and line.startswith(f"{path}: ")
    return line


def _mib_loop(directory: Path) -> None:
    directory.mkdir()
    (directory / "a.my").write_text(MIB_HEAD.format(
        name="LOOP-A-MIB", imported="loopB", other="LOOP-B-MIB", node="loopA"))
    (directory / "b.my").write_text(MIB_HEAD.format(
        name="LOOP-B-MIB", imported="loopA", other="LOOP-A-MIB", node="loopB"))


def test_an_array_where_a_version_belongs(tmp_path: Path) -> None:
    path = _write(tmp_path, FLEET.replace('community = "public"',
                                          'version = ["2c"]\ncommunity = "public"'))
    assert _line(path) == (f'{path}: credentials.public.version: an array is not a supported '
                           'SNMP version (allowed: "1", "2c", "3", "v1", "v2c", "v3", 1, 2, 3)')


def test_a_table_where_an_engine_belongs(tmp_path: Path) -> None:
    path = _write(tmp_path, '[daemon]\nengine = { a = 1 }\n' + FLEET)
    assert "daemon.engine: a table is not an engine" in _line(path)


def test_toml_nested_over_400_levels(tmp_path: Path) -> None:
    path = _write(tmp_path, "x = " + "[" * 500 + "]" * 500 + "\n" + FLEET)
    assert _line(path).startswith(f"{path}: TOML syntax: ")


def test_a_mib_dir_with_a_300_character_name(tmp_path: Path) -> None:
    path = _write(tmp_path, f'[mibs]\ndirs = ["{"d" * 300}"]\ncache = "cache"\n' + FLEET)
    assert _line(path) == (f"{path}: mibs.dirs: cannot list {tmp_path / ('d' * 300)}: "
                           "File name too long")


def test_a_mib_cache_with_a_nul_in_its_name(tmp_path: Path) -> None:
    (tmp_path / "mibs").mkdir()
    path = _write(tmp_path, '[mibs]\ndirs = ["mibs"]\ncache = "ca\\u0000che"\n' + FLEET)
    assert "mibs.cache: 'ca\\x00che' holds a NUL character" in _line(path)


def test_mib_definitions_in_a_loop(tmp_path: Path) -> None:
    _mib_loop(tmp_path / "mibs")
    path = _write(tmp_path, '[mibs]\ndirs = ["mibs"]\ncache = "cache"\n' + FLEET)
    assert "mibs.dirs: compiling LOOP-A-MIB, LOOP-B-MIB: definitions refer to each other in a " \
           "loop" in _line(path)


def test_a_damaged_mib_cache(tmp_path: Path) -> None:
    (tmp_path / "mibs").mkdir()
    (tmp_path / "mibs" / "v.my").write_text((ROOT / "tests/data/mibs/POLLER-TEST-MIB.txt")
                                            .read_text())
    path = _write(tmp_path, '[mibs]\ndirs = ["mibs"]\ncache = "cache"\n' + FLEET)
    load_config(path)
    (tmp_path / "cache" / "POLLER-TEST-MIB.json").write_text('{"ptCpuLoad": {"oid": 7}}')
    assert "mibs.cache: cannot read the MIB cache" in _line(path)


def test_a_character_device_is_not_read(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("/dev/zero")
    assert str(caught.value) == "/dev/zero: cannot read: not a regular file (a character device)"


def test_a_fifo_does_not_hang_the_load(tmp_path: Path) -> None:
    fifo = tmp_path / "fleet.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError) as caught:
        load_config(fifo)
    assert str(caught.value) == f"{fifo}: cannot read: not a regular file (a FIFO)"


def test_a_file_over_the_size_cap(tmp_path: Path) -> None:
    path = _write(tmp_path, FLEET + "#" * MAX_CONFIG_BYTES + "\n")
    assert _line(path) == f"{path}: cannot read: larger than 16 MiB (the most read)"


def test_a_file_at_the_cap_loads(tmp_path: Path) -> None:
    path = _write(tmp_path, FLEET)
    with path.open("a") as file:
        file.write("#" * (MAX_CONFIG_BYTES - path.stat().st_size - 1) + "\n")
    assert path.stat().st_size == MAX_CONFIG_BYTES
    assert load_config(path).devices[0].name == "sw1"


@pytest.mark.parametrize("source, kind", [("/dev/zero", "a character device"), ("fifo", "a FIFO")])
def test_a_secret_file_that_is_no_regular_file(tmp_path: Path, source: str, kind: str) -> None:
    if source == "fifo":
        source = str(tmp_path / "fifo")
        os.mkfifo(source)
    path = _write(tmp_path, FLEET.replace('community = "public"', f'community_file = "{source}"'))
    assert _line(path) == (f"{path}: credentials.public.community_file: cannot read {source}: "
                           f"not a regular file ({kind})")


def _check(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "poller", "check", *args], capture_output=True,
                          text=True, timeout=60, env=env, cwd=ROOT, check=False)


@pytest.mark.parametrize("case", ["version", "nesting", "long_dir", "mib_loop", "dev_zero",
                                  "fifo", "empty"])
def test_poller_check_exits_2_with_one_line(tmp_path: Path, case: str) -> None:
    """The CLI as operators and systemd run it: exit 2 (RestartPreventExitStatus=2), one line
    on stderr, no traceback, nothing on stdout."""
    text = {
        "version": FLEET.replace('community = "public"', 'version = ["2c"]\ncommunity = "p"'),
        "nesting": "x = " + "[" * 1000 + "]" * 1000 + "\n" + FLEET,
        "long_dir": f'[mibs]\ndirs = ["{"d" * 300}"]\ncache = "cache"\n' + FLEET,
        "mib_loop": '[mibs]\ndirs = ["mibs"]\ncache = "cache"\n' + FLEET,
        "empty": "",
    }.get(case, "")
    path = _write(tmp_path, text)
    if case == "mib_loop":
        _mib_loop(tmp_path / "mibs")
    elif case == "dev_zero":
        path = Path("/dev/zero")
    elif case == "fifo":
        path.unlink()
        os.mkfifo(path)
    done = _check("--config", str(path))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"poller: {path}: ")
    assert "Traceback" not in done.stderr


def _events(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _wait_for(path: Path, event: str, count: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while sum(e["event"] == event for e in _events(path)) < count:
        assert time.monotonic() < deadline, f"no {count}th {event} in {_events(path)}"
        time.sleep(0.05)


def test_a_reload_of_any_broken_file_keeps_the_daemon_polling(tmp_path: Path) -> None:
    """SIGHUP with each kind of broken file: a `reload_failed` event with the one line, the
    fleet kept, and a clean stop at the end (exit 0 after drain and stopped)."""
    out = tmp_path / "out"
    fleet = (f'[output]\ndirectory = "{out}"\n' + FLEET.replace(
        'host = "127.0.0.1"', 'host = "127.0.0.1"\nport = 9\ninterval = 1\ntimeout = 0.2\n'
                              'retries = 0'))
    path = _write(tmp_path, fleet)
    _mib_loop(tmp_path / "mibs")
    broken = [
        FLEET.replace('community = "public"', 'version = ["2c"]\ncommunity = "p"'),
        "x = " + "[" * 1000 + "]" * 1000 + "\n" + FLEET,
        f'[mibs]\ndirs = ["{"d" * 300}"]\ncache = "cache"\n' + FLEET,
        '[mibs]\ndirs = ["mibs"]\ncache = "cache"\n' + FLEET,
        "",
        "fifo",
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    daemon = subprocess.Popen([sys.executable, "-m", "poller", "run", "--config", str(path)],
                              env=env, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    events = out / "events.jsonl"
    try:
        _wait_for(events, "started", 1)
        for n, text in enumerate(broken, start=1):
            path.unlink()
            if text == "fifo":
                os.mkfifo(path)
            else:
                path.write_text(text)
            daemon.send_signal(signal.SIGHUP)
            _wait_for(events, "reload_failed", n)
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0, err
    failures = [str(e["error"]) for e in _events(events) if e["event"] == "reload_failed"]
    assert len(failures) == len(broken) and all("\n" not in f for f in failures)
    assert "no devices" in failures[4] and "not a regular file (a FIFO)" in failures[5]
    kinds = [e["event"] for e in _events(events)]
    assert "drain" in kinds and kinds[-1] == "stopped"
    assert "Traceback" not in err
