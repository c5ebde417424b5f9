"""Bare SNMP walks with other Python libraries, for `make bench` to compare poller against.

Run as `python -m tools.bench.peers LIBRARY --ports 20161,20162 --polls N`: each device poll is a
GET of sysUpTime.0 + sysName.0 and GETBULK walks (max-repetitions 25) of ifTable and ifXTable,
the same work as poller's bench profile, one device after another, on uvloop. One poll of every
port warms up first; then the script charges its own CPU time (user + sys, all threads) to the
measured polls and prints one JSON object: polls, varbinds, requests, cpu_s, wall_s.

LIBRARY is `gufo` (gufo_snmp), `aiosnmp`, `pysnmp` (lookupMib=False) or `pysnmp-mib`
(lookupMib=True); pysnmp uses one shared SnmpEngine and lexicographicMode=False, as poller's own
pysnmp engine does. Only the bench imports these libraries (`pip install .[bench]`).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

GETS = ("1.3.6.1.2.1.1.3.0", "1.3.6.1.2.1.1.5.0")
WALKS = ("1.3.6.1.2.1.2.2", "1.3.6.1.2.1.31.1.1")
REPETITIONS = 25
HOST = "127.0.0.1"

#: one device poll: (port) -> (varbinds, requests)
Poll = Callable[[int], Awaitable[tuple[int, int]]]


def _bulk_requests(varbinds: int) -> int:
    """Requests of one GETBULK walk that read `varbinds` inside the subtree: full answers, then
    the one that leaves the subtree (libraries that do not count their requests)."""
    return varbinds // REPETITIONS + 1


async def _gufo() -> tuple[Poll, Callable[[], Awaitable[None]]]:
    from gufo.snmp.aio import SnmpSession

    async def poll(port: int) -> tuple[int, int]:
        async with SnmpSession(addr=HOST, port=port, community="public", timeout=2.0,
                               max_repetitions=REPETITIONS) as session:
            got = await session.get_many(list(GETS))
            varbinds, requests = len(got), 1
            for root in WALKS:
                n = 0
                async for _oid, _value in session.getbulk(root):
                    n += 1
                varbinds += n
                requests += _bulk_requests(n)
        return varbinds, requests

    return poll, _nothing


async def _aiosnmp() -> tuple[Poll, Callable[[], Awaitable[None]]]:
    import aiosnmp

    async def poll(port: int) -> tuple[int, int]:
        async with aiosnmp.Snmp(host=HOST, port=port, community="public", timeout=2,
                                max_repetitions=REPETITIONS) as snmp:
            got = await snmp.get(list(GETS))
            varbinds, requests = len(got), 1
            for root in WALKS:
                n = len(await snmp.bulk_walk(root))
                varbinds += n
                requests += _bulk_requests(n)
        return varbinds, requests

    return poll, _nothing


async def _pysnmp(lookup_mib: bool) -> tuple[Poll, Callable[[], Awaitable[None]]]:
    from pysnmp.hlapi.v3arch.asyncio import (
        CommunityData,
        ContextData,
        ObjectIdentity,
        ObjectType,
        SnmpEngine,
        UdpTransportTarget,
        bulk_walk_cmd,
        get_cmd,
    )

    engine = SnmpEngine()
    auth = CommunityData("public", mpModel=1)
    context = ContextData()
    transports: dict[int, Any] = {}

    async def poll(port: int) -> tuple[int, int]:
        transport = transports.get(port)
        if transport is None:
            transport = transports[port] = await UdpTransportTarget.create(
                (HOST, port), timeout=2, retries=1
            )
        error, status, _, got = await get_cmd(
            engine, auth, transport, context, *[ObjectType(ObjectIdentity(o)) for o in GETS],
            lookupMib=lookup_mib,
        )
        if error or status:
            raise SystemExit(f"pysnmp: GET failed on port {port}: {error or status}")
        varbinds, requests = len(got), 1
        for root in WALKS:
            n = 0
            async for error, status, _, rows in bulk_walk_cmd(
                engine, auth, transport, context, 0, REPETITIONS,
                ObjectType(ObjectIdentity(root)), lexicographicMode=False, lookupMib=lookup_mib,
            ):
                if error or status:
                    raise SystemExit(f"pysnmp: walk failed on port {port}: {error or status}")
                n += len(rows)
            varbinds += n
            requests += _bulk_requests(n)
        return varbinds, requests

    async def close() -> None:
        engine.close_dispatcher()

    return poll, close


async def _nothing() -> None:
    return None


LIBRARIES: dict[str, Callable[[], Awaitable[tuple[Poll, Callable[[], Awaitable[None]]]]]] = {
    "gufo": _gufo,
    "aiosnmp": _aiosnmp,
    "pysnmp": lambda: _pysnmp(False),
    "pysnmp-mib": lambda: _pysnmp(True),
}


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _run(library: str, ports: list[int], polls: int) -> dict[str, Any]:
    poll, close = await LIBRARIES[library]()
    try:
        for port in ports:  # warm-up: imports, sessions, caches stay out of the window
            await poll(port)
        cpu0, t0 = _cpu_s(), time.monotonic()
        varbinds = requests = 0
        for n in range(polls):
            got, asked = await poll(ports[n % len(ports)])
            varbinds += got
            requests += asked
        cpu1, t1 = _cpu_s(), time.monotonic()
    finally:
        await close()
    return {"polls": polls, "varbinds": varbinds, "requests": requests,
            "cpu_s": cpu1 - cpu0, "wall_s": t1 - t0}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.peers")
    parser.add_argument("library", choices=sorted(LIBRARIES))
    parser.add_argument("--ports", required=True, help="comma-separated agent ports on 127.0.0.1")
    parser.add_argument("--polls", type=int, default=40)
    args = parser.parse_args()
    import uvloop

    ports = [int(p) for p in args.ports.split(",")]
    result = uvloop.run(_run(args.library, ports, max(1, args.polls)))
    json.dump(result, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
