"""SNMPv3 end to end: `poller get`/`poller walk` with net-snmp's options print what net-snmp's own
tools print, a wrong key exits 1 with one line; the daemon writes typed error records. No key
ever appears in output, records or messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import agents
from tests.conftest import SNMPD_V3_USERS, Agent

SYSTEM = ["1.3.6.1.2.1.1.1.0", "1.3.6.1.2.1.1.2.0", "1.3.6.1.2.1.1.4.0", "1.3.6.1.2.1.1.5.0",
          "1.3.6.1.2.1.1.6.0"]
IF_DESCR = "1.3.6.1.2.1.2.2.1.2"
#: one user per level, and both AES key extensions with a short (SHA-1) auth key
USERS = ["v3-none", "v3-md5", "v3-sha256-aes", "v3-sha-aes256", "v3-sha-aes192c", "v3-sha512-des"]


def user_named(name: str) -> agents.V3User:
    return next(u for u in SNMPD_V3_USERS if u.name == name)


def poller(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "poller", *argv], capture_output=True, text=True,
                          timeout=60, check=False)


def netsnmp(tool: str, user: agents.V3User, agent: Agent, *oids: str) -> str:
    command = [agents.binary(tool), *user.netsnmp_options(), "-On", "-t", "5", agent.address, *oids]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("name", USERS)
def test_get_and_walk_print_what_net_snmp_prints(snmpd: Agent, name: str) -> None:
    user = user_named(name)
    got = poller("get", snmpd.address, *user.netsnmp_options(), *SYSTEM)
    assert got.returncode == 0, got.stderr
    assert got.stdout == netsnmp("snmpget", user, snmpd, *SYSTEM)
    walked = poller("walk", snmpd.address, *user.netsnmp_options(), IF_DESCR)
    assert walked.returncode == 0, walked.stderr
    assert walked.stdout and walked.stdout == netsnmp("snmpbulkwalk", user, snmpd, IF_DESCR)


def test_long_options_work_as_the_short_ones(snmpd: Agent) -> None:
    user = user_named("v3-sha384-aes256c")
    long = ["--version", "3", "--user", user.name, "--security-level", "authPriv",
            "--auth-protocol", "SHA384", "--auth-key", str(user.auth_key),
            "--priv-protocol", "AES256C", "--priv-key", str(user.priv_key), "--context", ""]
    got = poller("get", snmpd.address, *long, "sysName.0")
    assert (got.returncode, got.stdout) == (0, '.1.3.6.1.2.1.1.5.0 = STRING: "poller-test-agent"\n')


def test_a_wrong_auth_key_exits_1_saying_authentication_failed(snmpd: Agent) -> None:
    user = user_named("v3-sha256-aes256")
    options = user.netsnmp_options()
    options[options.index("-A") + 1] = "s3cr3t-wrong-auth"
    done = poller("get", snmpd.address, *options, "-t", "1", "sysName.0")
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == (f"poller: auth_failed: {snmpd.address}: authentication failed "
                           "(wrong auth key or protocol?)\n")


def test_an_unknown_user_exits_1_saying_so(snmpd: Agent) -> None:
    options = user_named("v3-sha256-aes256").netsnmp_options()
    options[options.index("-u") + 1] = "nobody-here"
    done = poller("walk", snmpd.address, *options, "-t", "1", "ifDescr")
    assert done.returncode == 1
    assert done.stderr == f"poller: unknown_user: {snmpd.address}: unknown user 'nobody-here'\n"
    assert "s3cr3t" not in done.stderr


def read_records(directory: Path, name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (directory / name).read_bytes().splitlines()]


def test_the_daemon_records_v3_failures_by_type_and_never_a_key(tmp_path: Path, snmpd: Agent) -> None:
    good = user_named("v3-sha256-aes")
    devices = {
        "good": ("authPriv", good.auth_key, good.priv_key, good.name),
        "wrong-auth": ("authPriv", "s3cr3t-wrong-auth", good.priv_key, good.name),
        "wrong-priv": ("authPriv", good.auth_key, "s3cr3t-wrong-priv", good.name),
        "nobody": ("authPriv", good.auth_key, good.priv_key, "nobody-here"),
    }
    text = f'[output]\ndirectory = "{tmp_path / "out"}"\n'
    for name, (level, auth_key, priv_key, user) in devices.items():
        text += (f'[credentials.{name}]\nversion = "3"\nuser = "{user}"\nsecurity_level = "{level}"\n'
                 f'auth_protocol = "SHA256"\nauth_key = "{auth_key}"\npriv_protocol = "AES128"\n'
                 f'priv_key = "{priv_key}"\n')
    for name in devices:
        text += (f'[[devices]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {snmpd.port}\n'
                 f'credential = "{name}"\ntimeout = "500ms"\nretries = 0\n')
    config = tmp_path / "fleet.toml"
    config.write_text(text)
    config.chmod(0o600)
    done = subprocess.run([sys.executable, "-m", "poller", "run", "--once", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    records = read_records(tmp_path / "out", "poller.jsonl")
    polls = {r["device"]: r for r in records if r["event"] == "poll"}
    assert {name: (p["status"], p.get("error_type")) for name, p in polls.items()} == {
        "good": ("ok", None),
        "wrong-auth": ("error", "auth_failed"),
        "wrong-priv": ("timeout", "timeout"),
        "nobody": ("error", "unknown_user"),
    }
    assert "authentication failed" in polls["wrong-auth"]["error"]
    assert any(r["event"] == "row" and r["device"] == "good" for r in records)
    everything = done.stdout + done.stderr + "".join(
        f.read_text() for f in (tmp_path / "out").iterdir())
    for secret in ("s3cr3t", str(good.auth_key), str(good.priv_key)):
        assert secret not in everything


def test_a_fleet_device_with_a_v3_credential(tmp_path: Path, snmpd: Agent) -> None:
    user = user_named("v3-sha224-aes192")
    (tmp_path / "priv").write_text(f"{user.priv_key}\n")
    config = tmp_path / "fleet.toml"
    config.write_text(
        f'[credentials.v3]\nversion = "v3"\nuser = "{user.name}"\nsecurity_level = "authpriv"\n'
        f'auth_protocol = "sha224"\nauth_key_env = "POLLER_TEST_V3_AUTH"\n'
        f'priv_protocol = "aes192"\npriv_key_file = "{tmp_path / "priv"}"\n'
        f'[[devices]]\nname = "sw-v3"\nhost = "127.0.0.1"\nport = {snmpd.port}\ncredential = "v3"\n')
    done = subprocess.run(
        [sys.executable, "-m", "poller", "get", "--config", str(config), "sw-v3", "sysName.0"],
        capture_output=True, text=True, timeout=60,
        env={**os.environ, "POLLER_TEST_V3_AUTH": str(user.auth_key)}, check=False)
    assert (done.returncode, done.stdout) == (0, '.1.3.6.1.2.1.1.5.0 = STRING: "poller-test-agent"\n'), \
        done.stderr


def test_a_walk_piped_into_head_stops_quietly(snmpd: Agent) -> None:
    """`poller walk ... | head -1`: the reader leaves early; no traceback, as with snmpwalk."""
    walk = subprocess.Popen(
        [sys.executable, "-m", "poller", "walk", snmpd.address, "-c", snmpd.communities[0],
         "1.3.6.1.2.1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert walk.stdout is not None and walk.stderr is not None
    first = walk.stdout.readline()
    walk.stdout.close()  # what head does after its line
    walk.wait(timeout=60)
    assert first.startswith((b"SNMPv2-MIB::sysDescr.0 = ", b".1.3.6.1.2.1.1.1.0"))
    assert walk.stderr.read() == b""
