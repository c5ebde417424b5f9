"""Real SNMP agents on loopback for tests, `make run` and `make bench`: net-snmp's snmpd with a
generated config, and snmpsim serving snmpsim-data recordings (optionally with counters that
advance). Usable outside pytest; a missing binary raises AgentError, which the fixtures turn into
a failure, never a skip.
"""

from __future__ import annotations

import bz2
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import snmpsim_data

RECORDINGS = Path(snmpsim_data.__file__).parent / "data"
#: snmpsim-data recordings by community (their file name), with ifTable and ifXTable
SWITCHES = {
    "cisco-c3560": "network/switch/cisco-c3560",
    "cisco-n5000": "network/switch/cisco-n5000",
    "hpe-procurve-516733-b21": "network/switch/hpe-procurve-516733-b21",
    "huawei-s12704": "network/switch/huawei-s12704",
    "dlink-des3038": "network/switch/dlink-des3038",
}
_COUNTER_LINE = re.compile(r"^([0-9.]+)\|(65|70)\|(\d+)$")
_UPTIME_LINE = re.compile(r"^(1\.3\.6\.1\.2\.1\.1\.3\.0)\|67\|(\d+)$")


class AgentError(RuntimeError):
    pass


def binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise AgentError(f"{name} not found: install net-snmp (apt-get install -y snmpd snmp)")
    return found


def prepare_recordings(dest_dir: Path, names: list[str], *, advancing: bool = False) -> Path:
    """Decompress the named recordings (keys of SWITCHES) into `dest_dir` as NAME.snmprec.

    With `advancing`, every Counter32/Counter64 and sysUpTime becomes snmpsim's `numeric`
    variation: value = recorded value + rate x seconds since snmpsim started, so rates are
    non-zero and sysUpTime moves as on a live agent."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        source = RECORDINGS / (SWITCHES.get(name, name) + ".snmprec.bz2")
        text = bz2.decompress(source.read_bytes()).decode("utf-8", "surrogateescape")
        if advancing:
            text = "\n".join(_advancing(line, n) for n, line in enumerate(text.splitlines()))
        (dest_dir / f"{name}.snmprec").write_text(text + "\n", "utf-8", "surrogateescape")
    return dest_dir


def _advancing(line: str, n: int) -> str:
    uptime = _UPTIME_LINE.match(line)
    if uptime:
        return f"{uptime[1]}|67:numeric|rate=100,initial={uptime[2]}"
    counter = _COUNTER_LINE.match(line)
    if not counter:
        return line
    oid, tag, value = counter.groups()
    rate = 1000 + (n * 7919) % 250_000  # octets/s that differ per counter, stable per line
    wrap = ",wrap=1" if tag == "65" else ""
    return f"{oid}|{tag}:numeric|rate={rate},initial={value}{wrap}"


def start_snmpsim(data_dir: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    """snmpsim on 127.0.0.1:`port` serving every recording in `data_dir` (community = name)."""
    responder = Path(sys.executable).with_name("snmpsim-command-responder")
    if not responder.exists():
        raise AgentError(f"{responder} not found: install the test extras (make venv)")
    cache = data_dir.parent / "snmpsim-cache"
    cache.mkdir(exist_ok=True)
    command = [str(responder), f"--data-dir={data_dir}", f"--cache-dir={cache}",
               f"--agent-udpv4-endpoint=127.0.0.1:{port}", f"--logging-method=file:{log_path}"]
    if os.geteuid() == 0:
        command += ["--process-user=root", "--process-group=root"]
    # its own session: a Ctrl-C at the terminal reaches the daemon (which drains), not the fleet
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)


@dataclass(frozen=True)
class V3User:
    """An SNMPv3 user as net-snmp's createUser takes it (protocol names in its spelling)."""

    name: str
    auth: str | None = None
    auth_key: str | None = None
    priv: str | None = None
    priv_key: str | None = None

    @property
    def level(self) -> str:
        return "authPriv" if self.priv else "authNoPriv" if self.auth else "noAuthNoPriv"

    def config_lines(self) -> str:
        words = [self.name]
        if self.auth:
            words += [self.auth, str(self.auth_key)]
        if self.priv:
            words += [self.priv, str(self.priv_key)]
        minimum = {"authPriv": "priv", "authNoPriv": "auth", "noAuthNoPriv": "noauth"}[self.level]
        return f"createUser {' '.join(words)}\nrouser {self.name} {minimum}\n"

    def netsnmp_options(self) -> list[str]:
        """snmpget/snmpbulkwalk options for this user."""
        options = ["-v3", "-u", self.name, "-l", self.level]
        if self.auth:
            options += ["-a", self.auth, "-A", str(self.auth_key)]
        if self.priv:
            options += ["-x", self.priv, "-X", str(self.priv_key)]
        return options


AUTH_PROTOCOLS = ("MD5", "SHA", "SHA-224", "SHA-256", "SHA-384", "SHA-512")
#: every privacy protocol Debian's snmpd (net-snmp 5.9) takes, Blumenthal and Reeder AES included
PRIV_PROTOCOLS = ("DES", "AES", "AES-192", "AES-256", "AES-192-C", "AES-256-C")


def v3_matrix() -> list[V3User]:
    """One user per combination: noAuthNoPriv; authNoPriv x 6 auth; authPriv x 6 auth x 6 priv.
    Keys differ per user and read as secrets, so tests can check they never leak."""
    def slug(name: str) -> str:
        return name.lower().replace("-", "")

    users = [V3User("v3-none")]
    for auth in AUTH_PROTOCOLS:
        users.append(V3User(f"v3-{slug(auth)}", auth, f"s3cr3t-a-{slug(auth)}"))
        for priv in PRIV_PROTOCOLS:
            users.append(V3User(f"v3-{slug(auth)}-{slug(priv)}", auth, f"s3cr3t-a-{slug(auth)}-{slug(priv)}",
                                priv, f"s3cr3t-p-{slug(auth)}-{slug(priv)}"))
    return users


def snmpd_config(directory: Path, ports: list[int], community: str,
                 users: tuple[V3User, ...] = ()) -> Path:
    conf = directory / "snmpd.conf"
    endpoints = ",".join(f"udp:127.0.0.1:{port}" for port in ports)
    conf.write_text(
        f"agentaddress {endpoints}\n"
        f"rocommunity {community} 127.0.0.1\n"
        "sysName poller-test-agent\nsysLocation loopback\nsysContact ops@example.net\n"
        + "".join(user.config_lines() for user in users)
    )
    return conf


def start_snmpd(directory: Path, ports: list[int], community: str,
                users: tuple[V3User, ...] = ()) -> subprocess.Popen[bytes]:
    """net-snmp snmpd in the foreground answering v1/v2c on 127.0.0.1 at each of `ports`, and
    SNMPv3 for `users` (its persistent state, engine ID and users, under `directory`/state)."""
    conf = snmpd_config(directory, ports, community, users)
    env = dict(os.environ, SNMP_PERSISTENT_DIR=str(directory / "state"))
    return subprocess.Popen(
        [binary("snmpd"), "-f", "-Lf", str(directory / "snmpd.log"), "-C", "-c", str(conf)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )


def wait_ready(host: str, port: int, community: str, process: subprocess.Popen[bytes] | None = None,
               timeout_s: float = 30.0) -> None:
    """Wait until the agent answers a GET of sysUpTime.0 (net-snmp's snmpget as the judge)."""
    deadline = time.monotonic() + timeout_s
    command = [binary("snmpget"), "-v2c", "-c", community, "-t", "0.5", "-r", "0",
               f"{host}:{port}", "1.3.6.1.2.1.1.3.0"]
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AgentError(f"agent on {host}:{port} exited with {process.returncode}")
        if subprocess.run(command, capture_output=True, check=False).returncode == 0:
            return
        time.sleep(0.3)
    raise AgentError(f"agent on {host}:{port} did not answer within {timeout_s:g} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_rrdcached(directory: Path, port: int, *options: str,
                    unix: Path | None = None) -> subprocess.Popen[bytes]:
    """rrdcached on 127.0.0.1:`port` (and the unix socket `unix`, listed after `options`, which
    apply to it), its journal and pid file in `directory`, holding writes (-w 3600), returned
    once it answers on every address; the caller stops it by its pid."""
    (directory / "journal").mkdir(exist_ok=True)
    listen = ["-l", f"127.0.0.1:{port}", *options, *(["-l", f"unix:{unix}"] if unix else [])]
    process = subprocess.Popen(
        ["rrdcached", "-g", *listen, "-w", "3600", "-f", "7200", "-R",
         "-j", str(directory / "journal"), "-p", str(directory / "rrdcached.pid")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        if process.poll() is not None:
            raise AgentError(f"rrdcached exited: {process.stderr.read() if process.stderr else ''!r}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            if unix is None or unix.exists():
                return process
        except OSError:
            pass
        if time.monotonic() > deadline:
            stop(process)
            raise AgentError("rrdcached did not listen within 10 s")
        time.sleep(0.05)
