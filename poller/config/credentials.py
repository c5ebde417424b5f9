"""The fleet file's `[credentials.NAME]` entries: v1/v2c communities, and SNMPv3 users with
security level, protocols and keys, checked as strictly as the rest of the file. v3 names are
accepted in net-snmp's spellings (`-l authPriv -a SHA-256 -x AES-256`) and gosnmp's (`SHA256`,
`AES256`, `AES256C`), without regard to case, and stored in net-snmp's. Communities and keys
are secrets: no message shows them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from poller.config import secrets
from poller.config.model import Credential, Secret, Usm
from poller.config.reader import Reader, show

V3_VERSIONS: tuple[object, ...] = ("3", "v3", 3)
#: accepted spellings: net-snmp's ("1", "2c"), with a v ("v2c"), and Telegraf's integers (1, 2)
VERSIONS: dict[object, str] = {"1": "1", "v1": "1", 1: "1", "2c": "2c", "v2c": "2c", 2: "2c"}
VERSIONS_ALLOWED = '"1", "2c", "3", "v1", "v2c", "v3", 1, 2, 3'
COMMUNITY_KEYS = secrets.source_keys("community")

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


@dataclass(slots=True)
class CredentialSection:
    """Reads `[credentials]` with the loader's Reader; remembers whether any secret was written
    inline (the file then had better not be readable by everyone)."""

    reader: Reader
    inline_secrets: bool = False
    #: False: a secret kept elsewhere (env, file, credential) is not read ("" stands for it)
    read_secrets: bool = True

    def read(self, raw: Any) -> dict[str, Credential]:
        raw = self.reader.table(raw, "credentials", raw if isinstance(raw, dict) else ())
        out = {}
        for name, entry in raw.items():
            where = f"credentials.{name}"
            if isinstance(entry, dict) and is_v3(entry.get("version")):
                out[name] = self.v3_credential(name, entry, where)
            else:
                out[name] = self.community_credential(name, entry, where)
        return out

    def community_credential(self, name: str, raw: Any, where: str) -> Credential:
        entry = self.reader.table(raw, where, ("version", *COMMUNITY_KEYS))
        version = entry.get("version", "2c")
        # a TOML array or table is no version, and unhashable: look it up only when scalar
        if not isinstance(version, (str, int)) or isinstance(version, bool) \
                or version not in VERSIONS:
            raise self.reader.fail(f"{where}.version", f"{show(version)} is not a supported SNMP "
                                                       f"version (allowed: {VERSIONS_ALLOWED})")
        return Credential(name=name, version=VERSIONS[version],  # type: ignore[arg-type]
                          community=Secret(self.secret(entry, where, COMMUNITY_KEYS)))

    def secret(self, entry: dict[str, Any], where: str, sources: tuple[str, ...]) -> str:
        """The secret of one of `sources` (inline, *_env, *_file, *_credential): exactly one."""
        reader = self.reader
        given = [key for key in sources if key in entry]
        if len(given) != 1:
            problem = "missing" if not given else f"set more than once ({', '.join(given)})"
            raise reader.fail(f"{where}.{sources[0]}",
                              f"{problem} (set one of: {', '.join(sources)})")
        key = given[0]
        value = reader.string(entry[key], f"{where}.{key}", secret=key == sources[0])
        if key == sources[0]:
            self.inline_secrets = True
        elif not self.read_secrets:
            return ""
        try:
            return secrets.read(key, value)
        except ValueError as exc:
            raise reader.fail(f"{where}.{key}", str(exc)) from None

    def v3_credential(self, name: str, raw: Any, where: str) -> Credential:
        reader = self.reader
        entry = reader.table(raw, where, KEYS)
        user = _name(reader, entry.get("user"), f"{where}.user", required=True)
        level = _level(reader, entry.get("security_level"), f"{where}.security_level")
        needs_auth, needs_priv = level != "noAuthNoPriv", level == "authPriv"
        _check_present(reader, entry, where, level, ("auth_protocol", *AUTH_KEYS), needs_auth)
        _check_present(reader, entry, where, level, ("priv_protocol", *PRIV_KEYS), needs_priv)
        usm = Usm(
            user=user,
            level=level,
            auth_protocol=_protocol(reader, entry, where, "auth_protocol", AUTH_PROTOCOLS)
            if needs_auth else None,
            auth_key=self.key(entry, where, AUTH_KEYS) if needs_auth else None,
            priv_protocol=_protocol(reader, entry, where, "priv_protocol", PRIV_PROTOCOLS)
            if needs_priv else None,
            priv_key=self.key(entry, where, PRIV_KEYS) if needs_priv else None,
            context=_name(reader, entry.get("context", ""), f"{where}.context", required=False),
        )
        return Credential(name=name, version="3", usm=usm)

    def key(self, entry: dict[str, Any], where: str, sources: tuple[str, ...]) -> Secret:
        value = self.secret(entry, where, sources)
        problem = check_key(value) if value or self.read_secrets else None
        if problem:
            given = next(key for key in sources if key in entry)
            raise self.reader.fail(f"{where}.{given}", problem)
        return Secret(value)


def is_v3(version: object) -> bool:
    return isinstance(version, (str, int)) and not isinstance(version, bool) \
        and version in V3_VERSIONS


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


def _name(reader: Reader, raw: Any, where: str, *, required: bool) -> str:
    if raw is None:
        raise reader.fail(where, "missing (the SNMPv3 user name)")
    if raw == "" and not required:
        return ""
    # not echoed: a key typed into the wrong field is the usual way to get here
    text = reader.string(raw, where, secret=True)
    if len(text) > MAX_NAME_LENGTH:
        raise reader.fail(where, f"is {len(text)} characters, longer than {MAX_NAME_LENGTH} "
                                 "(the value is not shown: it may be a key typed in the wrong field)")
    return text


def _level(reader: Reader, raw: Any, where: str) -> str:
    if raw is None:
        raise reader.fail(where, f"missing (one of: {LEVELS_ALLOWED})")
    text = reader.string(raw, where)
    level = parse_level(text)
    if level is None:
        raise reader.fail(where, f"{text!r} is not a security level (allowed: {LEVELS_ALLOWED})")
    return level


def _check_present(reader: Reader, entry: dict[str, Any], where: str, level: str,
                   keys: tuple[str, ...], needed: bool) -> None:
    if needed:
        return
    extra = [key for key in keys if key in entry]
    if extra:
        raise reader.fail(f"{where}.{extra[0]}", f"is set, but security_level {level} uses no "
                          f"{'authentication' if keys[0].startswith('auth') else 'privacy'}")


def _protocol(reader: Reader, entry: dict[str, Any], where: str, key: str,
              table: dict[str, tuple[str, ...]]) -> str:
    if key not in entry:
        raise reader.fail(f"{where}.{key}", f"missing (one of: {allowed(table)})")
    text = reader.string(entry[key], f"{where}.{key}")
    canonical = parse_protocol(text, table)
    if canonical is None:
        raise reader.fail(f"{where}.{key}", f"{text!r} is not a supported protocol "
                                            f"(allowed: {allowed(table)})")
    return canonical
