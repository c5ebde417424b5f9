"""SNMPv3 credentials (`version = "3"`) in the fleet file: user, security level, protocols and
keys, checked as strictly as the rest of the file. Names are accepted in net-snmp's spellings
(`-l authPriv -a SHA-256 -x AES-256`) and gosnmp's (`SHA256`, `AES256`, `AES256C`), without
regard to case, and stored in net-snmp's. Keys are secrets: no message shows them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from poller.config import secrets
from poller.config.model import Credential, Secret, Usm
from poller.errors import ConfigError

V3_VERSIONS: tuple[object, ...] = ("3", "v3", 3)

LEVELS = {"noauthnopriv": "noAuthNoPriv", "authnopriv": "authNoPriv", "authpriv": "authPriv",
          # net-snmp's short forms of -l
          "1": "noAuthNoPriv", "2": "authNoPriv", "3": "authPriv"}
LEVELS_ALLOWED = "noAuthNoPriv, authNoPriv, authPriv"

#: canonical (net-snmp) name -> the other accepted spellings (gosnmp, Telegraf)
AUTH_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "MD5": (),
    "SHA": ("SHA1", "SHA-1"),
    "SHA-224": ("SHA224",),
    "SHA-256": ("SHA256",),
    "SHA-384": ("SHA384",),
    "SHA-512": ("SHA512",),
}
PRIV_PROTOCOLS: dict[str, tuple[str, ...]] = {
    "DES": (),
    "AES": ("AES-128", "AES128"),
    # Blumenthal key extension: net-snmp's AES-192/AES-256, gosnmp's AES192/AES256
    "AES-192": ("AES192",),
    "AES-256": ("AES256",),
    # Reeder ("Cisco") key extension: net-snmp's AES-192-C/AES-256-C, gosnmp's AES192C/AES256C
    "AES-192-C": ("AES192C",),
    "AES-256-C": ("AES256C",),
}
#: net-snmp refuses shorter passphrases (USM_LENGTH_P_MIN)
MIN_KEY_LENGTH = 8
MAX_NAME_LENGTH = 32  # SnmpAdminString (SIZE(1..32)) for user and context names

AUTH_KEYS = secrets.source_keys("auth_key")
PRIV_KEYS = secrets.source_keys("priv_key")
KEYS = ("version", "user", "security_level", "auth_protocol", *AUTH_KEYS, "priv_protocol",
        *PRIV_KEYS, "context")


class Loader(Protocol):
    """The parts of config_load's loader this module uses."""

    def fail(self, where: str, problem: str) -> ConfigError: ...

    def table(self, value: Any, where: str, allowed: Any) -> dict[str, Any]: ...

    def string(self, value: Any, where: str, *, secret: bool = False) -> str: ...

    def secret(self, entry: dict[str, Any], where: str, sources: tuple[str, ...]) -> str: ...


def is_v3(version: object) -> bool:
    return not isinstance(version, bool) and version in V3_VERSIONS


def v3_credential(loader: Loader, name: str, raw: Any, where: str) -> Credential:
    entry = loader.table(raw, where, KEYS)
    user = _name(loader, entry.get("user"), f"{where}.user", required=True)
    level = _level(loader, entry.get("security_level"), f"{where}.security_level")
    needs_auth, needs_priv = level != "noAuthNoPriv", level == "authPriv"
    _check_present(loader, entry, where, level, ("auth_protocol", *AUTH_KEYS), needs_auth)
    _check_present(loader, entry, where, level, ("priv_protocol", *PRIV_KEYS), needs_priv)
    usm = Usm(
        user=user,
        level=level,
        auth_protocol=_protocol(loader, entry, where, "auth_protocol", AUTH_PROTOCOLS)
        if needs_auth else None,
        auth_key=_key(loader, entry, where, AUTH_KEYS) if needs_auth else None,
        priv_protocol=_protocol(loader, entry, where, "priv_protocol", PRIV_PROTOCOLS)
        if needs_priv else None,
        priv_key=_key(loader, entry, where, PRIV_KEYS) if needs_priv else None,
        context=_name(loader, entry.get("context", ""), f"{where}.context", required=False),
    )
    return Credential(name=name, version="3", usm=usm)


def secret_values(credentials: Iterable[Credential]) -> set[str]:
    """Every community and v3 key, so that one written where a credential's name belongs is
    recognized as a secret and never echoed."""
    found = set()
    for credential in credentials:
        usm = credential.usm
        keys = (usm.auth_key, usm.priv_key) if usm else (credential.community,)
        found |= {key.reveal() for key in keys if key is not None and key.reveal()}
    return found


def parse_level(text: str) -> str | None:
    """The canonical security level for a spelling, or None."""
    return LEVELS.get(text.lower())


def parse_protocol(text: str, table: dict[str, tuple[str, ...]]) -> str | None:
    """The canonical protocol name for a spelling (case-insensitive), or None."""
    wanted = text.upper()
    for canonical, others in table.items():
        if wanted == canonical or wanted in others:
            return canonical
    return None


def allowed(table: dict[str, tuple[str, ...]]) -> str:
    return ", ".join(name for canonical, others in table.items() for name in (canonical, *others))


def check_key(key: str) -> str | None:
    """Why a v3 key cannot be used, or None; never mentions the key itself."""
    if len(key) < MIN_KEY_LENGTH:
        return f"is shorter than {MIN_KEY_LENGTH} characters (net-snmp's minimum)"
    return None


def _name(loader: Loader, raw: Any, where: str, *, required: bool) -> str:
    if raw is None:
        raise loader.fail(where, "missing (the SNMPv3 user name)")
    if raw == "" and not required:
        return ""
    text = loader.string(raw, where)
    if (required and not text) or len(text) > MAX_NAME_LENGTH:
        raise loader.fail(where, f"{text!r} must be 1 to {MAX_NAME_LENGTH} characters"
                          if required else f"{text!r} is longer than {MAX_NAME_LENGTH} characters")
    return text


def _level(loader: Loader, raw: Any, where: str) -> str:
    if raw is None:
        raise loader.fail(where, f"missing (one of: {LEVELS_ALLOWED})")
    text = loader.string(raw, where)
    level = parse_level(text)
    if level is None:
        raise loader.fail(where, f"{text!r} is not a security level (allowed: {LEVELS_ALLOWED})")
    return level


def _check_present(loader: Loader, entry: dict[str, Any], where: str, level: str,
                   keys: tuple[str, ...], needed: bool) -> None:
    if needed:
        return
    extra = [key for key in keys if key in entry]
    if extra:
        raise loader.fail(f"{where}.{extra[0]}", f"is set, but security_level {level} uses no "
                          f"{'authentication' if keys[0].startswith('auth') else 'privacy'}")


def _protocol(loader: Loader, entry: dict[str, Any], where: str, key: str,
              table: dict[str, tuple[str, ...]]) -> str:
    if key not in entry:
        raise loader.fail(f"{where}.{key}", f"missing (one of: {allowed(table)})")
    text = loader.string(entry[key], f"{where}.{key}")
    canonical = parse_protocol(text, table)
    if canonical is None:
        raise loader.fail(f"{where}.{key}", f"{text!r} is not a supported protocol "
                                            f"(allowed: {allowed(table)})")
    return canonical


def _key(loader: Loader, entry: dict[str, Any], where: str, sources: tuple[str, ...]) -> Secret:
    value = loader.secret(entry, where, sources)
    problem = check_key(value)
    if problem:
        given = next(key for key in sources if key in entry)
        raise loader.fail(f"{where}.{given}", problem)
    return Secret(value)
