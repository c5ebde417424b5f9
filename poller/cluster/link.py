"""The one connection to Redis, and everything said over it: the membership script, member
reports, counter snapshots, the pushed fleet. The `redis` package is imported here on first use
only, so a host without [cluster] never loads it. Every failure to reach Redis is Unavailable,
one line; the caller decides to retry (the daemon: forever, with backoff).

Keys, all under the cluster's name (`poller` by default):
  NAME:members       sorted set: member -> lease expiry (Redis ms)
  NAME:epoch         the membership's epoch (bumped on every change)
  NAME:views         list of views, newest first (JSON: epoch, from, members)
  NAME:member:HOST   hash: what HOST reports (devices, fleet version, clock skew...), expiring
  NAME:snap:DEVICE   the device's counter snapshot (poller.poll.snapshot), expiring
  NAME:fleet         hash: version, text, sha256, pushed_at of the pushed fleet
  NAME:index:HOST    hash: HOST's fleet index files (poller.history.index), each compressed,
                     and their `stamp`; expiring (poller.cluster.index_share)
  NAME:index-stamps  hash: HOST -> the stamp of the index files HOST last sent
  NAME:indexes       sorted set: HOST -> when its index expires (ms, HOST's clock)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from poller.cluster.views import KEPT, View
from poller.config.cluster import ClusterSettings
from poller.errors import PollerError

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.commands.core import AsyncScript

#: one atomic step of the membership, decided by Redis time: expire dead members (a view from
#: the latest lease end among them), refresh or join (a view from now + the join delay; the
#: first view of an empty Redis only after the settle time, so every host can come back first),
#: or leave (a view without this host from now + the delay). The epoch never goes back: a host
#: passes the highest it knows, which survives a Redis restarted empty.
MEMBERSHIP = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local host, lease, known = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local delay, settle, mode = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
local epoch = math.max(tonumber(redis.call('GET', KEYS[2]) or '0'), known)
local latest = redis.call('LINDEX', KEYS[3], 0)
local last_from = 0
if latest then last_from = tonumber(cjson.decode(latest)['from']) end
local function push(from, dead)
  epoch = epoch + 1
  last_from = math.max(from, last_from)
  local members = redis.call('ZRANGE', KEYS[1], 0, -1)
  redis.call('LPUSH', KEYS[3], cjson.encode({epoch=epoch, from=last_from, members=members,
                                             dead=dead}))
  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[7]) - 1)
  redis.call('SET', KEYS[2], epoch)
end
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES')
if #dead > 0 then
  local ended, names = 0, {}
  for i = 2, #dead, 2 do
    ended = math.max(ended, tonumber(dead[i]))
    table.insert(names, dead[i - 1])
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  push(ended, names)
end
local joined = 0
local member = redis.call('ZSCORE', KEYS[1], host)
if mode == 'leave' then
  if member then
    redis.call('ZREM', KEYS[1], host)
    push(now + delay, {})
  end
elseif member then
  redis.call('ZADD', KEYS[1], now + lease, host)
else
  redis.call('ZADD', KEYS[1], now + lease, host)
  joined = 1
  if latest then push(now + delay, {}) else push(now + settle, {}) end
end
return {now, epoch, redis.call('LRANGE', KEYS[3], 0, -1),
        tonumber(redis.call('HGET', KEYS[4], 'version') or '0'), joined, last_from}
"""


#: the field of NAME:index:HOST that holds the stamp of its files (no index file is named so)
INDEX_STAMP = "stamp"


#: the slowest link to Redis a large value (a fleet index) is given time for
MIN_BYTES_PER_S = 1 << 20


class Unavailable(PollerError):
    """Redis could not be reached or did not answer in time (one line)."""


@dataclass(frozen=True, slots=True)
class Beat:
    """What one run of the membership script says."""

    now_ms: int
    epoch: int
    views: tuple[View, ...]
    fleet_version: int
    #: this host was not a member (first start, or its lease had expired): it joins
    joined: bool
    #: when the newest view applies (for a leave: when this host's devices are handed over)
    last_from_ms: int


class Link:
    def __init__(self, settings: ClusterSettings, timeout_s: float) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.prefix = settings.name
        self._client: Redis | None = None
        self._script: AsyncScript | None = None
        self._address = 0

    def _connect(self) -> Redis:
        if self._client is None:
            self._client = _client(self.settings, self._address, self.timeout_s)
            self._script = self._client.register_script(MEMBERSHIP)
        return self._client

    async def reset(self) -> None:
        """Drop the connection; the next call connects again (the next address, Sentinel
        asked again)."""
        client, self._client = self._client, None
        self._address += 1
        if client is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail any way
                await client.aclose()

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    async def beat(self, host: str, lease_ms: int, known_epoch: int, delay_ms: int,
                   settle_ms: int, leave: bool = False) -> Beat:
        async def run() -> Any:
            self._connect()
            assert self._script is not None
            return await self._script(
                keys=[self.key("members"), self.key("epoch"), self.key("views"),
                      self.key("fleet")],
                args=[host, lease_ms, known_epoch, delay_ms, settle_ms,
                      "leave" if leave else "beat", KEPT])
        now, epoch, raw_views, fleet_version, joined, last_from = await self.call(run())
        views = tuple(View.parse(json.loads(v)) for v in raw_views)
        return Beat(int(now), int(epoch), views, int(fleet_version), bool(joined),
                    int(last_from))

    async def call(self, awaitable: Any, extra_s: float = 0.0) -> Any:
        """`awaitable` (a Redis command) within the timeout (plus `extra_s`, for a large
        value); Unavailable on any failure to reach Redis."""
        import redis.exceptions

        try:
            async with asyncio.timeout(2 * self.timeout_s + extra_s):
                return await awaitable
        except (redis.exceptions.RedisError, OSError, TimeoutError) as exc:
            raise Unavailable(one_line(exc)) from None

    async def report(self, host: str, fields: dict[str, Any], ttl_ms: int) -> None:
        client = self._connect()
        key = self.key("member", host)
        pipe = client.pipeline(transaction=False)
        pipe.hset(key, mapping={k: json.dumps(v) for k, v in fields.items()})
        pipe.pexpire(key, ttl_ms)
        await self.call(pipe.execute())

    async def put_snapshots(self, entries: dict[str, tuple[bytes, int]]) -> int:
        """Each device's snapshot with its expiry (ms); returns the bytes sent."""
        client = self._connect()
        pipe = client.pipeline(transaction=False)
        sent = 0
        for name, (entry, ttl_ms) in entries.items():
            pipe.set(self.key("snap", name), entry, px=ttl_ms)
            sent += len(entry)
        await self.call(pipe.execute())
        return sent

    async def get_snapshot(self, name: str) -> bytes | None:
        value: bytes | None = await self.call(self._connect().get(self.key("snap", name)))
        return value

    async def put_index(self, host: str, files: dict[str, bytes] | None, stamp: str,
                        now_ms: int, ttl_ms: int) -> bool:
        """This host's fleet index files (name -> compressed bytes) under `stamp`, or None to
        keep what Redis holds and only extend its expiry; one round trip, atomic (MULTI), so a
        reader never sees half of it. False when Redis held no index of this host (restarted
        empty, or expired): the caller sends the files again."""
        client = self._connect()
        key, stamps, hosts = self.key("index", host), self.key("index-stamps"), \
            self.key("indexes")
        pipe = client.pipeline(transaction=True)
        if files is not None:
            pipe.delete(key)
            fields: dict[str, bytes] = {INDEX_STAMP: stamp.encode()}
            fields.update(files)
            pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
        pipe.pexpire(key, ttl_ms)
        pipe.hset(stamps, host, stamp)
        pipe.pexpire(stamps, ttl_ms)
        pipe.zadd(hosts, {host: now_ms + ttl_ms})
        pipe.zremrangebyscore(hosts, "-inf", now_ms)
        pipe.pexpire(hosts, ttl_ms)
        size = sum(map(len, files.values())) if files is not None else 0
        results = await self.call(pipe.execute(), extra_s=size / MIN_BYTES_PER_S)
        return bool(results[2 if files is not None else 0])

    async def fleet(self) -> tuple[int, str] | None:
        raw = await self.call(self._connect().hgetall(self.key("fleet")))
        if not raw or b"version" not in raw or b"text" not in raw:
            return None
        return int(raw[b"version"]), raw[b"text"].decode()

    async def push(self, text: str, sha256: str, pushed_at: str) -> int:
        """Publish a fleet; returns its version (one more than the last)."""
        client = self._connect()
        version: int = await self.call(client.incr(self.key("fleet", "version")))
        await self.call(client.hset(self.key("fleet"), mapping={
            "version": version, "text": text, "sha256": sha256, "pushed_at": pushed_at}))
        return version

    async def status(self) -> dict[str, Any]:
        """Members with their lease expiry and reports, the epoch, the fleet, Redis time."""
        client = self._connect()
        now_s, now_us = await self.call(client.time())
        members = await self.call(client.zrange(self.key("members"), 0, -1, withscores=True))
        reports = {}
        for name, _ in members:
            raw = await self.call(client.hgetall(self.key("member", name.decode())))
            reports[name.decode()] = {k.decode(): json.loads(v) for k, v in raw.items()}
        epoch = await self.call(client.get(self.key("epoch")))
        fleet = await self.call(client.hmget(self.key("fleet"), ["version", "sha256",
                                                                 "pushed_at"]))
        return {
            "now_ms": int(now_s) * 1000 + int(now_us) // 1000,
            "epoch": int(epoch or 0),
            "members": {n.decode(): int(expiry) for n, expiry in members},
            "reports": reports,
            "fleet": [v.decode() if v is not None else None for v in fleet],
        }

    async def close(self) -> None:
        await self.reset()


def _client(settings: ClusterSettings, index: int, timeout_s: float) -> Redis:
    """A client of the next address (or of the master Sentinel names)."""
    import redis.asyncio
    from redis.asyncio.sentinel import Sentinel

    options = client_options(settings, timeout_s)
    if settings.sentinels:
        sentinel = Sentinel(sentinel_addresses(settings),  # type: ignore[no-untyped-call]
                            socket_timeout=timeout_s,
                            sentinel_kwargs={"socket_timeout": timeout_s})
        client: Redis = sentinel.master_for(settings.sentinel_master, **options)
        return client
    address = settings.redis[index % len(settings.redis)]
    return redis.asyncio.Redis.from_url(address, **tls_options(settings, address), **options)


def client_options(settings: ClusterSettings, timeout_s: float) -> dict[str, Any]:
    """What every client of the cluster's Redis is made with (async here, sync in the web)."""
    return {"socket_timeout": timeout_s, "socket_connect_timeout": timeout_s,
            "username": settings.username, "password": settings.password,
            "retry_on_timeout": False}


def sentinel_addresses(settings: ClusterSettings) -> list[tuple[str, int]]:
    return [(s.rpartition(":")[0], int(s.rpartition(":")[2])) for s in settings.sentinels]


def tls_options(settings: ClusterSettings, address: str) -> dict[str, Any]:
    if address.startswith("rediss://") and settings.tls_ca_file is not None:
        return {"ssl_ca_certs": str(settings.tls_ca_file)}
    return {}


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"[:300]
