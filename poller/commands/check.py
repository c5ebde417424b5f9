"""`poller check`: validate a fleet file and print a short summary of the fleet."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from math import ceil

from poller.config.load import load_config
from poller.config.model import Config, Device
from poller.config.shard import CommandLine, owned, split
from poller.poll.device import SYS_UPTIME


def run_check(path: str, command_line: CommandLine | None = None) -> int:
    """Load `path` (a ConfigError propagates: the CLI prints its one line and exits 2), then
    print what the daemon would poll (with a shard: what this shard would poll)."""
    config = load_config(path)
    if command_line is not None:
        config = command_line.apply(config)
    print(f"{config.path}: valid")
    for warning in config.warnings:
        print(f"  warning      {warning}")
    lines = scaling(config)
    mine = replace(config, devices=owned(config.devices, config.daemon.shard))
    for line in [*lines, *summary(mine)]:
        print(f"  {line}")
    return 0


def scaling(config: Config) -> list[str]:
    """The shard's devices by name (which ones this host polls), and the workers' shares."""
    shard, workers = config.daemon.shard, config.daemon.workers
    mine = owned(config.devices, shard)
    lines = []
    if shard.count > 1:
        lines.append(f"shard        {shard}: {len(mine)} of the file's {len(config.devices)} "
                     "devices")
        lines += [f"  owns       {device.name}" for device in mine]
    if workers > 1:
        shares = " + ".join(str(len(share)) for share in split(mine, shard, workers))
        lines.append(f"workers      {workers}: {shares} devices")
    return lines


def summary(config: Config) -> list[str]:
    devices = config.devices
    lines = [f"devices      {len(devices)}"]
    by_interval: dict[float, list[str]] = defaultdict(list)
    for device in devices:
        by_interval[device.interval_s].append(device.name)
    for interval, names in sorted(by_interval.items()):
        shown = ", ".join(names[:3]) + (f", ... ({len(names) - 3} more)" if len(names) > 3 else "")
        lines.append(f"  every {interval:g} s: {len(names)} ({shown})")
    credentials = ", ".join(f"{c.name} (v{c.version})" for c in config.credentials.values())
    lines.append(f"credentials  {credentials or 'none'}")
    for profile in config.profiles.values():
        origin = " (built-in)" if profile.builtin else \
            " (replaces the built-in)" if profile.name in ("system", "interfaces") else ""
        columns = sum(len(t.columns) for t in profile.tables)
        used = sum(1 for d in devices if profile.name in d.profiles)
        lines.append(f"profile      {profile.name}{origin}: "
                     f"{_count(len(profile.scalars), 'scalar')}, "
                     f"{_count(len(profile.tables), 'table')} with {_count(columns, 'column')}; "
                     f"used by {_count(used, 'device')}")
    polls = sum(60.0 / d.interval_s for d in devices)
    requests = sum(60.0 / d.interval_s * min_requests(d) for d in devices)
    lines.append(f"polls/min    {polls:.1f}")
    lines.append(f"requests/min at least {requests:.1f} (tables of up to max_repetitions rows; "
                 "each further max_repetitions rows adds one request per table)")
    output = config.output
    lines.append(f"output       {output.directory} ({output.data_file}, {output.events_file}; "
                 f"rotate at {output.max_bytes} bytes, keep {output.backups})")
    return lines


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def min_requests(device: Device) -> int:
    """Requests of one poll when every table fits in one answer: the GETs of the scalars (and
    sysUpTime, always read), and per table one round per group of max_oids_per_request columns
    (GETBULK ends a short table in one round; v1's GETNEXT needs a second to see the end)."""
    per_request = device.max_oids_per_request
    scalars = {SYS_UPTIME} | {c.oid for _, group in device.scalar_groups for c in group}
    rounds = 2 if device.credential.version == "1" else 1
    walks = sum(ceil(len(t.columns) / per_request) * rounds for t in device.tables)
    return ceil(len(scalars) / per_request) + walks
