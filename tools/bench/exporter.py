"""Prometheus snmp_exporter as a peer of `make bench`: a hand-written module, scrapes over HTTP.

Debian ships snmp_exporter (`prometheus-snmp-exporter`) without a usable snmp.yml, so the module
is written here: GET of sysUpTime.0 and sysName.0, walks of ifTable and ifXTable with
max_repetitions 25 over v2c (the 0.21 layout: `version` and `auth` inside the module). Each scrape
is charged the exporter's CPU time (from /proc), and counted by the exporter's own
`snmp_scrape_packets_sent` and `snmp_scrape_pdus_returned`; its rendering of the Prometheus text is
the counterpart of poller's JSON records.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

BINARY = "prometheus-snmp-exporter"
MODULE = "bench"
LISTEN = ("127.0.0.1", 19116)

IF_TABLE = "1.3.6.1.2.1.2.2.1"
IF_X_TABLE = "1.3.6.1.2.1.31.1.1.1"
#: (name, column, exporter type); ifSpecific (an OID value) has no exporter type and is walked
#: but not exported, as in the stock if_mib module
IF_COLUMNS = [
    ("ifIndex", 1, "gauge"), ("ifDescr", 2, "DisplayString"), ("ifType", 3, "gauge"),
    ("ifMtu", 4, "gauge"), ("ifSpeed", 5, "gauge"), ("ifPhysAddress", 6, "PhysAddress48"),
    ("ifAdminStatus", 7, "gauge"), ("ifOperStatus", 8, "gauge"), ("ifLastChange", 9, "gauge"),
    ("ifInOctets", 10, "counter"), ("ifInUcastPkts", 11, "counter"),
    ("ifInNUcastPkts", 12, "counter"), ("ifInDiscards", 13, "counter"),
    ("ifInErrors", 14, "counter"), ("ifInUnknownProtos", 15, "counter"),
    ("ifOutOctets", 16, "counter"), ("ifOutUcastPkts", 17, "counter"),
    ("ifOutNUcastPkts", 18, "counter"), ("ifOutDiscards", 19, "counter"),
    ("ifOutErrors", 20, "counter"), ("ifOutQLen", 21, "gauge"),
]
IF_X_COLUMNS = [
    ("ifName", 1, "DisplayString"), ("ifInMulticastPkts", 2, "counter"),
    ("ifInBroadcastPkts", 3, "counter"), ("ifOutMulticastPkts", 4, "counter"),
    ("ifOutBroadcastPkts", 5, "counter"), ("ifHCInOctets", 6, "counter"),
    ("ifHCInUcastPkts", 7, "counter"), ("ifHCInMulticastPkts", 8, "counter"),
    ("ifHCInBroadcastPkts", 9, "counter"), ("ifHCOutOctets", 10, "counter"),
    ("ifHCOutUcastPkts", 11, "counter"), ("ifHCOutMulticastPkts", 12, "counter"),
    ("ifHCOutBroadcastPkts", 13, "counter"), ("ifLinkUpDownTrapEnable", 14, "gauge"),
    ("ifHighSpeed", 15, "gauge"), ("ifPromiscuousMode", 16, "gauge"),
    ("ifConnectorPresent", 17, "gauge"), ("ifAlias", 18, "DisplayString"),
    ("ifCounterDiscontinuityTime", 19, "gauge"),
]


def available() -> str | None:
    """The exporter's path, or None."""
    return shutil.which(BINARY)


def module_yaml(gets: tuple[str, ...], walks: tuple[str, ...], repetitions: int) -> str:
    """snmp.yml with one module doing the bench's work unit."""
    lines = [f"{MODULE}:", "  version: 2", f"  max_repetitions: {repetitions}", "  retries: 1",
             "  timeout: 2s", "  auth:", "    community: public", "  get:"]
    lines += [f"  - {oid}" for oid in gets]
    lines += ["  walk:"] + [f"  - {oid}" for oid in walks]
    lines += ["  metrics:",
              "  - {name: sysUpTime, oid: 1.3.6.1.2.1.1.3, type: gauge}",
              "  - {name: sysName, oid: 1.3.6.1.2.1.1.5, type: DisplayString}"]
    for table, columns in ((IF_TABLE, IF_COLUMNS), (IF_X_TABLE, IF_X_COLUMNS)):
        for name, column, kind in columns:
            lines.append(f"  - name: {name}\n    oid: {table}.{column}\n    type: {kind}\n"
                         "    indexes:\n    - {labelname: ifIndex, type: gauge}")
    return "\n".join(lines) + "\n"


class Exporter:
    """A running snmp_exporter on loopback, stopped by close()."""

    def __init__(self, config: Path, log: Path) -> None:
        binary = available()
        if binary is None:
            raise RuntimeError(f"{BINARY} not installed")
        with open(log, "wb") as stderr:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [binary, f"--config.file={config}",
                 f"--web.listen-address={LISTEN[0]}:{LISTEN[1]}"],
                stdout=subprocess.DEVNULL, stderr=stderr,
            )
        deadline = time.monotonic() + 15
        while True:
            try:
                urllib.request.urlopen(f"http://{LISTEN[0]}:{LISTEN[1]}/metrics", timeout=2).read()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.close()
                    raise RuntimeError(f"{BINARY} did not start; see {log}") from None
                time.sleep(0.2)

    def scrape(self, port: int) -> tuple[int, int, int]:
        """One scrape of the agent on 127.0.0.1:`port`: (varbinds, requests, samples)."""
        url = (f"http://{LISTEN[0]}:{LISTEN[1]}/snmp?target=127.0.0.1:{port}&module={MODULE}")
        with urllib.request.urlopen(url, timeout=30) as answer:
            text = answer.read().decode()
        return parse_scrape(text)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def parse_scrape(text: str) -> tuple[int, int, int]:
    """(pdus returned, packets sent, samples of the module's metrics) of one scrape's text."""
    varbinds = requests = samples = 0
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        if name.startswith("snmp_scrape_pdus_returned"):
            varbinds = int(float(value))
        elif name.startswith("snmp_scrape_packets_sent"):
            requests = int(float(value))
        elif not name.startswith("snmp_scrape_"):
            samples += 1
    if not varbinds or not requests:
        raise RuntimeError(f"{BINARY}: scrape without snmp_scrape_* counts: {text[:200]!r}")
    return varbinds, requests, samples


def measure(ports: list[int], polls: int, cpu_s: Callable[[int], float],
            config: Path, log: Path) -> dict[str, float]:
    """Scrape `polls` device polls (one warm-up scrape per port first); CPU of the exporter."""
    exporter = Exporter(config, log)
    try:
        for port in ports:
            exporter.scrape(port)
        cpu0, t0 = cpu_s(exporter.process.pid), time.monotonic()
        varbinds = requests = samples = 0
        for n in range(polls):
            got, asked, seen = exporter.scrape(ports[n % len(ports)])
            varbinds += got
            requests += asked
            samples += seen
        cpu1, t1 = cpu_s(exporter.process.pid), time.monotonic()
    finally:
        exporter.close()
    return {"polls": polls, "varbinds": varbinds, "requests": requests, "samples": samples,
            "cpu_s": cpu1 - cpu0, "wall_s": t1 - t0}
