"""`poller get` and `poller walk`: one-shot requests the way net-snmp's tools make them, against
a device of a fleet file or an ad-hoc HOST[:PORT]."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

import orjson
import uvloop

from poller.config import credentials as v3
from poller.config.load import load_config
from poller.config.model import (
    DEFAULT_ENGINE,
    ENGINES,
    Config,
    Credential,
    Secret,
    Usm,
    WalkLimits,
)
from poller.errors import ConfigError
from poller.mib.names import STANDARD, MibNames
from poller.oid import Oid
from poller.poll.device import target_for
from poller.snmp.client import SnmpClient
from poller.snmp.engines import make_requester
from poller.snmp.render import json_value, netsnmp_line
from poller.snmp.types import RequestStats, Target, VarBind

#: what `poller walk` reads when given no OID: MIB-2, as snmpwalk does
DEFAULT_WALK_ROOT = "1.3.6.1.2.1"


def add_parsers(commands: Any) -> None:
    get = commands.add_parser("get", help="GET objects, printed like snmpget -On (or --json)")
    _target_options(get)
    get.add_argument("oids", nargs="+", metavar="OID", help="numeric OID or name (sysUpTime.0)")
    get.set_defaults(handler=_get)
    walk = commands.add_parser("walk", help="walk subtrees, printed like snmpbulkwalk -On (or --json)")
    _target_options(walk)
    walk.add_argument("oids", nargs="*", metavar="OID",
                      help=f"subtree roots, numeric or names (default {DEFAULT_WALK_ROOT})")
    walk.set_defaults(handler=_walk)


def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="TARGET",
                        help="HOST[:PORT] ([v6addr]:PORT), or a device name with --config")
    parser.add_argument("--config", help="take the device TARGET and its credential from this fleet file")
    parser.add_argument("-c", "--community", default="public", help="community (default public)")
    parser.add_argument("-v", "--version", choices=("1", "2c", "3"), default="2c", help="SNMP version")
    usm = parser.add_argument_group("SNMPv3 (as net-snmp's snmpget)")
    usm.add_argument("-u", "--user", help="security name (user)")
    usm.add_argument("-l", "--security-level", help="noAuthNoPriv, authNoPriv or authPriv "
                     "(default: from the keys given)")
    usm.add_argument("-a", "--auth-protocol", help=f"{', '.join(v3.AUTH_PROTOCOLS)}")
    usm.add_argument("-A", "--auth-key", help="authentication passphrase")
    usm.add_argument("-x", "--priv-protocol", help=f"{', '.join(v3.PRIV_PROTOCOLS)}")
    usm.add_argument("-X", "--priv-key", help="privacy passphrase")
    usm.add_argument("-n", "--context", default="", help="context name (default empty)")
    parser.add_argument("-t", "--timeout", type=float, default=2.0, help="seconds per try (default 2)")
    parser.add_argument("-r", "--retries", type=int, default=1, help="retries (default 1)")
    parser.add_argument("--max-repetitions", type=int, default=25, help="GETBULK size (default 25)")
    parser.add_argument("--json", action="store_true", help="one JSON object per varbind")
    parser.add_argument("--engine", choices=ENGINES, default=None,
                        help=f"SNMP implementation (default {DEFAULT_ENGINE}, or the fleet file's)")


#: a walk asked for on the command line goes as far as the agent answers, as snmpwalk does (the
#: daemon's caps protect a fleet from an endless agent; here Ctrl-C does); a loop still ends it
COMMAND_LINE_WALK = WalkLimits(max_rows=100_000_000, max_requests=100_000_000)


def target_from(args: argparse.Namespace, config: Config | None = None) -> Target:
    """The device named by TARGET in the fleet file (`config`, else --config read), or the
    address TARGET with the command line's credential."""
    if args.config:
        config = config or load_config(args.config)
        for device in config.devices:
            if device.name == args.target:
                return target_for(device)
        known = ", ".join(d.name for d in config.devices[:10])
        raise ConfigError(f"{args.config}: no device named {args.target!r} (devices: {known})")
    host, port = _split_address(args.target)
    return Target(
        name=args.target,
        host=host,
        port=port,
        credential=_credential(args),
        timeout_s=args.timeout,
        retries=args.retries,
        max_repetitions=args.max_repetitions,
        walk=COMMAND_LINE_WALK,
    )


def _credential(args: argparse.Namespace) -> Credential:
    if args.version != "3":
        return Credential(name="command line", version=args.version,
                          community=Secret(args.community))
    if not args.user:
        raise ConfigError("-v 3 needs -u/--user")
    level = _level(args)
    auth, priv = level != "noAuthNoPriv", level == "authPriv"
    usm = Usm(
        user=args.user, level=level, context=args.context,
        auth_protocol=_protocol(args.auth_protocol, "-a/--auth-protocol", v3.AUTH_PROTOCOLS, level)
        if auth else None,
        auth_key=_key(args.auth_key, "-A/--auth-key", level) if auth else None,
        priv_protocol=_protocol(args.priv_protocol, "-x/--priv-protocol", v3.PRIV_PROTOCOLS, level)
        if priv else None,
        priv_key=_key(args.priv_key, "-X/--priv-key", level) if priv else None,
    )
    return Credential(name="command line", version="3", usm=usm)


def _level(args: argparse.Namespace) -> str:
    if args.security_level is None:
        return "authPriv" if args.priv_key else "authNoPriv" if args.auth_key else "noAuthNoPriv"
    level = v3.parse_level(args.security_level)
    if level is None:
        raise ConfigError(f"-l/--security-level: {args.security_level!r} is not a security level "
                          f"(allowed: {v3.LEVELS_ALLOWED})")
    return level


def _protocol(text: str | None, option: str, table: dict[str, tuple[str, ...]], level: str) -> str:
    if not text:
        raise ConfigError(f"{option} is needed for {level}")
    canonical = v3.parse_protocol(text, table)
    if canonical is None:
        raise ConfigError(f"{option}: {text!r} is not a supported protocol "
                          f"(allowed: {v3.allowed(table)})")
    return canonical


def _key(text: str | None, option: str, level: str) -> Secret:
    if not text:
        raise ConfigError(f"{option} is needed for {level}")
    problem = v3.check_key(text)
    if problem:
        raise ConfigError(f"{option} {problem}")
    return Secret(text)


def _split_address(text: str) -> tuple[str, int]:
    host, port = text, "161"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else "161"
    elif text.count(":") == 1:
        host, port = text.split(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"not a target: {text!r} (expected HOST, HOST:PORT or [IPv6]:PORT)")
    return host, int(port)


def _oids(config: Config | None, texts: Sequence[str]) -> list[Oid]:
    """The OIDs of names or numbers; with a fleet file, names of its [mibs] too."""
    names: MibNames = config.mibs if config is not None else STANDARD
    try:
        return [names.resolve(text)[1] for text in texts]
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _get(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else None
    target, oids = target_from(args, config), _oids(config, args.oids)

    async def run(client: SnmpClient) -> list[VarBind]:
        return await client.get(target, oids, RequestStats())

    return _print(_run(run, _engine(args, config)), args.json)


def _walk(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else None
    target, roots = target_from(args, config), _oids(config, args.oids or [DEFAULT_WALK_ROOT])

    async def run(client: SnmpClient) -> list[VarBind]:
        walked = await client.walk(target, roots, RequestStats())
        return [vb for root in roots for vb in walked[root]]

    return _print(_run(run, _engine(args, config)), args.json)


def _engine(args: argparse.Namespace, config: Config | None) -> str:
    if args.engine:
        return str(args.engine)
    if config is not None:
        return config.daemon.engine
    return DEFAULT_ENGINE


def _run(job: Any, engine: str) -> list[VarBind]:
    async def main() -> list[VarBind]:
        client = SnmpClient(make_requester(engine))
        try:
            result: list[VarBind] = await job(client)
            return result
        finally:
            await client.close()

    return uvloop.run(main())


def _print(varbinds: list[VarBind], as_json: bool) -> int:
    out = sys.stdout
    for vb in varbinds:
        if as_json:
            out.write(orjson.dumps(json_value(vb)).decode() + "\n")
        else:
            out.write(netsnmp_line(vb) + "\n")
    out.flush()
    return 0
