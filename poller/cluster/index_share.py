"""The fleet index shared through Redis, so one `poller web` sees every member's devices.

Each process that polls keeps its part of the fleet index (poller.history.index: each device's
last `poll` summary, its rows' labels and current values) in a file on its own host. The member
(the process that beats) sends this host's files to Redis (IndexPublisher): when one of
them changed, at most every PUBLISH_EVERY_S, all in one atomic round trip, each compressed (a
10,000-device index of 48 rows each is ~107 MB of JSON, ~6 MB compressed at level 1 in
~0.2 s, read and compressed in a thread, off the event loop); otherwise it only extends their
expiry. A host that stops sending has its index expire after INDEX_TTL_S: long enough for the
web to show the last poll of a dead host's devices, which their next owners soon replace with
newer entries anyway. Redis out of reach: the round is skipped quietly (the beats report the
outage) and polling never waits for it.

`poller web` with [cluster] reads them all (SharedIndex, on the web's threads, with a deadline
and a short cache) and its FleetView (poller.web.fleet) merges them with the local files, each
device from the entry that saw it last, as read_index does for one directory. Nothing secret is
in an index (see poller.history.index); the Redis password is never in a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poller.cluster.link import (
    INDEX_STAMP,
    Link,
    Unavailable,
    client_options,
    one_line,
    sentinel_addresses,
    tls_options,
)
from poller.config.cluster import ClusterSettings
from poller.history.index import merge_newest, parse_index

if TYPE_CHECKING:
    from redis import Redis

#: a changed index is sent at most this often
PUBLISH_EVERY_S = 15.0
#: the files are looked at (a stat each) this often
LOOK_EVERY_S = 2.0
#: after sends that failed, the next try waits up to this long (doubling from LOOK_EVERY_S)
MAX_BACKOFF_S = 60.0
#: an index nobody refreshes (its host is gone) expires after this long
INDEX_TTL_S = 300.0
#: zlib level 1: a third of the CPU of the default level for ~1.8 times the bytes
LEVEL = 1
#: the web asks Redis again after this long (pages in between use what it last had)
READ_EVERY_S = 5.0
#: each of the web's (at most two) round trips to Redis waits this long at most
READ_TIMEOUT_S = 1.0
#: a page waits this long at most for a fetch under way (a Redis that trickles its answer can
#: take much longer, whatever the socket timeouts); then it shows what the web last had
PAGE_WAIT_S = 2.0
#: an index file larger than this once decompressed is skipped (Redis's own cap on a value)
MAX_INDEX_BYTES = 512 << 20

Signature = tuple[tuple[str, int, int], ...]


def file_signature(directory: Path) -> Signature:
    """(name, mtime, size) of each index file: what says that one changed."""
    found = []
    for path in directory.glob("index*.json"):
        with contextlib.suppress(OSError):  # removed between the listing and the stat
            stat = path.stat()
            found.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(sorted(found))


def packed_files(directory: Path) -> dict[str, bytes]:
    """Each index file's bytes, compressed, by name (a file that vanished is left out)."""
    packed = {}
    for path in sorted(directory.glob("index*.json")):
        with contextlib.suppress(OSError):
            packed[path.name] = zlib.compress(path.read_bytes(), LEVEL)
    return packed


def unpacked(files: Mapping[bytes, bytes]) -> dict[str, dict[str, Any]]:
    """The devices of one host's files as Redis holds them, merged as read_index merges
    files; a file that does not decompress or parse is skipped, as read_index skips it."""
    merged: dict[str, dict[str, Any]] = {}
    for name in sorted(files):
        if name == INDEX_STAMP.encode():
            continue
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(files[name], MAX_INDEX_BYTES)
        except zlib.error:
            continue
        if not inflater.unconsumed_tail:
            merge_newest(merged, parse_index(data))
    return merged


class IndexPublisher:
    """This host's index files sent to Redis, on its own connection (a large index never
    delays a beat), in the member's event loop: looked at every `look_s` (a stat per file),
    a change sent at once when the last was sent `every_s` ago or more (so the first index a
    host writes is shared at once), else later; the expiry extended every `every_s`."""

    def __init__(self, settings: ClusterSettings, directory: Path, *,
                 every_s: float = PUBLISH_EVERY_S, look_s: float = LOOK_EVERY_S,
                 ttl_s: float = INDEX_TTL_S, clock: Callable[[], float] = time.time) -> None:
        self.host = settings.host
        self.directory = directory
        self.every_s, self.look_s, self.ttl_s = every_s, look_s, ttl_s
        self.link = Link(settings, timeout_s=2.0)
        self._clock = clock
        self._sent: Signature | None = None
        self._stamp = ""
        self._sent_at = self._extended_at = -math.inf
        self._task: asyncio.Task[None] | None = None
        #: rounds that sent the files, and their compressed bytes (since start)
        self.sent = 0
        self.sent_bytes = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="cluster-index")

    async def _loop(self) -> None:
        failures = 0
        while True:
            failures = 0 if await self.publish() else failures + 1
            # after a failure, the files are read and compressed again only after a backoff
            await asyncio.sleep(min(MAX_BACKOFF_S, self.look_s * 2 ** failures))

    async def publish(self, *, now: bool = False) -> bool:
        """One look: the files sent when one changed (and it is time, or `now`), else their
        expiry extended when it is time. False when Redis was out of reach (the next look
        tries again)."""
        signature = await asyncio.to_thread(file_signature, self.directory)
        since_sent = time.monotonic() - self._sent_at
        files, stamp = None, self._stamp
        if signature != self._sent and (now or since_sent >= self.every_s):
            files = await asyncio.to_thread(packed_files, self.directory)
            stamp = f"{time.time_ns():x}"
        elif not now and time.monotonic() - self._extended_at < self.every_s:
            return True
        try:
            held = await self.link.put_index(self.host, files, stamp,
                                             int(self._clock() * 1000), int(self.ttl_s * 1000))
        except Unavailable:
            await self.link.reset()
            return False
        self._extended_at = time.monotonic()
        if files is not None:
            self._sent, self._stamp, self._sent_at = signature, stamp, self._extended_at
            self.sent += 1
            self.sent_bytes += sum(map(len, files.values()))
        elif not held:  # Redis lost it (restarted empty): all of it again at the next look
            self._sent, self._sent_at = None, -math.inf
        return True

    async def close(self) -> None:
        """Stop, after one last send: the index as the drain left it (bounded by the link's
        timeout when Redis is out of reach)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            await self.publish(now=True)
        await self.link.close()


class SharedIndex:
    """Every member's index as Redis holds it, for `poller web`; its threads share one. It is
    fetched in a thread of its own, at most every `every_s`; a page waits for a fetch under way
    PAGE_WAIT_S at most from its start. What could not be fetched (Redis out of reach, or slow)
    it answers from what it had, and `warning` says so in one line."""

    def __init__(self, settings: ClusterSettings, *, every_s: float = READ_EVERY_S,
                 timeout_s: float = READ_TIMEOUT_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.every_s, self.timeout_s = every_s, timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._client: Redis | None = None
        self._address = 0
        self._stamps: dict[str, str] = {}
        self._hosts: dict[str, dict[str, dict[str, Any]]] = {}
        self._merged: dict[str, dict[str, Any]] = {}
        self._checked_at = -math.inf
        self._problem: str | None = None
        self._failed = ""
        self._reached_at: float | None = None
        self._fetching: threading.Thread | None = None
        self._fetch_started = 0.0

    @property
    def where(self) -> str:
        """Redis as the page names it (the addresses hold no password: the loader refuses
        one)."""
        if self.settings.sentinels:
            return f"(Sentinel {self.settings.sentinel_master})"
        return self.settings.redis[self._address % len(self.settings.redis)]

    def devices(self) -> Mapping[str, dict[str, Any]]:
        """Device -> its newest entry among the members' indexes (do not change it)."""
        with self._lock:
            now = time.monotonic()
            if self._fetching is None and now - self._checked_at >= self.every_s:
                self._fetching = threading.Thread(target=self._fetch_in_thread,
                                                  name="cluster-index", daemon=True)
                self._fetch_started = now
                self._fetching.start()
            fetching, started = self._fetching, self._fetch_started
        if fetching is not None:
            fetching.join(max(0.0, started + PAGE_WAIT_S - time.monotonic()))
        return self._merged

    def _fetch_in_thread(self) -> None:
        try:
            self._refresh()
        finally:
            with self._lock:
                self._fetching = None

    def warning(self) -> str | None:
        with self._lock:
            slow = self._fetching is not None and \
                time.monotonic() - self._fetch_started >= PAGE_WAIT_S
        problem = f"no answer within {PAGE_WAIT_S:g} s" if slow else self._problem
        if slow:
            self._failed = self.where
        if problem is None:
            return None
        reached = self._reached_at
        had = (f"as Redis last gave it at {time.strftime('%H:%M:%S UTC', time.gmtime(reached))}"
               if reached is not None else "only from this host's own index")
        return (f"cluster {self.settings.name}: Redis {self._failed} is out of reach ({problem}): "
                f"the other hosts' devices show their last poll {had}")

    def _refresh(self) -> None:
        import redis.exceptions

        try:
            self._fetch()
        except (redis.exceptions.RedisError, OSError) as exc:
            self._problem = self._scrub(one_line(exc))
            self._failed = self.where  # before the next address is taken
            self._drop_client()
        else:
            self._problem = None
            self._reached_at = self._clock()
        self._checked_at = time.monotonic()

    def _fetch(self) -> None:
        """Which hosts' indexes live and their stamps (one round trip), then the indexes that
        changed since the last fetch (a second one, when any did)."""
        client = self._connect()
        prefix = self.settings.name
        pipe = client.pipeline(transaction=False)
        pipe.zrangebyscore(f"{prefix}:indexes", int(self._clock() * 1000), "+inf")
        pipe.hgetall(f"{prefix}:index-stamps")
        live_raw, stamps_raw = pipe.execute()
        live = {host.decode() for host in live_raw}
        stamps = {k.decode(): v.decode() for k, v in stamps_raw.items()}
        changed = sorted(h for h in live if stamps.get(h) != self._stamps.get(h))
        gone = set(self._hosts) - live
        for host in gone:
            self._hosts.pop(host, None)
            self._stamps.pop(host, None)
        if changed:
            pipe = client.pipeline(transaction=False)
            for host in changed:
                pipe.hgetall(f"{prefix}:index:{host}")
            for host, files in zip(changed, pipe.execute(), strict=True):
                self._hosts[host] = unpacked(files)
                self._stamps[host] = files.get(INDEX_STAMP.encode(), b"").decode()
        if changed or gone:
            merged: dict[str, dict[str, Any]] = {}
            for host in sorted(self._hosts):
                merge_newest(merged, self._hosts[host])
            self._merged = merged

    def _connect(self) -> Redis:
        if self._client is None:
            self._client = _sync_client(self.settings, self._address, self.timeout_s)
        return self._client

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        self._address += 1  # the next address (Sentinel asked again) on the next try
        if client is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail any way
                client.close()

    def _scrub(self, text: str) -> str:
        password = self.settings.password
        return text.replace(password, "***") if password else text


def _sync_client(settings: ClusterSettings, index: int, timeout_s: float) -> Redis:
    """A blocking client (the web asks from its page threads), without retries: the deadline
    is the page's."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    from redis.sentinel import Sentinel

    options = {**client_options(settings, timeout_s), "retry": Retry(NoBackoff(), 0)}
    if settings.sentinels:
        sentinel = Sentinel(sentinel_addresses(settings),  # type: ignore[no-untyped-call]
                            socket_timeout=timeout_s,
                            sentinel_kwargs={"socket_timeout": timeout_s})
        client: Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
            settings.sentinel_master, **options)
        return client
    address = settings.redis[index % len(settings.redis)]
    return redis.Redis.from_url(address, **tls_options(settings, address), **options)

