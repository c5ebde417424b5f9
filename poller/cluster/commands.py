"""`poller cluster push --config FILE` publishes a fleet to every member; `poller cluster status
--config FILE` says who is in and what each polls. FILE's [cluster] says where Redis is."""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from poller.cluster.link import Link, Unavailable
from poller.config.cluster import ClusterSettings, read_cluster
from poller.config.load import build, parse, read_text
from poller.config.reader import Reader
from poller.errors import ConfigError
from poller.run.grid import format_ms


def add_parser(commands: Any) -> None:
    cluster = commands.add_parser("cluster", help="several hosts, one fleet: push, status")
    verbs = cluster.add_subparsers(dest="verb", required=True, metavar="VERB")
    push = verbs.add_parser("push", help="validate FILE and publish its fleet to every member")
    push.add_argument("--config", "-c", required=True, help="fleet file (TOML) with [cluster]")
    push.set_defaults(handler=_push)
    status = verbs.add_parser("status", help="members, epoch, devices per member, fleet "
                                             "version, clock skew")
    status.add_argument("--config", "-c", required=True, help="fleet file (TOML) with [cluster]")
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(handler=_status)


def validated(path: Path) -> tuple[str, ClusterSettings]:
    """FILE's text and its [cluster] settings, when it is a fleet every member can load; one
    ConfigError line otherwise. Its own fleet is checked, not a fleet pushed before."""
    text = read_text(path)
    doc = parse(path, text)
    if "cluster" not in doc:
        raise ConfigError(f"{path}: no [cluster] section (where is Redis?)")
    settings = read_cluster(Reader(path), doc["cluster"])
    config = build(path, {k: v for k, v in doc.items() if k != "cluster"})
    if config.inline_secrets:
        raise ConfigError(f"{path}: a pushed fleet must not hold communities or keys inline "
                          "(they would be stored in Redis): use *_file, *_env or *_credential")
    return text, settings


def _push(args: argparse.Namespace) -> int:
    text, settings = validated(Path(args.config))
    sha256 = hashlib.sha256(text.encode()).hexdigest()
    pushed_at = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    version = _talk(settings, lambda link: link.push(text, sha256, pushed_at))
    print(f"pushed {args.config} as fleet version {version} (sha256 {sha256[:12]})")
    return 0


def _status(args: argparse.Namespace) -> int:
    path = Path(args.config)
    doc = parse(path, read_text(path))
    if "cluster" not in doc:
        raise ConfigError(f"{path}: no [cluster] section (where is Redis?)")
    settings = read_cluster(Reader(path), doc["cluster"])
    status = _talk(settings, lambda link: link.status())
    if args.json:
        print(json.dumps(status, sort_keys=True))
    else:
        print("\n".join(status_lines(settings.name, status)))
    return 0


def status_lines(name: str, status: dict[str, Any]) -> list[str]:
    version, sha256, pushed_at = status["fleet"]
    fleet = (f"fleet version {version} (sha256 {str(sha256)[:12]}, pushed {pushed_at})"
             if version else "no fleet pushed")
    header = (f"{'member':<24} {'lease_left_s':>12} {'devices':>8} {'fleet':>6} "
              f"{'skew_ms':>8} {'epoch':>6}")
    lines = [f"cluster {name}: epoch {status['epoch']}, {len(status['members'])} members, {fleet}",
             header]
    for member, expiry in sorted(status["members"].items()):
        report = status["reports"].get(member, {})
        lines.append(f"{member:<24} {(expiry - status['now_ms']) / 1000:>12.1f} "
                     f"{report.get('devices', '-'):>8} {report.get('fleet_version', '-'):>6} "
                     f"{report.get('skew_ms', '-'):>8} {report.get('epoch', '-'):>6}")
    lines.append(f"(Redis time {format_ms(status['now_ms'])})")
    return lines


def _talk(settings: ClusterSettings, action: Any) -> Any:
    async def main() -> Any:
        link = Link(settings, timeout_s=2.0)
        try:
            return await action(link)
        finally:
            await link.close()

    try:
        return asyncio.run(main())
    except Unavailable as exc:
        raise Unavailable(f"cannot reach Redis of cluster {settings.name}: {exc}") from None
