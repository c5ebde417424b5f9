"""The fleet file's `[cluster]` section: several hosts share one fleet through Redis
(poller.cluster). Its absence is a host polling alone, as without it.

A host's own file keeps its host sections ([daemon], [output], [cluster] ...); a fleet published
with `poller cluster push` brings the fleet sections (FLEET_KEYS) and is cached beside the state
(FLEET_CACHE), so the loader reads it (merge) at start and at every reload, also while Redis is
down.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poller.config import secrets
from poller.config.files import MAX_CONFIG_BYTES, MAX_CONFIG_TEXT, read_regular
from poller.config.reader import Reader, show

CLUSTER_KEYS = ("redis", "sentinels", "sentinel_master", "name", "host", "lease", "strict",
                "username", "password_file", "password_credential", "password_env",
                "tls_ca_file")
#: what a pushed fleet brings; every other section stays the host's own
FLEET_KEYS = ("mibs", "defaults", "credentials", "profiles", "devices")
#: the pushed fleet as this host last applied it: {"version": N, "text": TOML}
FLEET_CACHE = "cluster-fleet.json"
_ADDRESS = re.compile(r"^(redis|rediss|unix)://\S+$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterSettings:
    #: redis:// or rediss:// (TLS) addresses, tried in turn; empty with Sentinel
    redis: tuple[str, ...] = ()
    #: host:port of Sentinels, asked for the master `sentinel_master` on every (re)connect
    sentinels: tuple[str, ...] = ()
    sentinel_master: str = "mymaster"
    #: the cluster's name: the prefix of its Redis keys, so clusters can share one Redis
    name: str = "poller"
    #: this host's name among the members (default: the host name)
    host: str = ""
    lease_s: float = 10.0
    #: stop polling while Redis cannot confirm the lease (default: keep the last known share)
    strict: bool = False
    username: str | None = None
    #: the Redis password, read at load from a file or a systemd credential (never inline)
    password: str | None = field(default=None, repr=False, compare=False)
    tls_ca_file: Path | None = None
    #: the pushed fleet's version this Config was built with (0: none, the file's own devices)
    fleet_version: int = 0


def read_cluster(reader: Reader, raw: Any) -> ClusterSettings:
    raw = reader.table(raw, "cluster", CLUSTER_KEYS)
    base = ClusterSettings()
    redis = _addresses(reader, raw.get("redis", []))
    sentinels = tuple(reader.strings(raw.get("sentinels", []), "cluster.sentinels"))
    for i, sentinel in enumerate(sentinels):
        if not re.match(r"^\S+:\d{1,5}$", sentinel):
            raise reader.fail(f"cluster.sentinels[{i}]", f"{show(sentinel)} is not host:port")
    if not redis and not sentinels:
        raise reader.fail("cluster.redis", "missing (a redis:// or rediss:// address, or "
                                           "cluster.sentinels)")
    return ClusterSettings(
        redis=redis, sentinels=sentinels,
        sentinel_master=reader.string(raw.get("sentinel_master", base.sentinel_master),
                                      "cluster.sentinel_master"),
        name=_name(reader, raw.get("name", base.name), "cluster.name"),
        host=_name(reader, raw.get("host", socket.gethostname()), "cluster.host"),
        lease_s=reader.duration(raw.get("lease", base.lease_s), "cluster.lease", 1, 3600),
        strict=reader.boolean(raw.get("strict", base.strict), "cluster.strict"),
        username=reader.string(raw["username"], "cluster.username") if "username" in raw
        else None,
        password=_password(reader, raw),
        tls_ca_file=reader.pathname(raw["tls_ca_file"], "cluster.tls_ca_file")
        if "tls_ca_file" in raw else None,
    )


def _addresses(reader: Reader, raw: Any) -> tuple[str, ...]:
    given = [raw] if isinstance(raw, str) else reader.strings(raw, "cluster.redis")
    for address in given:
        if not _ADDRESS.match(address):
            raise reader.fail("cluster.redis", f"{show(_without_password(address))} is not a "
                                               "redis://, rediss:// or unix:// address")
        if re.match(r"^\w+://[^/@]*:[^/@]*@", address):
            raise reader.fail("cluster.redis", "holds a password: use cluster.password_file or "
                                               "cluster.password_credential")
    return tuple(given)


def _without_password(address: str) -> str:
    return re.sub(r"(://[^/@]*:)[^/@]*@", r"\1***@", address)


def _name(reader: Reader, value: Any, where: str) -> str:
    name = reader.string(value, where)
    if not _NAME.match(name):
        raise reader.fail(where, f"{show(name)} is not a name (letters, digits, '.', '_', '-'; "
                                 "up to 63)")
    return name


def _password(reader: Reader, raw: dict[str, Any]) -> str | None:
    given = [key for key in ("password_file", "password_credential", "password_env") if key in raw]
    if len(given) > 1:
        raise reader.fail(f"cluster.{given[1]}", f"set more than once ({', '.join(given)})")
    if not given:
        return None
    key = given[0]
    try:
        return secrets.read(key, reader.string(raw[key], f"cluster.{key}"))
    except ValueError as exc:
        raise reader.fail(f"cluster.{key}", str(exc)) from None


# -- the pushed fleet --------------------------------------------------------------------------


def cache_path(state_directory: Path) -> Path:
    return state_directory / FLEET_CACHE


def read_cache(path: Path) -> tuple[int, str] | None:
    """(version, TOML text) of the cached pushed fleet, or None when there is none. ValueError
    (one line) when it is there but damaged."""
    if not path.exists():
        return None
    try:
        entry = json.loads(read_regular(path, 2 * MAX_CONFIG_BYTES, MAX_CONFIG_TEXT))
        version, text = entry["version"], entry["text"]
        if not isinstance(version, int) or not isinstance(text, str):
            raise KeyError("version, text")
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a pushed fleet ({exc})") from None
    return version, text


def merge(local: dict[str, Any], pushed: dict[str, Any]) -> dict[str, Any]:
    """The host's own sections with the pushed fleet's sections in place of its own."""
    merged = {key: value for key, value in local.items() if key not in FLEET_KEYS}
    merged.update({key: value for key, value in pushed.items() if key in FLEET_KEYS})
    return merged


def pushed_fleet(reader: Reader, doc: dict[str, Any], state_directory: Path, *,
                 cached: bool = True) -> tuple[ClusterSettings | None, tuple[int, str] | None]:
    """The [cluster] settings of `doc` (None without the section), and the cached pushed
    fleet (version, TOML text) when one was pushed (and `cached` asks for it)."""
    if "cluster" not in doc:
        return None, None
    settings = read_cluster(reader, doc["cluster"])
    if not cached:
        return settings, None
    try:
        return settings, read_cache(cache_path(state_directory))
    except ValueError as exc:
        raise reader.fail("cluster", str(exc)) from None
