"""`poller history import FILE...`: backfill the RRD files from record files (active, rotated,
gzipped), the fleet file telling each device's interval and what its profiles keep."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from poller.config.history import HistorySettings, default_settings, rrdcached_address
from poller.config.load import load_config
from poller.config.model import Config
from poller.errors import ConfigError, PollerError
from poller.history.importer import RecordFileError, import_files
from poller.history.rrd import RrdFiles
from poller.history.store import HistoryStore, plans_for


class HistoryImportError(PollerError):
    """An import that could not start or read a file: one line for the operator."""


def add_parsers(commands: Any) -> None:
    history = commands.add_parser("history", help="the RRD history store")
    verbs = history.add_subparsers(dest="verb", required=True, metavar="VERB")
    backfill = verbs.add_parser("import", help="backfill RRD files from record files "
                                "(poller.jsonl, .1, .gz); running it twice adds nothing")
    backfill.add_argument("--config", "-c", required=True, help="fleet file (TOML)")
    backfill.add_argument("--directory", help="RRD directory (default: [history] directory)")
    backfill.add_argument("--rrdcached", metavar="ADDRESS",
                          help="write through rrdcached (unix:/path or host:port)")
    backfill.add_argument("files", nargs="+", metavar="FILE", help="record files")
    backfill.set_defaults(handler=run_import)


def settings_for(config: Config, args: argparse.Namespace) -> HistorySettings:
    # a fleet file without [history] keeps the defaults, where the daemon would put them
    state = config.daemon.state_directory or config.output.directory / "state"
    settings = config.history or default_settings(config.profiles, state / "history",
                                                  config.mibs)
    if args.directory:
        settings = replace(settings, directory=Path(args.directory).absolute())
    if args.rrdcached:
        address = rrdcached_address(args.rrdcached)
        if address is None:
            raise ConfigError(f"--rrdcached: {args.rrdcached!r} is not an address "
                              "(unix:/path, /path or host:port)")
        settings = replace(settings, rrdcached=address)
    return settings


def run_import(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    settings = settings_for(config, args)
    files = RrdFiles(settings.rrdcached)
    store = HistoryStore(settings, plans_for(config.devices, settings), files)
    try:
        counts = import_files([Path(name) for name in args.files], store)
    except RecordFileError as exc:
        raise HistoryImportError(str(exc)) from None
    done = store.counts
    print(f"{settings.directory}: {counts.lines} records from {counts.files} files: "
          f"{done.stored} updates stored, {done.skipped} skipped (at or before a file's last "
          f"update), {done.failed} failed, {done.ignored} records of devices not in "
          f"{config.path}, {counts.unreadable} unreadable lines")
    if done.failed:
        print(f"poller: history import: {store.last_error}", file=sys.stderr)
        return 1
    return 0
