"""Who polls which device: `--shard i/n` splits a fleet between hosts, `workers = N` splits a
host's share between its worker processes. Both by one stable hash of the device name (SHA-1 of
its UTF-8 bytes, never Python's per-process `hash()`), so every host, every run and every reload
agrees, and a device moves only when n (or the worker count) changes.

The shard is the hash mod n; the worker is (hash // n) mod workers. Taking the worker from the
quotient keeps the two independent: with n = workers = 2, "hash mod 2" for both would give all of
shard 0's devices to worker 0.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from poller.config.model import Config, Device, Shard, name_hash

MAX_SHARDS = 10_000
MAX_WORKERS = 64
_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


def worker_of(name: str, shard_count: int, workers: int) -> int:
    return (name_hash(name) // shard_count) % workers


def owned(devices: Sequence[Device], shard: Shard) -> tuple[Device, ...]:
    """The devices of `shard`, in the fleet file's order."""
    return tuple(d for d in devices if shard.owns(d.name))


def split(devices: Sequence[Device], shard: Shard, workers: int) -> list[tuple[Device, ...]]:
    """`devices` (already this shard's) dealt to `workers` worker processes."""
    shares: list[list[Device]] = [[] for _ in range(workers)]
    for device in devices:
        shares[worker_of(device.name, shard.count, workers)].append(device)
    return [tuple(share) for share in shares]


def parse_shard(value: Any) -> Shard:
    """"i/n" with 0 <= i < n; a ValueError says what is wrong in one line."""
    match = _SHARD.match(value) if isinstance(value, str) else None
    if match:
        index, count = int(match[1]), int(match[2])
        if 0 <= index < count <= MAX_SHARDS:
            return Shard(index, count)
    shown = repr(value) if isinstance(value, str) else str(value)
    raise ValueError(f"{shown} is not a shard \"i/n\" with 0 <= i < n <= {MAX_SHARDS} "
                     "(e.g. \"0/3\", \"1/3\", \"2/3\")")


def usable_cores() -> int:
    return len(os.sched_getaffinity(0))


def parse_workers(value: Any) -> int:
    """An integer 1..MAX_WORKERS, or "auto": the cores this process may run on."""
    if value == "auto":
        return min(MAX_WORKERS, usable_cores())
    number: Any = value
    if isinstance(value, str) and value.strip().isdigit():
        number = int(value)
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= MAX_WORKERS:
        shown = repr(value) if isinstance(value, str) else str(value)
        raise ValueError(f"{shown} is not a number of workers (an integer 1..{MAX_WORKERS}, or "
                         f"\"auto\" for the usable cores, {usable_cores()} here)")
    return number


@dataclass(frozen=True, slots=True)
class CommandLine:
    """`--shard`/`--workers` as given: they win over the file's values, also over a file that a
    reload reads again."""

    shard: Shard | None = None
    workers: int | None = None

    def apply(self, config: Config) -> Config:
        daemon = config.daemon
        if self.shard is not None:
            daemon = replace(daemon, shard=self.shard)
        if self.workers is not None:
            daemon = replace(daemon, workers=self.workers)
        return replace(config, daemon=daemon) if daemon is not config.daemon else config
