"""The fleet file's `[daemon]` and `[output]` sections."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from poller.config.model import ENGINES, DaemonSettings, OutputSettings
from poller.config.reader import Reader, show
from poller.config.shard import parse_shard, parse_workers

DAEMON_KEYS = ("max_in_flight", "drain_grace", "stats_interval", "engine", "workers", "shard",
               "state_directory", "state_interval", "state_max_age")
OUTPUT_KEYS = ("directory", "data_file", "events_file", "max_bytes", "max_age", "backups",
               "compress")


def read_daemon(reader: Reader, raw: Any) -> DaemonSettings:
    raw = reader.table(raw, "daemon", DAEMON_KEYS)
    base = DaemonSettings()
    scaling: dict[str, Any] = {}
    for key, parse in (("workers", parse_workers), ("shard", parse_shard)):
        if key in raw:
            try:
                scaling[key] = parse(raw[key])
            except ValueError as exc:
                raise reader.fail(f"daemon.{key}", str(exc)) from None
    engine = raw.get("engine", base.engine)
    if not isinstance(engine, str) or engine not in ENGINES:
        raise reader.fail("daemon.engine",
                          f"{show(engine)} is not an engine (allowed: {', '.join(ENGINES)})")
    return DaemonSettings(
        engine=engine,
        stats_interval_s=reader.duration(raw.get("stats_interval", base.stats_interval_s),
                                         "daemon.stats_interval", 1, 86_400),
        max_in_flight=reader.integer(raw.get("max_in_flight", base.max_in_flight),
                                     "daemon.max_in_flight", 1, 100_000),
        drain_grace_s=reader.duration(raw.get("drain_grace", base.drain_grace_s),
                                      "daemon.drain_grace", 0, 3600),
        state_directory=_state_directory(reader, raw),
        state_interval_s=reader.duration(raw.get("state_interval", base.state_interval_s),
                                         "daemon.state_interval", 0, 86_400),
        state_max_age_s=reader.duration(raw.get("state_max_age", base.state_max_age_s),
                                        "daemon.state_max_age", 0, 366 * 86_400),
        **scaling,
    )


def default_state_directory(fleet_file: Path) -> Path:
    """Without systemd's StateDirectory: one directory per fleet file under the user's state
    home, so the same file (a cron job's `run --once`) finds its state and another file does
    not take it: $XDG_STATE_HOME/poller/NAME-HASH, else ~/.local/state/poller/NAME-HASH."""
    home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    resolved = str(fleet_file.resolve())
    digest = hashlib.sha1(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return Path(home) / "poller" / f"{fleet_file.stem}-{digest}"


def _state_directory(reader: Reader, raw: dict[str, Any]) -> Path | None:
    """[daemon] state_directory, else systemd's $STATE_DIRECTORY; None: the loader's default."""
    if "state_directory" in raw:
        directory = reader.pathname(raw["state_directory"], "daemon.state_directory")
        return directory if directory.is_absolute() else Path.cwd() / directory
    given = os.environ.get("STATE_DIRECTORY", "").split(":")[0]
    return Path(given) if given else None


def read_output(reader: Reader, raw: Any) -> OutputSettings:
    raw = reader.table(raw, "output", OUTPUT_KEYS)
    base = OutputSettings()
    files = {}
    for key in ("data_file", "events_file"):
        name = reader.string(raw.get(key, getattr(base, key)), f"output.{key}")
        if "/" in name or "\0" in name or name in (".", ".."):
            raise reader.fail(f"output.{key}", f"{show(name)} must be a file name, not a path "
                                               "(the directory is output.directory)")
        files[key] = name
    if files["data_file"] == files["events_file"]:
        raise reader.fail("output.events_file", "must differ from output.data_file")
    directory = reader.pathname(raw.get("directory", str(base.directory)), "output.directory")
    return OutputSettings(
        directory=directory if directory.is_absolute() else Path.cwd() / directory,
        max_bytes=reader.size(raw.get("max_bytes", base.max_bytes), "output.max_bytes"),
        backups=reader.integer(raw.get("backups", base.backups), "output.backups", 0, 1000),
        max_age_s=reader.duration(raw.get("max_age", base.max_age_s), "output.max_age",
                                  0, 366 * 86_400),
        compress=reader.boolean(raw.get("compress", base.compress), "output.compress"),
        **files,
    )
