"""`poller check`: validate a fleet file and print a short summary of the fleet."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from math import ceil

from poller.config.load import load_config
from poller.config.model import Column, Config, Device, Table
from poller.config.shard import CommandLine, owned, split
from poller.poll.device import SYS_UPTIME


def run_check(path: str, command_line: CommandLine | None = None) -> int:
    """Load `path` (a ConfigError propagates: the CLI prints its one line and exits 2), then
    print what the daemon would poll (with a shard: what this shard would poll)."""
    config = load_config(path)
    if command_line is not None:
        config = command_line.apply(config)
    print(f"{config.path}: valid")
    mine = replace(config, devices=owned(config.devices, config.daemon.shard))
    for warning in [*config.warnings, *v1_counters(mine)]:
        print(f"  warning      {warning}")
    lines = scaling(config)
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
    lines += profile_lines(config)
    polls = sum(60.0 / d.interval_s for d in devices)
    requests = sum(60.0 / d.interval_s * min_requests(d) for d in devices)
    lines.append(f"polls/min    {polls:.1f}")
    lines.append(f"requests/min at least {requests:.1f} (tables of up to max_repetitions rows; "
                 "each further max_repetitions rows adds one request per table)")
    output = config.output
    lines.append(f"output       {output.directory} ({output.data_file}, {output.events_file}; "
                 f"rotate at {output.max_bytes} bytes, keep {output.backups})")
    return lines


def profile_lines(config: Config) -> list[str]:
    """Each profile: where it comes from, what it reads, how many devices use it."""
    lines = []
    for profile in config.profiles.values():
        origin = " (built-in)" if profile.builtin else \
            " (replaces the built-in)" if profile.name in ("system", "interfaces") else ""
        columns = sum(len(t.columns) for t in profile.tables)
        used = sum(1 for d in config.devices if profile.name in d.profiles)
        lines.append(f"profile      {profile.name}{origin}: "
                     f"{_count(len(profile.scalars), 'scalar')}, "
                     f"{_count(len(profile.tables), 'table')} with {_count(columns, 'column')}; "
                     f"used by {_count(used, 'device')}")
    return lines


def v1_counters(config: Config) -> list[str]:
    """What SNMPv1 devices cannot read: Counter64 does not exist in v1, so each table's 64-bit
    counters give no rate there; say which 32-bit columns stand in and what stays empty."""
    by_table: dict[str, tuple[Table, list[str]]] = {}
    for device in config.devices:
        if device.credential.version == "1":
            for table in device.tables:
                by_table.setdefault(table.name, (table, []))[1].append(device.name)
    lines = []
    for table, names in by_table.values():
        wide = [c for c in table.counters if _syntax(config, c) == "Counter64"]
        if not wide:
            continue
        stand_ins = {w.name: n.name for w, n in table.wide_pairs}
        parts = [f"rates from the 32-bit {', '.join(stand_ins.values())}"] if stand_ins else []
        lost = [c.name for c in wide if c.name not in stand_ins]
        if len(wide) == len(table.counters):
            parts.append("none of its counters can be read: its polls will warn no_counters")
        elif lost:
            parts.append(f"no rate for {', '.join(lost)}")
        lines.append(f"SNMPv1 has no Counter64: table {table.name} on {_names(names)}: "
                     + "; ".join(parts))
    return lines


def _syntax(config: Config, column: Column) -> str | None:
    obj = config.mibs.by_oid.get(column.oid)
    return obj.syntax if obj is not None else None


def _names(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f", ... ({len(names) - 3} more)" if len(names) > 3 else "")


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
