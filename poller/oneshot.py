"""`poller get` and `poller walk`: one-shot requests the way net-snmp's tools make them, against
a device of a fleet file or an ad-hoc HOST[:PORT]."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Sequence

import orjson
import uvloop

from poller import mib
from poller.config import Credential, Secret
from poller.errors import ConfigError
from poller.oid import Oid
from poller.snmp.client import SnmpClient
from poller.snmp.engines import DEFAULT_ENGINE, ENGINES, make_requester
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
    parser.add_argument("-v", "--version", choices=("1", "2c"), default="2c", help="SNMP version")
    parser.add_argument("-t", "--timeout", type=float, default=2.0, help="seconds per try (default 2)")
    parser.add_argument("-r", "--retries", type=int, default=1, help="retries (default 1)")
    parser.add_argument("--max-repetitions", type=int, default=25, help="GETBULK size (default 25)")
    parser.add_argument("--json", action="store_true", help="one JSON object per varbind")
    parser.add_argument("--engine", choices=ENGINES, default=None,
                        help=f"SNMP implementation (default {DEFAULT_ENGINE}, or the fleet file's)")


def target_from(args: argparse.Namespace) -> Target:
    if args.config:
        from poller.config import load_config
        from poller.poll import target_for

        config = load_config(args.config)
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
        credential=Credential(name="command line", version=args.version,
                              community=Secret(args.community)),
        timeout_s=args.timeout,
        retries=args.retries,
        max_repetitions=args.max_repetitions,
    )


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


def _oids(texts: Sequence[str]) -> list[Oid]:
    try:
        return [mib.resolve(text)[1] for text in texts]
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _get(args: argparse.Namespace) -> int:
    target, oids = target_from(args), _oids(args.oids)

    async def run(client: SnmpClient) -> list[VarBind]:
        return await client.get(target, oids, RequestStats())

    return _print(_run(run, _engine(args)), args.json)


def _walk(args: argparse.Namespace) -> int:
    target, roots = target_from(args), _oids(args.oids or [DEFAULT_WALK_ROOT])

    async def run(client: SnmpClient) -> list[VarBind]:
        walked = await client.walk(target, roots, RequestStats())
        return [vb for root in roots for vb in walked[root]]

    return _print(_run(run, _engine(args)), args.json)


def _engine(args: argparse.Namespace) -> str:
    if args.engine:
        return str(args.engine)
    if args.config:
        from poller.config import load_config

        return load_config(args.config).daemon.engine
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
