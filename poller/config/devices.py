"""The fleet file's `[defaults]` and `[[devices]]`: each device's address, credential, profiles,
timings, walk caps and tags, with defaults from DEVICE_DEFAULTS and `[defaults]`."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from poller.config.model import Credential, Device, Profile
from poller.config.reader import Reader, show
from poller.config.walk import WALK_DEFAULTS, walk_limits
from poller.schema import RESERVED_FIELDS

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

_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)"
                       r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$")
_TAG_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")

Where = Callable[[str], str]


@dataclass(frozen=True, slots=True)
class DeviceSection:
    """Reads `[defaults]` and `[[devices]]` with the loader's Reader, against the credentials
    and profiles read before them."""

    reader: Reader
    credentials: Mapping[str, Credential]
    profiles: Mapping[str, Profile]
    #: every community and v3 key: one written where a credential's name belongs is not echoed
    secrets: frozenset[str]

    def defaults(self, raw: Any) -> dict[str, Any]:
        """DEVICE_DEFAULTS with `[defaults]` over them, checked where they are written even when
        every device overrides them; the built-in default credential `public` only has to exist
        when a device falls back on it."""
        written = self.reader.table(raw, "defaults", DEVICE_DEFAULTS)
        self.settings({**DEVICE_DEFAULTS, **written}, lambda key: f"defaults.{key}",
                      check_credential="credential" in written)
        return {**DEVICE_DEFAULTS, **written}

    def devices(self, raw: Any, defaults: Mapping[str, Any], *,
                allow_empty: bool = False) -> tuple[Device, ...]:
        if not isinstance(raw, list):
            raise self.reader.fail("devices", "expected an array of tables ([[devices]])")
        if not raw and not allow_empty:
            raise self.reader.fail("devices", "no devices: a fleet needs at least one [[devices]] "
                                              "entry (an empty or cut-off file would stop all "
                                              "polling)")
        built: dict[str, Device] = {}
        for i, entry in enumerate(raw):
            device = self.device(i, entry, defaults)
            if device.name in built:
                raise self.reader.fail(f"devices[{i}] ({device.name}).name",
                                       f"duplicate device name {device.name!r}")
            built[device.name] = device
        return tuple(built.values())

    def device(self, i: int, raw: Any, defaults: Mapping[str, Any]) -> Device:
        reader = self.reader
        if not isinstance(raw, dict):
            raise reader.fail(f"devices[{i}]", f"expected a table, got {show(raw)}")
        name = reader.name(raw.get("name"), f"devices[{i}].name")
        at = f"devices[{i}] ({name})"
        reader.table(raw, at, DEVICE_KEYS)
        values = {**defaults, **raw}
        # default tags are the base, the device's own add to (or override) them
        values["tags"] = {**defaults["tags"], **raw.get("tags", {})} \
            if isinstance(raw.get("tags", {}), dict) else raw["tags"]

        def where(key: str) -> str:
            return f"{at}.{key}" if key in raw else f"{at}.{key} (from defaults)"

        return Device(name=name, host=self.host(raw.get("host"), f"{at}.host"),
                      **self.settings(values, where))

    def settings(self, values: Mapping[str, Any], where: Where, *,
                 check_credential: bool = True) -> dict[str, Any]:
        """The per-device settings (a device's, or [defaults] on their own), validated."""
        reader = self.reader
        credential = self.credential_ref(values["credential"], where("credential")) \
            if check_credential else None
        plan = self.plan(values["profiles"], where("profiles"))
        tables = [t for p in plan for t in p.tables]
        interval, timeout, retries = self.timing(values, where)
        columns = {c.name for p in plan for c in p.scalars} | \
            {c.name for t in tables for c in t.columns}
        return {
            "port": reader.integer(values["port"], where("port"), 1, 65535),
            "credential": credential,
            "profiles": tuple(p.name for p in plan),
            "scalar_groups": tuple((p.name, p.scalars) for p in plan if p.scalars),
            "tables": tuple(tables),
            "interval_s": interval,
            "timeout_s": timeout,
            "retries": retries,
            "max_repetitions": reader.integer(values["max_repetitions"],
                                              where("max_repetitions"), 1, 1000),
            "max_oids_per_request": reader.integer(values["max_oids_per_request"],
                                                   where("max_oids_per_request"), 1, 1000),
            "tags": self.tags(values["tags"], where("tags"), columns),
            "walk": walk_limits(reader, values, where),
        }

    def plan(self, raw: Any, where: str) -> list[Profile]:
        """The profiles a device uses, in order; no table name twice among them."""
        reader = self.reader
        chosen = reader.strings(raw, where)
        if not chosen:
            raise reader.fail(where, f"is empty (known: {', '.join(sorted(self.profiles))})")
        plan = [reader.reference(p, where, self.profiles, "profile") for p in chosen]
        reader.unique((t.name for p in plan for t in p.tables), where,
                      "table name across profiles")
        return plan

    def timing(self, values: Mapping[str, Any], where: Where) -> tuple[float, float, int]:
        """interval, timeout and retries, such that every try of a poll fits its interval."""
        reader = self.reader
        interval = reader.duration(values["interval"], where("interval"), 1, 86_400)
        timeout = reader.duration(values["timeout"], where("timeout"), 0.01, 600)
        retries = reader.integer(values["retries"], where("retries"), 0, 10)
        if timeout * (retries + 1) >= interval:
            raise reader.fail(where("timeout"), f"{timeout:g} s x (retries {retries} + 1) = "
                              f"{timeout * (retries + 1):g} s is not below the interval "
                              f"{interval:g} s (allowed: timeout x (retries + 1) < interval)")
        return interval, timeout, retries

    def credential_ref(self, raw: Any, where: str) -> Credential:
        reader = self.reader
        name = reader.string(raw, where, secret=True)
        if name not in self.credentials and name in self.secrets:
            # a community or v3 key written where the credential's name belongs: never echo it
            raise reader.fail(where, "is a secret (a community or key), not the name of a "
                              "[credentials.NAME] entry (known: "
                              f"{', '.join(sorted(self.credentials)) or 'none'})")
        credential: Credential = reader.reference(name, where, self.credentials, "credential")
        return credential

    def host(self, raw: Any, where: str) -> str:
        host = self.reader.string(raw, where)
        try:
            ipaddress.ip_address(host)
            return host
        except ValueError:
            pass
        # 10.0.0.256 matches the host name syntax, but no DNS name is all digits
        if not _HOSTNAME.match(host) or host.rstrip(".").replace(".", "").isdigit():
            raise self.reader.fail(where, f"{show(host)} is not an IPv4 or IPv6 address or a "
                                          "host name")
        return host

    def tags(self, raw: Any, where: str, columns: set[str]) -> tuple[tuple[str, str], ...]:
        if not isinstance(raw, dict):
            raise self.reader.fail(where, f"expected a table of strings, got {show(raw)}")
        out = []
        for key, value in raw.items():
            if not _TAG_KEY.match(key):
                raise self.reader.fail(f"{where}.{key}", "a tag name is letters, digits, _ . - "
                                                         "and starts with a letter or _")
            if key in RESERVED_FIELDS or key in columns or key.endswith(("_rate", "_bps")):
                raise self.reader.fail(f"{where}.{key}", "a tag may not shadow a record field")
            if not isinstance(value, str):
                raise self.reader.fail(f"{where}.{key}", f"{show(value)} is not a string")
            out.append((key, value))
        return tuple(out)
