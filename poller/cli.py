"""Command line: `poller run|check|get|walk|tail|history|web|cluster`. Exit codes: 0 ok, 1 runtime
failure, 2 bad input (config or usage). Errors are one line on stderr, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from poller import __version__
from poller.cluster import commands as cluster_commands
from poller.cluster import index_share
from poller.cluster import polling as cluster_polling
from poller.commands import get_walk as oneshot
from poller.commands import history, tail
from poller.commands import web as web_command
from poller.commands.check import run_check
from poller.config.load import load_config
from poller.config.shard import CommandLine, parse_shard, parse_workers
from poller.errors import ConfigError, PollerError, SnmpError
from poller.run import daemon

EXIT_FAILURE, EXIT_USAGE = 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="poller", description="Poll a fleet of SNMP devices and write JSON records."
    )
    parser.add_argument("--version", action="version", version=f"poller {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the daemon (foreground)")
    run.add_argument("--config", "-c", required=True, help="fleet file (TOML)")
    run.add_argument("--once", action="store_true", help="poll every device once, then exit")
    run.add_argument(
        "--console", action="store_true", help="also print one short line per poll on stderr"
    )
    _shard_option(run)
    run.add_argument("--workers", metavar="N", help='worker processes, or "auto" (one per '
                     "usable core); overrides [daemon] workers")
    run.set_defaults(handler=_run)

    check = commands.add_parser("check", help="validate a fleet file and summarize it")
    check.add_argument("--config", "-c", required=True, help="fleet file (TOML)")
    _shard_option(check)
    check.set_defaults(handler=_check)

    oneshot.add_parsers(commands)
    tail.add_parser(commands)
    history.add_parsers(commands)
    web_command.add_parsers(commands, shared_index=index_share.SharedIndex)
    cluster_commands.add_parser(commands)
    return parser


def _shard_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shard", metavar="I/N", help="poll only the devices whose name hashes "
                        "to I mod N (one of N hosts); overrides [daemon] shard")


def _command_line(args: argparse.Namespace) -> CommandLine:
    """--shard and --workers, checked before anything else is read: one line when wrong."""
    try:
        shard = parse_shard(args.shard) if args.shard is not None else None
    except ValueError as exc:
        raise ConfigError(f"--shard: {exc}") from None
    try:
        given = getattr(args, "workers", None)
        workers = parse_workers(given) if given is not None else None
    except ValueError as exc:
        raise ConfigError(f"--workers: {exc}") from None
    return CommandLine(shard=shard, workers=workers)


def _run(args: argparse.Namespace) -> int:
    command_line = _command_line(args)
    config = command_line.apply(load_config(args.config))
    for warning in config.warnings:
        print(f"poller: warning: {warning}", file=sys.stderr)
    if config.cluster is not None and not args.once:
        # one of several hosts: --once polls the whole file here, without the cluster
        return cluster_polling.run(config, console=args.console, command_line=command_line)
    return daemon.run(config, once=args.once, console=args.console, command_line=command_line)


def _check(args: argparse.Namespace) -> int:
    return run_check(args.config, _command_line(args))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and hasattr(args, "oids") and not any(e.startswith("-") for e in extra):
        args.oids += extra  # OIDs after options, as snmpwalk allows: `walk HOST -c x OID`
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        code: int = args.handler(args)
        return code
    except SnmpError as exc:
        print(f"poller: {exc.error_type}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except PollerError as exc:
        print(f"poller: {exc}", file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, ValueError) else EXIT_FAILURE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `poller walk ... | head`: the reader left; say nothing more, as snmpwalk does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


if __name__ == "__main__":
    raise SystemExit(main())
