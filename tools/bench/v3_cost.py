"""`make bench-usm`: what SNMPv3 costs poller in CPU per varbind, next to v2c, on the same snmpd and
the same walk (the `make bench` work unit: GET sysUpTime.0 + sysName.0, GETBULK walks of ifTable and
ifXTable, max-repetitions 25), in one process, round-robin, so the ratios hold on a noisy machine.

Modes: v2c and v3 (authNoPriv SHA-256, authPriv SHA-256 + AES-128) on each engine: the built-in
codec and USM (the default) and pysnmp (the reference; its v2c row shows how much of its v3 cost
is USM). With root and
iproute2 it runs in a private network namespace with BENCH_INTERFACES (48) empty bridges, so the
interface tables have a realistic size; otherwise on the host's interfaces.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from poller.config.model import Credential, Secret, Usm
from poller.oid import Oid
from poller.snmp.client import SnmpClient
from poller.snmp.engines import make_requester
from poller.snmp.types import RequestStats, Target
from tests import agents
from tests.ports import free_udp_port
from tools.bench import host

ROOT = Path(__file__).resolve().parents[2]
NETNS = "poller-bench-v3"
COMMUNITY = "bench-v2c"
USER = agents.V3User("bench", "SHA-256", "bench-auth-key", "AES", "bench-priv-key")
AUTH_ONLY = agents.V3User("bench-auth", "SHA-256", "bench-auth-key")
GETS = [Oid.parse("1.3.6.1.2.1.1.3.0"), Oid.parse("1.3.6.1.2.1.1.5.0")]
WALKS = [Oid.parse("1.3.6.1.2.1.2.2"), Oid.parse("1.3.6.1.2.1.31.1.1")]


def _usm(user: agents.V3User) -> Credential:
    usm = Usm(user=user.name, level=user.level, auth_protocol=user.auth,
              auth_key=Secret(str(user.auth_key)), priv_protocol=user.priv,
              priv_key=Secret(str(user.priv_key)) if user.priv_key else None)
    return Credential(name=user.name, version="3", usm=usm)


V2C = Credential(name="c", version="2c", community=Secret(COMMUNITY))
MODES: dict[str, tuple[str, Credential]] = {
    "v2c builtin": ("builtin", V2C),
    "v2c pysnmp": ("pysnmp", V2C),
    "v3 authNoPriv builtin": ("builtin", _usm(AUTH_ONLY)),
    "v3 authPriv builtin": ("builtin", _usm(USER)),
    "v3 authNoPriv pysnmp": ("pysnmp", _usm(AUTH_ONLY)),
    "v3 authPriv pysnmp": ("pysnmp", _usm(USER)),
}


async def _polls(engine: str, target: Target, polls: int) -> tuple[float, int, int]:
    """CPU seconds, varbinds and requests of `polls` device polls (after one warm-up poll that
    pays for discovery and key localization)."""
    client = SnmpClient(make_requester(engine))
    try:
        await _poll(client, target, RequestStats())
        stats = RequestStats()
        start = time.process_time()
        varbinds = 0
        for _ in range(polls):
            varbinds += await _poll(client, target, stats)
        return time.process_time() - start, varbinds, stats.requests
    finally:
        await client.close()


async def _poll(client: SnmpClient, target: Target, stats: RequestStats) -> int:
    got = await client.get(target, GETS, stats)
    walked = await client.walk(target, WALKS, stats)
    return len(got) + sum(len(rows) for rows in walked.values())


def measure(port: int, rounds: int, polls: int) -> dict[str, Any]:
    results: dict[str, list[float]] = {mode: [] for mode in MODES}
    shape: dict[str, tuple[int, int]] = {}
    for _ in range(rounds):
        for mode, (engine, credential) in MODES.items():
            target = Target(name=mode, host="127.0.0.1", port=port, credential=credential,
                            timeout_s=5.0, retries=1)
            cpu_s, varbinds, requests = asyncio.run(_polls(engine, target, polls))
            results[mode].append(cpu_s / varbinds * 1e6)
            shape[mode] = (varbinds // polls, requests // polls)
    medians = {mode: statistics.median(values) for mode, values in results.items()}
    base = medians["v2c builtin"]
    return {
        "rounds": rounds, "polls_per_round": polls,
        "modes": {mode: {"us_per_varbind": round(medians[mode], 2),
                         "runs_us_per_varbind": [round(v, 2) for v in results[mode]],
                         "varbinds_per_poll": shape[mode][0], "requests_per_poll": shape[mode][1],
                         "x_v2c_builtin": round(medians[mode] / base, 2),
                         "x_v2c_pysnmp": round(medians[mode] / medians["v2c pysnmp"], 2),
                         "x_same_v3_pysnmp": _versus_pysnmp(mode, medians)}
                  for mode in MODES},
    }


def _versus_pysnmp(mode: str, medians: dict[str, float]) -> float | None:
    """A built-in v3 mode's cost over the same mode on pysnmp."""
    peer = mode.replace(" builtin", " pysnmp")
    if not mode.startswith("v3") or peer == mode:
        return None
    return round(medians[mode] / medians[peer], 3)


def run_inside() -> int:
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    polls = int(os.environ.get("BENCH_POLLS", "10"))
    with tempfile.TemporaryDirectory(prefix="poller-bench-v3-") as tmp:
        port = free_udp_port()
        agent = agents.start_snmpd(Path(tmp), [port], COMMUNITY, (USER, AUTH_ONLY))
        try:
            agents.wait_ready("127.0.0.1", port, COMMUNITY, agent)
            report = measure(port, rounds, polls)
        finally:
            agents.stop(agent)
    out = ROOT / "bench-out"
    out.mkdir(exist_ok=True)
    (out / "v3-cost.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'mode':<26}{'us/varbind':>11}{'x v2c builtin':>15}{'x v2c pysnmp':>14}"
          f"{'x v3 pysnmp':>13}{'varbinds':>10}{'requests':>10}")
    for mode, row in report["modes"].items():
        same = row["x_same_v3_pysnmp"]
        print(f"{mode:<26}{row['us_per_varbind']:>11}{row['x_v2c_builtin']:>15}"
              f"{row['x_v2c_pysnmp']:>14}{'' if same is None else same:>13}"
              f"{row['varbinds_per_poll']:>10}{row['requests_per_poll']:>10}")
    print(f"(medians of {rounds} round-robin rounds of {polls} polls; bench-out/v3-cost.json)")
    return 0


def main() -> int:
    interfaces = int(os.environ.get("BENCH_INTERFACES", "48"))
    if "--inside" in sys.argv or interfaces <= 0 or not (shutil.which("ip") and os.geteuid() == 0):
        return run_inside()
    return host.rerun_in_namespace(NETNS, "tools.bench.v3_cost", interfaces)


if __name__ == "__main__":
    raise SystemExit(main())
