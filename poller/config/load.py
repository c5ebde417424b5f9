"""TOML fleet file -> Config. Strict: unknown keys, wrong types, duplicates, dangling references
and impossible timings stop the load with one line:

    fleet.toml: devices[3] (core-sw1).credential: unknown credential 'corev3' (known: core_v3, public)

Defaults live in DEVICE_DEFAULTS and the settings dataclasses, nowhere else. Secrets never appear
in a message.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import tomli

from poller.config import credentials as config_credentials
from poller.config import secrets
from poller.config.mibs import read_mibs
from poller.config.model import (
    ENGINES,
    Config,
    Credential,
    DaemonSettings,
    Device,
    OutputSettings,
    Profile,
    Secret,
)
from poller.config.profiles import BUILTIN_PROFILES, ProfileReader
from poller.config.reader import show
from poller.config.shard import parse_shard, parse_workers
from poller.config.walk import WALK_DEFAULTS, walk_limits
from poller.errors import ConfigError
from poller.schema import RESERVED_FIELDS

__all__ = ["BUILTIN_PROFILES", "DEVICE_DEFAULTS", "RESERVED_FIELDS", "load"]

DEVICE_DEFAULTS: dict[str, Any] = {
    "port": 161,
    "credential": "public",
    "profiles": ["system", "interfaces"],
    "interval": 60.0,
    "timeout": 2.0,
    "retries": 1,
    "max_repetitions": 25,
    "max_oids_per_request": 32,
    "tags": {},
    **WALK_DEFAULTS,
}
DEVICE_KEYS = ("name", "host", *DEVICE_DEFAULTS)
TOP_KEYS = ("daemon", "output", "mibs", "defaults", "credentials", "profiles", "devices")
#: accepted spellings: net-snmp's ("1", "2c"), with a v ("v2c"), and Telegraf's integers (1, 2)
VERSIONS: dict[object, str] = {"1": "1", "v1": "1", 1: "1", "2c": "2c", "v2c": "2c", 2: "2c"}
VERSIONS_ALLOWED = '"1", "2c", "3", "v1", "v2c", "v3", 1, 2, 3'

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_TAG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class _Loader(ProfileReader):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.inline_secrets = False
        self.communities: set[str] = set()

    # -- sections ----------------------------------------------------------------------------------

    def load(self, doc: dict[str, Any]) -> Config:
        self.table(doc, "", TOP_KEYS)
        daemon = self.daemon(doc.get("daemon", {}))
        output = self.output(doc.get("output", {}))
        credentials = self.credentials(doc.get("credentials", {}))
        read_mibs(self, doc.get("mibs", {}))  # before the profiles, which may use its names
        profiles = self.profiles(doc.get("profiles", {}))
        self.communities = config_credentials.secret_values(credentials.values())
        written = self.table(doc.get("defaults", {}), "defaults", DEVICE_DEFAULTS)
        defaults = {**DEVICE_DEFAULTS, **written}
        # checked where they are written, even when every device overrides them; the built-in
        # default credential `public` only has to exist when a device falls back on it
        self.settings(defaults, lambda key: f"defaults.{key}", credentials, profiles,
                      check_credential="credential" in written)
        devices = doc.get("devices", [])
        if not isinstance(devices, list):
            raise self.fail("devices", "expected an array of tables ([[devices]])")
        built: list[Device] = []
        names: set[str] = set()
        for i, raw in enumerate(devices):
            device = self.device(i, raw, defaults, credentials, profiles)
            if device.name in names:
                raise self.fail(f"devices[{i}] ({device.name}).name",
                                f"duplicate device name {device.name!r}")
            names.add(device.name)
            built.append(device)
        warnings: tuple[str, ...] = ()
        if self.inline_secrets and secrets.readable_by_others(self.path):
            warnings = ((f"{self.path} holds communities or SNMPv3 keys and is readable by every "
                        "user: chmod o-r it, or use *_file, *_env or *_credential (e.g. "
                        "community_file, auth_key_env)"),)
        return Config(path=self.path, daemon=daemon, output=output, credentials=credentials,
                      profiles=profiles, devices=tuple(built), warnings=warnings)

    def daemon(self, raw: Any) -> DaemonSettings:
        raw = self.table(raw, "daemon", ("max_in_flight", "drain_grace", "stats_interval", "engine",
                                         "workers", "shard"))
        base = DaemonSettings()
        scaling: dict[str, Any] = {}
        for key, parse in (("workers", parse_workers), ("shard", parse_shard)):
            if key in raw:
                try:
                    scaling[key] = parse(raw[key])
                except ValueError as exc:
                    raise self.fail(f"daemon.{key}", str(exc)) from None
        engine = raw.get("engine", base.engine)
        if engine not in ENGINES:
            raise self.fail("daemon.engine", f"{show(engine)} is not an engine (allowed: {', '.join(ENGINES)})")
        return DaemonSettings(
            engine=engine,
            stats_interval_s=self.duration(raw.get("stats_interval", base.stats_interval_s),
                                           "daemon.stats_interval", 1, 86_400),
            max_in_flight=self.integer(raw.get("max_in_flight", base.max_in_flight),
                                       "daemon.max_in_flight", 1, 100_000),
            drain_grace_s=self.duration(raw.get("drain_grace", base.drain_grace_s),
                                        "daemon.drain_grace", 0, 3600),
            **scaling,
        )

    def output(self, raw: Any) -> OutputSettings:
        keys = ("directory", "data_file", "events_file", "max_bytes", "max_age", "backups",
                "compress")
        raw = self.table(raw, "output", keys)
        base = OutputSettings()
        files = {}
        for key in ("data_file", "events_file"):
            name = self.string(raw.get(key, getattr(base, key)), f"output.{key}")
            if "/" in name or name in (".", ".."):
                raise self.fail(f"output.{key}", f"{name!r} must be a file name, not a path "
                                                 "(the directory is output.directory)")
            files[key] = name
        if files["data_file"] == files["events_file"]:
            raise self.fail("output.events_file", "must differ from output.data_file")
        directory = Path(self.string(raw.get("directory", str(base.directory)), "output.directory"))
        return OutputSettings(
            directory=directory if directory.is_absolute() else Path.cwd() / directory,
            max_bytes=self.size(raw.get("max_bytes", base.max_bytes), "output.max_bytes"),
            backups=self.integer(raw.get("backups", base.backups), "output.backups", 0, 1000),
            max_age_s=self.duration(raw.get("max_age", base.max_age_s), "output.max_age", 0, 366 * 86_400),
            compress=self.boolean(raw.get("compress", base.compress), "output.compress"),
            **files,
        )

    def credentials(self, raw: Any) -> dict[str, Credential]:
        raw = self.table(raw, "credentials", raw if isinstance(raw, dict) else ())
        out = {}
        for name, entry in raw.items():
            where = f"credentials.{name}"
            if isinstance(entry, dict) and config_credentials.is_v3(entry.get("version")):
                out[name] = config_credentials.v3_credential(self, name, entry, where)
                continue
            sources = secrets.source_keys("community")
            entry = self.table(entry, where, ("version", *sources))
            version = entry.get("version", "2c")
            if isinstance(version, bool) or version not in VERSIONS:
                raise self.fail(f"{where}.version", f"{show(version)} is not a supported SNMP "
                                                    f"version (allowed: {VERSIONS_ALLOWED})")
            out[name] = Credential(name=name, version=VERSIONS[version],  # type: ignore[arg-type]
                                   community=Secret(self.secret(entry, where, sources)))
        return out

    def secret(self, entry: dict[str, Any], where: str, sources: tuple[str, ...]) -> str:
        given = [key for key in sources if key in entry]
        if len(given) != 1:
            problem = "missing" if not given else f"set more than once ({', '.join(given)})"
            raise self.fail(f"{where}.{sources[0]}", f"{problem} (set one of: {', '.join(sources)})")
        key = given[0]
        value = self.string(entry[key], f"{where}.{key}", secret=key == sources[0])
        if key == sources[0]:
            self.inline_secrets = True
        try:
            return secrets.read(key, value)
        except ValueError as exc:
            raise self.fail(f"{where}.{key}", str(exc)) from None

    # -- devices -----------------------------------------------------------------------------------

    def device(
        self,
        i: int,
        raw: Any,
        defaults: Mapping[str, Any],
        credentials: Mapping[str, Credential],
        profiles: Mapping[str, Profile],
    ) -> Device:
        if not isinstance(raw, dict):
            raise self.fail(f"devices[{i}]", f"expected a table, got {show(raw)}")
        name = self.name(raw.get("name"), f"devices[{i}].name")
        at = f"devices[{i}] ({name})"
        self.table(raw, at, DEVICE_KEYS)
        values = {**defaults, **raw}
        # default tags are the base, the device's own add to (or override) them
        values["tags"] = {**defaults["tags"], **raw.get("tags", {})} \
            if isinstance(raw.get("tags", {}), dict) else raw["tags"]

        def where(key: str) -> str:
            return f"{at}.{key}" if key in raw else f"{at}.{key} (from defaults)"

        settings = self.settings(values, where, credentials, profiles)
        return Device(name=name, host=self.host(raw.get("host"), f"{at}.host"), **settings)

    def settings(
        self,
        values: Mapping[str, Any],
        where: Callable[[str], str],
        credentials: Mapping[str, Credential],
        profiles: Mapping[str, Profile],
        *,
        check_credential: bool = True,
    ) -> dict[str, Any]:
        """The per-device settings (a device's, or [defaults] on their own), validated."""
        credential = self.credential_ref(values["credential"], where("credential"), credentials) \
            if check_credential else None
        chosen = self.strings(values["profiles"], where("profiles"))
        if not chosen:
            raise self.fail(where("profiles"), f"is empty (known: {', '.join(sorted(profiles))})")
        plan = [self.reference(p, where("profiles"), profiles, "profile") for p in chosen]
        tables = [t for p in plan for t in p.tables]
        self.unique((t.name for t in tables), where("profiles"), "table name across profiles")
        interval = self.duration(values["interval"], where("interval"), 1, 86_400)
        timeout = self.duration(values["timeout"], where("timeout"), 0.01, 600)
        retries = self.integer(values["retries"], where("retries"), 0, 10)
        if timeout * (retries + 1) >= interval:
            raise self.fail(where("timeout"), f"{timeout:g} s x (retries {retries} + 1) = "
                            f"{timeout * (retries + 1):g} s is not below the interval "
                            f"{interval:g} s (allowed: timeout x (retries + 1) < interval)")
        columns = {c.name for p in plan for c in p.scalars} | {c.name for t in tables for c in t.columns}
        return {
            "port": self.integer(values["port"], where("port"), 1, 65535),
            "credential": credential,
            "profiles": tuple(chosen),
            "scalar_groups": tuple((p.name, p.scalars) for p in plan if p.scalars),
            "tables": tuple(tables),
            "interval_s": interval,
            "timeout_s": timeout,
            "retries": retries,
            "max_repetitions": self.integer(values["max_repetitions"], where("max_repetitions"), 1, 1000),
            "max_oids_per_request": self.integer(
                values["max_oids_per_request"], where("max_oids_per_request"), 1, 1000),
            "tags": self.tags(values["tags"], where("tags"), columns),
            "walk": walk_limits(self, values, where),
        }

    def credential_ref(self, raw: Any, where: str, known: Mapping[str, Credential]) -> Credential:
        name = self.string(raw, where, secret=True)
        if name not in known and name in self.communities:
            # a community or v3 key written where the credential's name belongs: never echo it
            raise self.fail(where, "is a secret (a community or key), not the name of a "
                                   f"[credentials.NAME] entry (known: {', '.join(sorted(known)) or 'none'})")
        credential: Credential = self.reference(name, where, known, "credential")
        return credential

    def host(self, raw: Any, where: str) -> str:
        host = self.string(raw, where)
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        # 10.0.0.256 matches the host name syntax, but no DNS name is all digits
        if not _HOSTNAME.match(host) or host.rstrip(".").replace(".", "").isdigit():
            raise self.fail(where, f"{show(host)} is not an IPv4 or IPv6 address or a host name")
        return host

    def tags(self, raw: Any, where: str, columns: set[str]) -> tuple[tuple[str, str], ...]:
        if not isinstance(raw, dict):
            raise self.fail(where, f"expected a table of strings, got {show(raw)}")
        out = []
        for key, value in raw.items():
            if not _TAG_KEY.match(key):
                raise self.fail(f"{where}.{key}", "a tag name is letters, digits, _ . - "
                                                  "and starts with a letter or _")
            if key in RESERVED_FIELDS or key in columns or key.endswith(("_rate", "_bps")):
                raise self.fail(f"{where}.{key}", "a tag may not shadow a record field")
            if not isinstance(value, str):
                raise self.fail(f"{where}.{key}", f"{show(value)} is not a string")
            out.append((key, value))
        return tuple(out)


def load(path: Path) -> Config:
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        doc = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax: {exc}") from None
    return _Loader(path).load(doc)


def load_config(path: str | Path) -> Config:
    """Read and validate a fleet file; raises ConfigError with one line on any problem."""
    return load(Path(path))
