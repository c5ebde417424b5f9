"""One member (poller.cluster.node.Node, and the TickOwner it tells what each answer says) in
this process against a real redis-server, reached through a TCP relay the test can hold: what
the member decides about each tick while Redis's answers are late, and another host joins
meanwhile."""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from poller.cluster import rendezvous
from poller.cluster.index_share import PAGE_WAIT_S, SharedIndex
from poller.cluster.link import Beat, Link
from poller.cluster.node import Node
from poller.cluster.owner import Membership, TickOwner, TickSeed
from poller.config.cluster import ClusterSettings
from poller.config.load import load_config
from poller.config.model import Config
from poller.poll.rates import CounterTracker
from tests.cluster_rig import NEEDS_REDIS, RedisServer
from tests.ports import free_tcp_port

pytestmark = [NEEDS_REDIS, pytest.mark.timeout(60)]

LEASE_S = 4.0
NAMES = [f"dev-{n:03d}" for n in range(200)]


class Events:
    """The member's sink: its events, kept."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.written = self.dropped = 0

    def data(self, event: str, **fields: Any) -> None:
        pass

    def data_many(self, event: str, records: list[dict[str, Any]]) -> None:
        pass

    def event(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    def console_line(self, text: str) -> None:
        pass


class Relay:
    """127.0.0.1:port -> Redis; while `held`, bytes in both directions wait (a slow network or a
    busy Redis, as the member sees it: its requests time out, nothing is refused)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.open = asyncio.Event()
        self.open.set()
        self.server: asyncio.Server | None = None
        self.port = 0
        self.streams: list[asyncio.StreamWriter] = []

    async def start(self) -> Relay:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.streams += [writer, up_writer]
        pipes = [self._pipe(reader, up_writer), self._pipe(up_reader, writer)]
        with contextlib.suppress(OSError, asyncio.CancelledError):
            await asyncio.gather(*pipes)
        for stream in (writer, up_writer):
            stream.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1 << 16):
            await self.open.wait()
            writer.write(data)
            await writer.drain()

    async def hold_for(self, seconds: float) -> None:
        self.open.clear()
        await asyncio.sleep(seconds)
        self.open.set()

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for stream in self.streams:
            stream.close()
        await asyncio.sleep(0.05)  # the pipes see their streams end


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def _node(port: int, host: str, state: Path, sink: Events) -> tuple[Node, TickOwner]:
    """The member and the owner of its ticks (as in one process: poller.cluster.polling)."""
    settings = ClusterSettings(redis=(f"redis://127.0.0.1:{port}/0",), host=host,
                               lease_s=LEASE_S, name="slow")
    nodes: list[Node] = []
    owner = TickSeed(settings, Membership()).grow(lambda: nodes[0].hurry())
    owner.assign(NAMES)
    nodes.append(Node(settings, sink, state, on_share=lambda _: None, on_fleet=lambda: None,
                      accept_fleet=lambda _v, _t: True, fleet_version=lambda: 0,
                      on_membership=owner.hear))
    return nodes[0], owner


async def _polled_ticks(owner: TickOwner, until_s: float) -> list[tuple[str, int]]:
    """What a scheduler on the grid would poll: every 50 ms, each device's tick at that instant
    (settled first, as poller.run.scheduler does), kept when this host's Slot says so."""
    loop = asyncio.get_running_loop()
    polled: list[tuple[str, int]] = []
    while loop.time() < until_s:
        at_ms = owner.now_ms()
        await owner.settled(at_ms)
        for name in NAMES:
            if owner.slot(name, at_ms, loop.time()) is not None:
                polled.append((name, at_ms))
        await asyncio.sleep(0.05)
    return polled


def _fleet(tmp_path: Path) -> Config:
    path = tmp_path / "fleet.toml"
    path.write_text('[credentials.c]\nversion = "2c"\ncommunity = "public"\n' + "".join(
        f'[[devices]]\nname = "{n}"\nhost = "127.0.0.1"\ncredential = "c"\ninterval = 10\n'
        for n in NAMES))
    return load_config(path)


async def _join_late_answers(redis: RedisServer, tmp_path: Path) -> dict[str, Any]:
    relay = await Relay(redis.port).start()
    sink = Events()
    node, owner = _node(relay.port, "slow-host", tmp_path / "state", sink)
    node.set_fleet(_fleet(tmp_path).devices)
    await node.join()
    node.start()
    other = Link(ClusterSettings(redis=(redis.url,), host="joiner", name="slow",
                                 lease_s=LEASE_S), timeout_s=2.0)
    loop = asyncio.get_running_loop()
    try:
        # the first view of an empty Redis applies a lease on; then a few beats
        await asyncio.sleep(LEASE_S * 1.2)
        ticks = asyncio.create_task(_polled_ticks(owner, loop.time() + LEASE_S * 1.2))
        held = asyncio.create_task(relay.hold_for(LEASE_S * 0.55))
        await asyncio.sleep(0.1)
        # the joiner's membership script, as its own beats send it: it stays a member
        beats = [await _beat(other)]
        while not ticks.done():
            await asyncio.sleep(LEASE_S / 4)
            beats.append(await _beat(other))
        await held
        return {"from_ms": beats[0].last_from_ms, "polled": ticks.result(),
                "events": sink.events, "epochs": {b.epoch for b in beats}}
    finally:
        await node.close()
        await owner.close()
        await other.close()
        await relay.close()


async def _beat(link: Link) -> Beat:
    return await link.beat("joiner", int(LEASE_S * 1000), 0, int(LEASE_S * 500),
                           int(LEASE_S * 1000), False)


def test_late_answers_of_redis_never_make_two_hosts_poll_one_tick(
        redis: RedisServer, tmp_path: Path) -> None:
    result = asyncio.run(_join_late_answers(redis, tmp_path))
    given = rendezvous.share(NAMES, ["joiner", "slow-host"], "joiner")
    assert given and len(given) < len(NAMES)
    assert len(result["epochs"]) == 1  # the joiner stayed a member throughout
    from_ms, polled = result["from_ms"], result["polled"]
    taken_after = [(name, at) for name, at in polled if name in given and at >= from_ms]
    assert taken_after == [], f"{len(taken_after)} ticks of the joiner's devices polled here"
    # up to the join's instant the slow host polled them all, and its own ones after it
    assert {name for name, at in polled if at < from_ms} == set(NAMES)
    assert {name for name, at in polled if at >= from_ms} == set(NAMES) - given
    # late answers within the lease are not an outage
    assert "cluster_unavailable" not in [name for name, _ in result["events"]]


async def _leave_and_wait(redis: RedisServer, tmp_path: Path) -> dict[str, Any]:
    sink = Events()
    node, owner = _node(redis.port, "leaver", tmp_path / "state", sink)
    node.set_fleet(_fleet(tmp_path).devices)
    await node.join()
    node.start()
    loop = asyncio.get_running_loop()
    try:
        await asyncio.sleep(LEASE_S * 1.2)  # the first view applies
        before = owner.now_ms()
        handover_s = await node.leave()
        assert handover_s is not None
        handover_ms = round((handover_s + owner.offset_s()) * 1000)
        # a poll of a tick before the handover still running when the lease has run out
        await asyncio.sleep(max(0.0, owner.membership.lease_until - loop.time()) + 0.2)
        return {"before": owner.holds(before, loop.time()),
                "slot_after": owner.slot(NAMES[0], handover_ms + 10, loop.time()),
                "lease_over": loop.time() > owner.membership.lease_until}
    finally:
        await node.close()
        await owner.close()


def test_a_poll_running_at_a_graceful_leave_is_written_after_the_lease(
        redis: RedisServer, tmp_path: Path) -> None:
    """Its successors recover nothing a leave handed over, so the leaver writes it (a drain
    grace longer than the lease must not drop it), and starts nothing past the handover."""
    result = asyncio.run(_leave_and_wait(redis, tmp_path))
    assert result["lease_over"]
    assert result["before"] is True
    assert result["slot_after"] is None


async def _refused(redis: RedisServer, tmp_path: Path) -> dict[str, Any]:
    """A member whose Redis, once joined, refuses every connection within the lease, while
    ticks wait past the horizon of its last answer."""
    relay = await Relay(redis.port).start()
    sink = Events()
    node, owner = _node(relay.port, "alone", tmp_path / "state", sink)
    node.set_fleet(_fleet(tmp_path).devices)
    await node.join()
    beats = 0
    beat = node.beat

    async def counted(leave: bool = False) -> Any:
        nonlocal beats
        beats += 1
        return await beat(leave)

    node.beat = counted  # type: ignore[method-assign]
    node.start()
    loop = asyncio.get_running_loop()
    try:
        await asyncio.sleep(LEASE_S / 2)
        await relay.close()  # from now on: connection refused
        beats, started = 0, loop.time()
        while loop.time() - started < LEASE_S * 0.75:
            await asyncio.wait_for(owner.settled(owner.now_ms()), LEASE_S)
            await asyncio.sleep(0.01)
        return {"beats": beats, "seconds": loop.time() - started}
    finally:
        await node.close()
        await owner.close()


def test_a_refusing_redis_is_asked_with_backoff_while_ticks_wait(
        redis: RedisServer, tmp_path: Path) -> None:
    result = asyncio.run(_refused(redis, tmp_path))
    # backoff from 0.1 s doubling up to a quarter lease: a handful of tries, never a hot loop
    assert 2 <= result["beats"] <= 12, result


async def _snapshot_through_an_outage(redis: RedisServer, tmp_path: Path) -> list[Any]:
    settings = ClusterSettings(redis=(redis.url,), host="h", lease_s=LEASE_S, name="snap")
    out = Membership(lease_until=math.inf, available=False)
    owner = TickSeed(settings, out).grow(lambda: None)
    device = _fleet(tmp_path).devices[0]
    seen = []
    try:
        owner.polled(device, 7, CounterTracker(), 0.0, 1_000)
        await owner.flush()  # Redis out of reach: nothing sent, nothing dropped
        seen.append(await owner.link.get_snapshot(device.name))
        owner.hear(Membership(lease_until=math.inf))
        await owner.flush()
        seen.append(await owner.link.get_snapshot(device.name))
    finally:
        await owner.close()
    return seen


def test_a_snapshot_taken_while_redis_is_out_of_reach_is_sent_when_it_is_back(
        redis: RedisServer, tmp_path: Path) -> None:
    before, after = asyncio.run(_snapshot_through_an_outage(redis, tmp_path))
    assert before is None
    assert after is not None and orjson.loads(after)["at_ms"] == 1_000


class Trickle:
    """127.0.0.1:port -> Redis, its answers passed back 2 KB every half second (a lossy link):
    every socket read returns in time, the whole answer takes long."""

    def __init__(self, target: int) -> None:
        self.target, self.port = target, 0
        self.ready = threading.Event()

    def run(self) -> None:
        asyncio.run(self._serve_forever())

    async def _serve_forever(self) -> None:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self.ready.set()
        await asyncio.Event().wait()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)

        async def up() -> None:
            while data := await reader.read(1 << 16):
                up_writer.write(data)

        async def down() -> None:
            while data := await up_reader.read(2048):
                await asyncio.sleep(0.5)
                writer.write(data)

        await asyncio.gather(up(), down(), return_exceptions=True)


def test_a_page_waits_for_a_slow_redis_two_seconds_at_most(redis: RedisServer) -> None:
    settings = ClusterSettings(redis=(redis.url,), name="idx", host="m1")

    async def put() -> None:
        link = Link(settings, timeout_s=2.0)
        try:  # 200 KB that do not compress stand for a large fleet's index
            await link.put_index("m1", {"index.json": os.urandom(200_000)}, "1",
                                 int(time.time() * 1000), 300_000)
        finally:
            await link.close()

    asyncio.run(put())
    trickle = Trickle(redis.port)
    threading.Thread(target=trickle.run, daemon=True).start()
    assert trickle.ready.wait(5)
    web = SharedIndex(ClusterSettings(redis=(f"redis://127.0.0.1:{trickle.port}/0",),
                                      name="idx", host="web"))
    started = time.monotonic()
    assert web.devices() == {}
    assert time.monotonic() - started < PAGE_WAIT_S + 1.0
    warning = web.warning()
    assert warning is not None and f"no answer within {PAGE_WAIT_S:g} s" in warning, warning
    # the next page does not wait again for the fetch still under way
    started = time.monotonic()
    web.devices()
    assert time.monotonic() - started < 0.5


def test_no_snapshot_goes_out_once_the_records_cannot_be_written(
        redis: RedisServer, tmp_path: Path) -> None:
    """A worker whose parent is gone: its last polls' records are lost, so no snapshot may tell
    the next owner those ticks were done (it polls them again)."""
    settings = ClusterSettings(redis=(redis.url,), host="h", lease_s=LEASE_S, name="silent")
    broken = [False]
    device = _fleet(tmp_path).devices[0]

    async def run() -> list[Any]:
        owner = TickSeed(settings, Membership(lease_until=math.inf)).grow(
            lambda: None, lambda: broken[0])
        try:
            owner.polled(device, 1, CounterTracker(), 0.0, 1_000)
            await owner.flush()
            sent = await owner.link.get_snapshot(device.name)
            owner.polled(device, 2, CounterTracker(), 0.0, 2_000)
            broken[0] = True  # the parent's pipe closed before the snapshot went out
            await owner.flush()
            return [sent, await owner.link.get_snapshot(device.name)]
        finally:
            await owner.close()

    first, last = asyncio.run(run())
    assert first is not None and orjson.loads(first)["at_ms"] == 1_000
    assert last is not None and orjson.loads(last)["at_ms"] == 1_000



async def _claims(redis: RedisServer, tmp_path: Path, strict: bool) -> dict[str, Any]:
    """Each way a poll's claim on its tick can end, against the real Redis."""
    settings = ClusterSettings(redis=(redis.url,), host="h", lease_s=LEASE_S,
                               name=f"claims-{strict}", strict=strict)
    loop = asyncio.get_running_loop()
    owner = TickSeed(settings, Membership(lease_until=loop.time() + LEASE_S)).grow(lambda: None)
    owner.start()
    held, paused, outage = _fleet(tmp_path).devices[:3]
    seen: dict[str, Any] = {}
    try:
        # held: the records wait until Redis has the snapshot
        seen["held"] = await owner.claim(held, 1, CounterTracker(), 1_000)
        seen["held_in_redis"] = await owner.link.get_snapshot(held.name)
        # a pause between the poll's end and the snapshot's send: the lease ran out meanwhile
        waiter = owner.polled(paused, 1, CounterTracker(), loop.time(), 2_000)
        owner.hear(Membership(lease_until=loop.time() - 0.001, known_ms=math.inf))
        seen["paused"] = await asyncio.wait_for(asyncio.shield(waiter), 2) \
            if waiter is not None else None
        seen["paused_in_redis"] = await owner.link.get_snapshot(paused.name)
        # Redis out of reach with the lease run out: strict writes nothing, else the last share
        owner.hear(Membership(lease_until=loop.time() - 0.001, available=False))
        seen["outage"] = await owner.claim(outage, 1, CounterTracker(), 3_000)
        owner.hear(Membership(lease_until=loop.time() + LEASE_S))
        await owner.flush()
        seen["outage_in_redis"] = await owner.link.get_snapshot(outage.name)
    finally:
        await owner.close()
    return seen


def test_a_poll_is_written_only_once_redis_has_its_snapshot(
        redis: RedisServer, tmp_path: Path) -> None:
    seen = asyncio.run(_claims(redis, tmp_path, strict=False))
    assert seen["held"] is True
    assert seen["held_in_redis"] is not None
    assert orjson.loads(seen["held_in_redis"])["at_ms"] == 1_000
    # paused: nothing went out and nothing is written, so the successor polls the tick once
    assert seen["paused"] is False
    assert seen["paused_in_redis"] is None
    # out of reach, not strict: written, and its snapshot sent once Redis is back
    assert seen["outage"] is True
    assert seen["outage_in_redis"] is not None


def test_a_strict_member_out_of_reach_writes_nothing_and_claims_nothing(
        redis: RedisServer, tmp_path: Path) -> None:
    seen = asyncio.run(_claims(redis, tmp_path, strict=True))
    assert seen["held"] is True
    assert seen["outage"] is False
    assert seen["outage_in_redis"] is None


async def _claim_while_redis_is_gone(tmp_path: Path, strict: bool) -> dict[str, Any]:
    """Redis stops answering (a closed port) as a poll ends, within the lease: the records wait
    for what the membership says next, instead of being dropped when the lease runs out."""
    settings = ClusterSettings(redis=(f"redis://127.0.0.1:{free_tcp_port()}",), host="h",
                               lease_s=LEASE_S, name="gone", strict=strict)
    loop = asyncio.get_running_loop()
    asked = []
    owner = TickSeed(settings, Membership(lease_until=loop.time() + 0.3, known_ms=math.inf,
                                          beating=True)).grow(lambda: asked.append(1))
    owner.start()
    device = _fleet(tmp_path).devices[0]
    try:
        claim = asyncio.create_task(owner.claim(device, 1, CounterTracker(), 1_000))
        await asyncio.sleep(0.6)  # past the lease: the claim waits for the next answer
        waited = not claim.done()
        # the next beat fails too, sent after the lease ran out: Redis is out of reach
        owner.hear(Membership(lease_until=loop.time() - 0.3, known_ms=math.inf, beating=True,
                              available=False))
        written = await asyncio.wait_for(claim, 2)
    finally:
        await owner.close()
    return {"waited": waited, "asked": bool(asked), "written": written}


@pytest.mark.parametrize("strict", [False, True])
def test_a_poll_ending_as_redis_goes_away_is_written_as_the_outage_rules_say(
        tmp_path: Path, strict: bool) -> None:
    seen = asyncio.run(_claim_while_redis_is_gone(tmp_path, strict))
    assert seen["waited"] and seen["asked"]
    assert seen["written"] is (not strict)
