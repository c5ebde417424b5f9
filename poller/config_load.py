"""TOML fleet file -> Config. Strict: unknown keys, wrong types, duplicates, dangling references
and impossible timings stop the load with one line:

    fleet.toml: devices[3] (core-sw1).credential: unknown credential 'corev3' (known: core_v3, public)

Defaults live in DEVICE_DEFAULTS and the settings dataclasses, nowhere else. Secrets never appear
in a message.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import tomli

from poller import config_credentials, mib, secrets
from poller.config import (
    Column, Config, Credential, DaemonSettings, Device, OutputSettings, Profile, Secret, Table,
)
from poller.errors import ConfigError
from poller.snmp.engines import ENGINES

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
}
DEVICE_KEYS = ("name", "host", *DEVICE_DEFAULTS)
TOP_KEYS = ("daemon", "output", "defaults", "credentials", "profiles", "devices")
#: field names every record may carry: tags must not shadow them
RESERVED_FIELDS = frozenset({
    "timestamp", "event", "device", "address", "group", "table", "index", "seq", "scheduled_at",
    "status", "error", "error_type", "duration_s", "queue_delay_s", "requests", "varbinds", "rows",
    "uptime_s", "agent_restarted",
})
#: accepted spellings: net-snmp's ("1", "2c"), with a v ("v2c"), and Telegraf's integers (1, 2)
VERSIONS: dict[object, str] = {"1": "1", "v1": "1", 1: "1", "2c": "2c", "v2c": "2c", 2: "2c"}
VERSIONS_ALLOWED = '"1", "2c", "3", "v1", "v2c", "v3", 1, 2, 3'

BUILTIN_PROFILES: dict[str, dict[str, Any]] = {
    "system": {"scalars": ["sysDescr.0", "sysObjectID.0", "sysUpTime.0", "sysContact.0",
                           "sysName.0", "sysLocation.0"]},
    "interfaces": {"tables": [{
        "name": "interfaces",
        "columns": ["ifDescr", "ifName", "ifAlias", "ifType", "ifMtu", "ifSpeed", "ifHighSpeed",
                    "ifPhysAddress", "ifAdminStatus", "ifOperStatus", "ifLastChange",
                    "ifHCInOctets", "ifHCOutOctets", "ifHCInUcastPkts", "ifHCOutUcastPkts",
                    "ifInDiscards", "ifOutDiscards", "ifInErrors", "ifOutErrors",
                    "ifInUnknownProtos", "ifCounterDiscontinuityTime"],
        "bits": ["ifHCInOctets", "ifHCOutOctets"],
    }]},
}

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9,
               "KiB": 2**10, "MiB": 2**20, "GiB": 2**30}
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_TAG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def show(value: Any) -> str:
    """A TOML value as it reads in a message."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


class _Loader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.inline_secrets = False
        self.communities: set[str] = set()

    def fail(self, where: str, problem: str) -> ConfigError:
        line = f"{self.path}: {where}: {problem}" if where else f"{self.path}: {problem}"
        # keys and names from the file may hold newlines; the message stays one line
        return ConfigError(_CONTROL.sub(lambda m: repr(m[0])[1:-1], line))

    # -- typed getters ---------------------------------------------------------------------------

    def table(self, value: Any, where: str, allowed: Iterable[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, f"expected a table, got {show(value)}")
        allowed = tuple(allowed)
        for key in value:
            if key not in allowed:
                raise self.fail(where, f"unknown key {key!r} (allowed: {', '.join(allowed)})")
        return value

    def string(self, value: Any, where: str, *, secret: bool = False) -> str:
        if not isinstance(value, str) or not value.strip():
            shown = "" if secret else f", got {show(value)}"
            raise self.fail(where, f"expected a non-empty string{shown}")
        return value

    def name(self, value: Any, where: str) -> str:
        """A name records or messages carry (device, table, column): printable, one line."""
        name = self.string(value, where)
        if _CONTROL.search(name) or name != name.strip():
            raise self.fail(where, f"{show(name)} has spaces around it or control characters")
        return name

    def integer(self, value: Any, where: str, low: int, high: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(where, f"{show(value)} is not an integer in {low}..{high}")
        return value

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"{show(value)} is not true or false")
        return value

    def duration(self, value: Any, where: str, low: float, high: float) -> float:
        seconds: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        elif isinstance(value, str) and (match := _DURATION.match(value)):
            seconds = float(match[1]) * _DURATION_UNITS[match[2]]
        if seconds is None:
            raise self.fail(where, f"{show(value)} is not a duration "
                                   '(a number of seconds or a string like "500ms", "30s", "5m")')
        if not low <= seconds <= high:
            raise self.fail(where, f"{show(value)} is outside {low:g} s..{high:g} s")
        return seconds

    def size(self, value: Any, where: str) -> int:
        size: int | None = None
        if isinstance(value, int) and not isinstance(value, bool):
            size = value
        elif isinstance(value, str) and (match := _SIZE.match(value)):
            size = int(match[1]) * _SIZE_UNITS[match[2]]
        if size is None or size < 1024:
            raise self.fail(where, f"{show(value)} is not a size of at least 1 KiB "
                                   '(bytes, or a string like "50MiB", "1GB")')
        return size

    def strings(self, value: Any, where: str) -> list[str]:
        if not isinstance(value, list):
            raise self.fail(where, f"expected an array of strings, got {show(value)}")
        return [self.string(item, f"{where}[{i}]") for i, item in enumerate(value)]

    # -- sections ----------------------------------------------------------------------------------

    def load(self, doc: dict[str, Any]) -> Config:
        self.table(doc, "", TOP_KEYS)
        daemon = self.daemon(doc.get("daemon", {}))
        output = self.output(doc.get("output", {}))
        credentials = self.credentials(doc.get("credentials", {}))
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
        warnings = ()
        if self.inline_secrets and secrets.readable_by_others(self.path):
            warnings = (f"{self.path} holds communities or SNMPv3 keys and is readable by every "
                        "user: chmod o-r it, or use *_file, *_env or *_credential (e.g. "
                        "community_file, auth_key_env)",)
        return Config(path=self.path, daemon=daemon, output=output, credentials=credentials,
                      profiles=profiles, devices=tuple(built), warnings=warnings)

    def daemon(self, raw: Any) -> DaemonSettings:
        raw = self.table(raw, "daemon", ("max_in_flight", "drain_grace", "stats_interval", "engine"))
        base = DaemonSettings()
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

    def profiles(self, raw: Any) -> dict[str, Profile]:
        raw = self.table(raw, "profiles", raw if isinstance(raw, dict) else ())
        merged = {**BUILTIN_PROFILES, **raw}
        return {name: self.profile(name, entry, builtin=name not in raw)
                for name, entry in merged.items()}

    def profile(self, name: str, raw: Any, *, builtin: bool = False) -> Profile:
        where = f"profiles.{name}"
        raw = self.table(raw, where, ("scalars", "tables"))
        scalars = raw.get("scalars", [])
        if not isinstance(scalars, list):
            raise self.fail(f"{where}.scalars", f"expected an array, got {show(scalars)}")
        columns = tuple(self.column(item, f"{where}.scalars[{i}]", mib.SCALAR)
                        for i, item in enumerate(scalars))
        self.unique((c.name for c in columns), f"{where}.scalars", "field name")
        tables_raw = raw.get("tables", [])
        if not isinstance(tables_raw, list):
            raise self.fail(f"{where}.tables", "expected an array of tables ([[profiles.NAME.tables]])")
        tables = tuple(self.table_def(t, f"{where}.tables[{i}]") for i, t in enumerate(tables_raw))
        self.unique((t.name for t in tables), f"{where}.tables", "table name")
        if not columns and not tables:
            raise self.fail(where, "has neither scalars nor tables")
        return Profile(name=name, scalars=columns, tables=tables, builtin=builtin)

    def table_def(self, raw: Any, where: str) -> Table:
        raw = self.table(raw, where, ("name", "columns", "bits"))
        name = self.name(raw.get("name"), f"{where}.name")
        columns_raw = raw.get("columns")
        if not isinstance(columns_raw, list) or not columns_raw:
            raise self.fail(f"{where}.columns", "expected a non-empty array of columns")
        columns = [self.column(item, f"{where}.columns[{i}]", mib.COLUMN)
                   for i, item in enumerate(columns_raw)]
        self.unique((c.name for c in columns), f"{where}.columns", "column name")
        bits = self.strings(raw.get("bits", []), f"{where}.bits")
        known = [c.name for c in columns]
        for i, column in enumerate(bits):
            if column not in known:
                raise self.fail(f"{where}.bits[{i}]", f"{column!r} is not a column of this table "
                                                      f"(columns: {', '.join(known)})")
        columns = [Column(name=c.name, oid=c.oid, bits=c.name in bits) for c in columns]
        return Table(name=name, columns=tuple(columns))

    def column(self, raw: Any, where: str, kind: str) -> Column:
        """A scalar (kind mib.SCALAR: GET as given) or a table column (mib.COLUMN: walked)."""
        if isinstance(raw, dict):
            raw = self.table(raw, where, ("name", "oid"))
            name = self.name(raw.get("name"), f"{where}.name")
            if name in RESERVED_FIELDS:
                raise self.fail(f"{where}.name", f"{name!r} would shadow a record field "
                                                 f"(reserved: {', '.join(sorted(RESERVED_FIELDS))})")
            where = f"{where}.oid"
            text = self.string(raw.get("oid"), where)
            _, oid = self.resolve(text, where)
        else:
            text = self.string(raw, where)
            name, oid = self.resolve(text, where)
        self.check_kind(text.strip(), where, kind)
        return Column(name=name, oid=oid)

    def check_kind(self, text: str, where: str, kind: str) -> None:
        """A known scalar needs its instance to be read (sysUpTime.0); a table column must not
        have one (a walk of ifDescr.3 finds nothing under it)."""
        name, dot, _ = text.rpartition("::")[2].partition(".")
        known = mib.kind_of(name)
        if known is None or text[:1].isdigit() or text.startswith("."):
            return
        if kind == mib.SCALAR and known == mib.SCALAR and not dot:
            raise self.fail(where, f"{text!r} is the object, a GET needs the instance: "
                                   f"'{text}.0'")
        if kind == mib.SCALAR and known == mib.COLUMN and not dot:
            raise self.fail(where, f"{text!r} is a table column: walk it in [[profiles.NAME.tables]] "
                                   f"columns, or GET one row like '{text}.1'")
        if kind == mib.COLUMN and known == mib.SCALAR:
            raise self.fail(where, f"{text!r} is a scalar, not a table column "
                                   "(list it in the profile's scalars)")
        if kind == mib.COLUMN and dot:
            raise self.fail(where, f"{text!r} names one instance; a table column is walked "
                                   f"whole: {text.partition('.')[0]!r}")

    def resolve(self, text: str, where: str) -> tuple[str, Any]:
        try:
            return mib.resolve(text)
        except ValueError as exc:
            raise self.fail(where, str(exc)) from None

    def unique(self, names: Iterable[str], where: str, what: str) -> None:
        seen: set[str] = set()
        for name in names:
            if name in seen:
                raise self.fail(where, f"duplicate {what} {name!r}")
            seen.add(name)

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
        return dict(
            port=self.integer(values["port"], where("port"), 1, 65535),
            credential=credential,
            profiles=tuple(chosen),
            scalar_groups=tuple((p.name, p.scalars) for p in plan if p.scalars),
            tables=tuple(tables),
            interval_s=interval,
            timeout_s=timeout,
            retries=retries,
            max_repetitions=self.integer(values["max_repetitions"], where("max_repetitions"), 1, 1000),
            max_oids_per_request=self.integer(
                values["max_oids_per_request"], where("max_oids_per_request"), 1, 1000),
            tags=self.tags(values["tags"], where("tags"), columns),
        )

    def credential_ref(self, raw: Any, where: str, known: Mapping[str, Credential]) -> Credential:
        name = self.string(raw, where, secret=True)
        if name not in known and name in self.communities:
            # a community written where the credential's name belongs: never echo it
            raise self.fail(where, "is a community string, not the name of a [credentials.NAME] "
                                   f"entry (known: {', '.join(sorted(known)) or 'none'})")
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

    def reference(self, raw: Any, where: str, known: Mapping[str, Any], what: str) -> Any:
        name = self.string(raw, where)
        if name not in known:
            raise self.fail(where, f"unknown {what} {name!r} (known: {', '.join(sorted(known)) or 'none'})")
        return known[name]

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
