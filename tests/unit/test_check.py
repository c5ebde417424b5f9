"""`poller check` as operators run it: a good file prints a summary and exits 0; a bad one prints
one line on stderr and exits 2, never a traceback, never a community."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from poller.commands.check import min_requests
from poller.config.load import load_config

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
[output]
directory = "out"
[credentials.core]
version = "2c"
community = "s3cr3t-community"
[credentials.old]
version = "1"
community = "0ld-s3cr3t"
[profiles.interfaces]
[[profiles.interfaces.tables]]
name = "interfaces"
columns = ["ifName", "ifHCInOctets", "ifHCOutOctets"]
bits = ["ifHCInOctets"]
[[devices]]
name = "sw1"
host = "192.0.2.1"
credential = "core"
interval = "30s"
[[devices]]
name = "sw2"
host = "2001:db8::2"
credential = "core"
interval = "30s"
[[devices]]
name = "ups1"
host = "ups1.example.net"
credential = "old"
profiles = ["system"]
interval = "5m"
"""


def check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    path.chmod(0o600)
    return subprocess.run(
        [sys.executable, "-m", "poller", "check", "--config", str(path)],
        capture_output=True, text=True, cwd=tmp_path, timeout=60, check=False,
    )


def test_a_good_file_prints_the_summary_and_exits_0(tmp_path: Path) -> None:
    done = check(tmp_path, GOOD)
    assert (done.returncode, done.stderr) == (0, "")
    out = done.stdout
    assert out.startswith(f"{tmp_path / 'fleet.toml'}: valid\n")
    assert "devices      3\n" in out
    assert "every 30 s: 2 (sw1, sw2)" in out and "every 300 s: 1 (ups1)" in out
    assert "credentials  core (v2c), old (v1)" in out
    assert "profile      system (built-in): 6 scalars" in out
    assert "profile      interfaces (replaces the built-in): 0 scalars, 1 table with 3 columns" in out
    # sw1, sw2: 1 GET + 1 GETBULK twice a minute each; ups1: 1 GET every 5 minutes
    assert "polls/min    4.2\n" in out
    assert "requests/min at least 8.2 " in out
    assert f"output       {tmp_path / 'out'} (poller.jsonl, events.jsonl" in out
    assert "s3cr3t" not in out


def test_a_bad_file_is_one_line_on_stderr_and_exit_2(tmp_path: Path) -> None:
    done = check(tmp_path, GOOD.replace('credential = "old"', 'credential = "olde"'))
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (f"poller: {tmp_path / 'fleet.toml'}: devices[2] (ups1).credential: "
                           "unknown credential 'olde' (known: core, old)\n")


def test_a_syntax_error_and_a_missing_file_are_one_line_too(tmp_path: Path) -> None:
    for done in (check(tmp_path, "[devices\n"),
                 subprocess.run([sys.executable, "-m", "poller", "check", "--config",
                                 str(tmp_path / "missing.toml")],
                                capture_output=True, text=True, timeout=60, check=False)):
        assert done.returncode == 2
        assert "Traceback" not in done.stderr
        assert done.stderr.count("\n") == 1 and done.stderr.startswith("poller: ")


def test_a_community_in_the_wrong_place_is_not_echoed(tmp_path: Path) -> None:
    done = check(tmp_path, GOOD.replace('credential = "old"', 'credential = "0ld-s3cr3t"'))
    assert done.returncode == 2 and "s3cr3t" not in done.stderr + done.stdout
    assert "is a secret (a community or key)" in done.stderr


def test_the_example_file_checks_clean() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "poller", "check", "--config",
         str(ROOT / "config" / "poller.example.toml")],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "(built-in)" in done.stdout and "Traceback" not in done.stderr


def test_min_requests_counts_get_chunks_and_walk_rounds(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(GOOD + """
[[devices]]
name = "small"
host = "192.0.2.9"
credential = "core"
max_oids_per_request = 2
[[devices]]
name = "old-switch"
host = "192.0.2.10"
credential = "old"
""")
    sw1, _, ups1, small, old = load_config(path).devices
    assert min_requests(sw1) == 1 + 1  # sysUpTime and 5 more in one GET; 3 columns in one bulk
    assert min_requests(ups1) == 1  # system only
    assert min_requests(small) == 3 + 2  # 6 scalar OIDs 2 at a time; 3 columns 2 at a time
    assert min_requests(old) == 1 + 2  # v1: GETNEXT needs a second round to see the end


def test_v1_devices_are_told_what_their_64_bit_counters_become(tmp_path: Path) -> None:
    """SNMPv1 has no Counter64: the built-in interfaces profile falls back to the 32-bit
    columns; a profile of 64-bit counters only reads no traffic at all, and check says so."""
    old = '[[devices]]\nname = "old-switch"\nhost = "192.0.2.10"\ncredential = "old"\n'
    builtin = GOOD.split("[profiles.interfaces]")[0] + old
    out = check(tmp_path, builtin).stdout
    assert ("  warning      SNMPv1 has no Counter64: table interfaces on old-switch: rates from "
            "the 32-bit ifInOctets, ifOutOctets, ifInUcastPkts, ifOutUcastPkts\n") in out
    out = check(tmp_path, GOOD + old).stdout
    assert ("  warning      SNMPv1 has no Counter64: table interfaces on old-switch: none of its "
            "counters can be read: its polls will warn no_counters\n") in out
    # v2c devices and v1 devices without tables draw no such line
    assert "SNMPv1" not in check(tmp_path, GOOD).stdout
