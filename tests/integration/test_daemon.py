"""`poller run` as a real process against real agents: every scheduled poll ends in a summary,
every line parses, SIGTERM drains and exits 0, secrets stay out of every file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from tests.conftest import SNMPD_COMMUNITY, Agent
from tests.ports import free_udp_port

ENV_SECRET = "env-s3cret-4b1d"
FILE_SECRET = "file-s3cret-9c2e"


def fleet(tmp_path: Path, snmpd: Agent, live: Agent, silent_port: int) -> Path:
    text = f"""
[output]
directory = "{tmp_path / 'out'}"
max_bytes = "64KiB"
backups = 1000

[defaults]
interval = 2
timeout = 0.4
retries = 0

[credentials.lab]
community = "{SNMPD_COMMUNITY}"
"""
    for community in live.communities[:3]:
        text += f'[credentials.{community.replace("-", "_")}]\ncommunity = "{community}"\n'
        text += (f'[[devices]]\nname = "sim-{community}"\nhost = "127.0.0.1"\nport = {live.port}\n'
                 f'credential = "{community.replace("-", "_")}"\ninterval = 3\ntimeout = 1\n'
                 'tags = { site = "lab" }\n')
    text += f"""
[credentials.from_env]
community_env = "POLLER_TEST_ENV_SECRET"
[credentials.from_file]
community_file = "{tmp_path / 'community'}"
"""
    for name, port, credential in [
        ("snmpd", snmpd.port, "lab"),
        ("dead", silent_port, "lab"),
        ("wrong-env-secret", snmpd.port, "from_env"),
        ("wrong-file-secret", snmpd.port, "from_file"),
    ]:
        text += f'[[devices]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\ncredential = "{credential}"\n'
    (tmp_path / "community").write_text(FILE_SECRET + "\n")
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return path


def read_records(directory: Path, name: str) -> list[dict[str, Any]]:
    records = []
    for file in sorted(directory.glob(name + "*")):
        for line in file.read_bytes().splitlines():
            records.append(json.loads(line))  # every line parses, none torn
    return records


def test_the_daemon_polls_drains_on_sigterm_and_loses_nothing(
    tmp_path: Path, snmpd: Agent, snmpsim_live: Agent
) -> None:
    config = fleet(tmp_path, snmpd, snmpsim_live, free_udp_port())
    process = subprocess.Popen(
        [sys.executable, "-m", "poller", "run", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, POLLER_TEST_ENV_SECRET=ENV_SECRET),
    )
    time.sleep(9)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err.decode()
    assert b"Traceback" not in err

    data = read_records(tmp_path / "out", "poller.jsonl")
    events = read_records(tmp_path / "out", "events.jsonl")
    assert next(e["event"] for e in events) == "started"
    assert [e["event"] for e in events][-2:] == ["drain", "stopped"]
    assert events[-2]["signal"] == "SIGTERM"

    polls: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in data:
        assert record["timestamp"].endswith("Z") and record["event"] in {"poll", "row", "scalars"}
        if record["event"] == "poll":
            polls[record["device"]].append(record)
    wrong = {"wrong-env-secret", "wrong-file-secret"}
    assert set(polls) == {"snmpd", "dead"} | wrong | {f"sim-{c}" for c in snmpsim_live.communities[:3]}
    for device, summaries in polls.items():
        seqs = sorted(p["seq"] for p in summaries)
        assert seqs == list(range(len(seqs))), f"{device}: a scheduled poll has no summary"
    assert len(polls["snmpd"]) >= 4
    assert {p["status"] for p in polls["snmpd"]} == {"ok"}
    assert {(p["status"], p["error_type"]) for p in polls["dead"]} == {("timeout", "timeout")}
    assert events[-1]["polls"] == sum(len(p) for p in polls.values())

    # rates: from the second poll of a live switch on, interface counters have a real bps
    rows = [r for r in data if r["event"] == "row" and r["device"].startswith("sim-")]
    assert all(r["site"] == "lab" for r in rows)
    later = [r for r in rows if r.get("ifHCInOctets_bps") is not None]
    assert later and any(r["ifHCInOctets_bps"] > 0 for r in later)
    first = [r for r in rows if r.get("ifHCInOctets_bps_reason") == "first_sample"]
    assert first

    for device in wrong:  # a community the agent does not know: it stays silent
        assert {p["status"] for p in polls[device]} == {"timeout"}

    checked = subprocess.run([sys.executable, "-m", "poller", "check", "--config", str(config)],
                             capture_output=True, env=dict(os.environ, POLLER_TEST_ENV_SECRET=ENV_SECRET),
                             check=False)
    assert checked.returncode == 0
    everything = b"".join(f.read_bytes() for f in (tmp_path / "out").iterdir()) + out + err
    everything += checked.stdout + checked.stderr
    for secret in (SNMPD_COMMUNITY, ENV_SECRET, FILE_SECRET):
        assert secret.encode() not in everything


def test_run_once_polls_every_device_once_and_exits(tmp_path: Path, snmpd: Agent) -> None:
    config = tmp_path / "once.toml"
    config.write_text(f"""
[output]
directory = "{tmp_path / 'out'}"
[credentials.public]
community = "{SNMPD_COMMUNITY}"
[[devices]]
name = "a"
host = "127.0.0.1"
port = {snmpd.port}
[[devices]]
name = "b"
host = "127.0.0.1"
port = {snmpd.port}
profiles = ["system"]
""")
    done = subprocess.run([sys.executable, "-m", "poller", "run", "--once", "--config", str(config)],
                          capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr.decode()
    polls = [r for r in read_records(tmp_path / "out", "poller.jsonl") if r["event"] == "poll"]
    assert sorted((p["device"], p["seq"], p["status"]) for p in polls) == [("a", 0, "ok"), ("b", 0, "ok")]


def test_bad_inputs_are_one_line_and_a_nonzero_exit(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = tmp_path / "bad-output.toml"
    config.write_text(f'[output]\ndirectory = "{blocker}/logs"\n[credentials.public]\ncommunity = "x"\n'
                      '[[devices]]\nname = "d"\nhost = "127.0.0.1"\nport = 9\n')
    config.chmod(0o600)  # inline secrets: others must not read it (else a warning line too)
    cases = [
        (["run", "--config", str(config)], 1, "cannot write records in"),
        (["run", "--config", str(tmp_path / "missing.toml")], 2, "cannot read"),
        (["check", "--config", str(tmp_path / "missing.toml")], 2, "cannot read"),
        (["get", "127.0.0.1:notaport", "sysName.0"], 2, "not a target"),
        (["get", "127.0.0.1", "sysNmae.0"], 2, "did you mean 'sysName'"),
    ]
    for argv, code, text in cases:
        done = subprocess.run([sys.executable, "-m", "poller", *argv], capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == code, (argv, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and text in lines[0] and lines[0].startswith("poller: "), (argv, lines)


def test_check_summarizes_a_valid_file() -> None:
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "poller", "check", "--config",
                           str(root / "config" / "poller.example.toml")], capture_output=True, text=True,
                           check=False)
    assert done.returncode == 0, done.stderr
    assert "valid" in done.stdout and "devices      3" in done.stdout
