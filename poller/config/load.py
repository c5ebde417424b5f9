"""TOML fleet file -> Config. Strict: unknown keys, wrong types, duplicates, dangling references
and impossible timings stop the load with one line:

    fleet.toml: devices[3] (core-sw1).credential: unknown credential 'corev3' (known: core_v3, public)

Each section has its parser (settings, credentials, mibs, profiles, devices), handed the one
Reader of the file, whose typed getters raise that line. Defaults live in DEVICE_DEFAULTS and
the settings dataclasses, nowhere else. Secrets never appear in a message. Nothing outside the
returned Config changes: a load that fails leaves every other Config as it was.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import tomli

from poller.config import credentials as config_credentials
from poller.config import secrets
from poller.config.cluster import merge, pushed_fleet
from poller.config.credentials import CredentialSection
from poller.config.devices import DEVICE_DEFAULTS, DeviceSection
from poller.config.files import MAX_CONFIG_BYTES, MAX_CONFIG_TEXT, read_regular
from poller.config.history import read_history
from poller.config.mibs import read_mibs
from poller.config.model import Config, HistorySettings, Profile, WebSettings
from poller.config.profiles import BUILTIN_PROFILES, ProfileSection
from poller.config.reader import Reader
from poller.config.settings import default_state_directory, read_daemon, read_output
from poller.config.web import read_web
from poller.errors import ConfigError
from poller.mib.names import MibNames
from poller.schema import RESERVED_FIELDS

__all__ = ["BUILTIN_PROFILES", "DEVICE_DEFAULTS", "RESERVED_FIELDS", "load", "load_config"]

TOP_KEYS = ("daemon", "output", "mibs", "defaults", "credentials", "profiles", "devices",
            "history", "web", "cluster")


def load_config(path: str | Path, *, read_secrets: bool = True) -> Config:
    """Read and validate a fleet file; raises ConfigError with one line on any problem.
    `read_secrets=False` (poller web, which never polls): secrets kept in environment
    variables, files or systemd credentials are not read, and their credentials hold none."""
    return load(Path(path), read_secrets=read_secrets)


def load(path: Path, *, read_secrets: bool = True) -> Config:
    return build(path, parse(path, read_text(path)), read_secrets=read_secrets)


def load_with_fleet(path: Path, version: int, text: str) -> Config:
    """The host's file with this pushed fleet in place of the cached one: whether the host can
    load a fleet before it is cached (a cache it cannot load would stop its next start)."""
    try:
        return build(path, parse(path, read_text(path)), pushed=(version, text))
    except ConfigError as exc:
        raise ConfigError(f"pushed fleet version {version}: {exc}") from None


def read_text(path: Path) -> str:
    """The file's text: a regular file of at most MAX_CONFIG_BYTES, in UTF-8."""
    try:
        data = read_regular(path, MAX_CONFIG_BYTES, MAX_CONFIG_TEXT)
    except ValueError as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def parse(path: Path, text: str) -> dict[str, Any]:
    try:
        doc: dict[str, Any] = tomli.loads(text)
    except tomli.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: TOML syntax: {exc}") from None
    except RecursionError:
        # the parser recurses once per level of inline arrays and tables
        raise ConfigError(f"{path}: TOML syntax: arrays or inline tables nested too deeply "
                          "(hundreds of levels)") from None
    return doc


def build(path: Path, doc: dict[str, Any], pushed: tuple[int, str] | None = None, *,
          read_secrets: bool = True) -> Config:
    """The Config of a parsed fleet file, section by section, each parser handed the reader;
    with [cluster], the fleet sections of `pushed` (version, text) or else of the cache."""
    reader = Reader(path)
    reader.table(doc, "", TOP_KEYS)
    daemon = read_daemon(reader, doc.get("daemon", {}))
    output = read_output(reader, doc.get("output", {}))
    if daemon.state_directory is None:
        daemon = replace(daemon, state_directory=default_state_directory(path))
    state_directory = daemon.state_directory or default_state_directory(path)
    cluster, cached = pushed_fleet(reader, doc, state_directory, cached=pushed is None)
    pushed = pushed or cached
    if cluster is not None and pushed is not None:  # the fleet sections come from the push
        doc = merge(doc, parse(path, pushed[1]))
        cluster = replace(cluster, fleet_version=pushed[0])
    section = CredentialSection(reader, read_secrets=read_secrets)
    credentials = section.read(doc.get("credentials", {}))
    mibs = read_mibs(reader, doc.get("mibs", {}))  # before the profiles, which may use its names
    profiles = ProfileSection(reader, mibs).profiles(doc.get("profiles", {}))
    fleet = DeviceSection(reader, credentials, profiles,
                          frozenset(config_credentials.secret_values(credentials.values())))
    # a member's own file may list no devices: its fleet comes from a push (poller.cluster)
    devices = fleet.devices(doc.get("devices", []), fleet.defaults(doc.get("defaults", {})),
                            allow_empty=cluster is not None and pushed is None)
    history, web = _history_and_web(reader, doc, profiles, mibs, state_directory / "history",
                                    shared=cluster is not None)
    return Config(path=path, daemon=daemon, output=output, credentials=credentials,
                  profiles=profiles, devices=devices, warnings=_warnings(path, section),
                  mibs=mibs, history=history, web=web, cluster=cluster,
                  inline_secrets=section.inline_secrets)


def _history_and_web(reader: Reader, doc: dict[str, Any], profiles: dict[str, Profile],
                     mibs: MibNames, directory: Path, *,
                     shared: bool) -> tuple[HistorySettings | None, WebSettings | None]:
    """[history] and [web]: the web reads the history's index where the history keeps it."""
    history = None
    if "history" in doc:
        history = read_history(reader, doc["history"], profiles, mibs=mibs,
                               directory=directory, shared=shared)
        directory = history.index_directory
    web = (read_web(reader, doc["web"], directory, history.rrdcached if history else None)
           if "web" in doc else None)
    return history, web


def _warnings(path: Path, section: CredentialSection) -> tuple[str, ...]:
    if section.inline_secrets and secrets.readable_by_others(path):
        return ((f"{path} holds communities or SNMPv3 keys and is readable by every user: "
                 "chmod o-r it, or use *_file, *_env or *_credential (e.g. community_file, "
                 "auth_key_env)"),)
    return ()
