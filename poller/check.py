"""`poller check`: validate a fleet file and print a short summary of the fleet."""

from __future__ import annotations

from collections import Counter

from poller.config import load_config
from poller.config_load import BUILTIN_PROFILES


def run_check(path: str) -> int:
    config = load_config(path)
    devices = config.devices
    print(f"{config.path}: valid")
    for warning in config.warnings:
        print(f"  warning      {warning}")
    print(f"  devices      {len(devices)}")
    by_interval = Counter(d.interval_s for d in devices)
    for interval, count in sorted(by_interval.items()):
        print(f"    every {interval:g} s: {count}")
    credentials = ", ".join(f"{c.name} (v{c.version})" for c in config.credentials.values())
    print(f"  credentials  {credentials or 'none'}")
    for profile in config.profiles.values():
        columns = sum(len(t.columns) for t in profile.tables)
        builtin = " (built-in name)" if profile.name in BUILTIN_PROFILES else ""
        used = sum(1 for d in devices if profile.name in d.profiles)
        print(f"  profile      {profile.name}{builtin}: {len(profile.scalars)} scalars, "
              f"{len(profile.tables)} tables, {columns} columns; {used} devices")
    per_minute = sum(60.0 / d.interval_s for d in devices)
    print(f"  polls/min    {per_minute:.1f}")
    print(f"  output       {config.output.directory} ({config.output.data_file}, "
          f"{config.output.events_file}; rotate at {config.output.max_bytes} bytes, "
          f"keep {config.output.backups})")
    return 0
