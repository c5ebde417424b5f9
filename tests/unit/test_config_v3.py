"""SNMPv3 credentials in the fleet file: every spelling net-snmp and gosnmp users write is read
into one canonical name; every mistake is one line naming file, credential and key, never a key."""

from __future__ import annotations

from pathlib import Path

import pytest

from poller.config.load import load_config
from poller.config.model import Secret, Usm
from poller.errors import ConfigError

AUTH_KEY, PRIV_KEY = "s3cr3t-auth-key", "s3cr3t-priv-key"
DEVICE = '[[devices]]\nname = "sw1"\nhost = "127.0.0.1"\ncredential = "v3"\n'
F = "fleet.toml"


def v3(**keys: object) -> str:
    lines = ["[credentials.v3]", 'version = "3"']
    for key, value in keys.items():
        lines.append(f'{key} = "{value}"' if isinstance(value, str) else f"{key} = {value}")
    return "\n".join(lines) + "\n" + DEVICE


AUTH_PRIV = {"user": "poller", "security_level": "authPriv", "auth_protocol": "SHA-256",
                 "auth_key": AUTH_KEY, "priv_protocol": "AES-256", "priv_key": PRIV_KEY}


def load(tmp_path: Path, text: str) -> Usm:
    path = tmp_path / F
    path.write_text(text)
    config = load_config(path)
    usm = config.devices[0].credential.usm
    assert usm is not None and config.devices[0].credential.version == "3"
    return usm


def test_an_auth_priv_user_loads(tmp_path: Path) -> None:
    usm = load(tmp_path, v3(**AUTH_PRIV, context="vlan-10"))
    assert usm == Usm(user="poller", level="authPriv", auth_protocol="SHA-256",
                      auth_key=Secret(AUTH_KEY), priv_protocol="AES-256",
                      priv_key=Secret(PRIV_KEY), context="vlan-10")
    assert AUTH_KEY not in repr(usm) and PRIV_KEY not in repr(usm)


@pytest.mark.parametrize("version", ['"3"', '"v3"', "3"])
def test_version_spellings(tmp_path: Path, version: str) -> None:
    text = v3(user="u", security_level="noAuthNoPriv").replace('version = "3"', f"version = {version}")
    assert load(tmp_path, text).level == "noAuthNoPriv"


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("md5", "MD5"), ("SHA", "SHA"), ("sha1", "SHA"), ("SHA-224", "SHA-224"),
     ("SHA224", "SHA-224"), ("sha-256", "SHA-256"), ("SHA256", "SHA-256"), ("SHA-384", "SHA-384"),
     ("SHA384", "SHA-384"), ("SHA-512", "SHA-512"), ("SHA512", "SHA-512")],
)
def test_auth_protocol_spellings(tmp_path: Path, written: str, canonical: str) -> None:
    assert load(tmp_path, v3(**{**AUTH_PRIV, "auth_protocol": written})).auth_protocol == canonical


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("DES", "DES"), ("aes", "AES"), ("AES-128", "AES"), ("AES128", "AES"),
     ("AES-192", "AES-192"), ("AES192", "AES-192"), ("AES-256", "AES-256"), ("aes256", "AES-256"),
     ("AES-192-C", "AES-192-C"), ("AES192C", "AES-192-C"), ("AES-256-C", "AES-256-C"),
     ("AES256C", "AES-256-C")],
)
def test_priv_protocol_spellings(tmp_path: Path, written: str, canonical: str) -> None:
    assert load(tmp_path, v3(**{**AUTH_PRIV, "priv_protocol": written})).priv_protocol == canonical


@pytest.mark.parametrize(("written", "level"), [("noauthnopriv", "noAuthNoPriv"),
                                                ("AUTHNOPRIV", "authNoPriv"), ("authPriv", "authPriv")])
def test_level_spellings(tmp_path: Path, written: str, level: str) -> None:
    keys = {"noAuthNoPriv": {"user": "u"},
            "authNoPriv": {"user": "u", "auth_protocol": "MD5", "auth_key": AUTH_KEY},
            "authPriv": {k: v for k, v in AUTH_PRIV.items() if k != "security_level"}}[level]
    assert load(tmp_path, v3(security_level=written, **keys)).level == level


def test_keys_from_the_environment_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("V3_AUTH", AUTH_KEY)
    (tmp_path / "priv").write_text(PRIV_KEY + "\n")
    keys = {k: v for k, v in AUTH_PRIV.items() if not k.endswith("_key")}
    usm = load(tmp_path, v3(**keys, auth_key_env="V3_AUTH", priv_key_file=str(tmp_path / "priv")))
    assert usm.auth_key == Secret(AUTH_KEY) and usm.priv_key == Secret(PRIV_KEY)


W = f"{F}: credentials.v3"
NO_AUTH = {k: v for k, v in AUTH_PRIV.items() if not k.startswith("auth")}
AUTH_ONLY = {k: v for k, v in AUTH_PRIV.items() if not k.startswith("priv")}
AUTH_ALLOWED = "MD5, SHA, SHA1, SHA-1, SHA-224, SHA224, SHA-256, SHA256, SHA-384, SHA384, SHA-512, SHA512"
PRIV_ALLOWED = ("DES, AES, AES-128, AES128, AES-192, AES192, AES-256, AES256, AES-192-C, AES192C, "
                "AES-256-C, AES256C")


HIDDEN = "(the value is not shown: it may be a key typed in the wrong field)"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({**AUTH_PRIV, "user": None}, f"{W}.user: missing (the SNMPv3 user name)"),
        # the value is never shown: it may be a key typed into the wrong field
        ({**AUTH_PRIV, "user": "x" * 33}, f"{W}.user: is 33 characters, longer than 32 {HIDDEN}"),
        ({**AUTH_PRIV, "user": "s3cr3t-" * 6},
         f"{W}.user: is 42 characters, longer than 32 {HIDDEN}"),
        ({**AUTH_PRIV, "context": "k" * 40},
         f"{W}.context: is 40 characters, longer than 32 {HIDDEN}"),
        ({**AUTH_PRIV, "security_level": None},
         f"{W}.security_level: missing (one of: noAuthNoPriv, authNoPriv, authPriv)"),
        ({**AUTH_PRIV, "security_level": "secret"},
         f"{W}.security_level: 'secret' is not a security level (allowed: noAuthNoPriv, authNoPriv, authPriv)"),
        ({**AUTH_PRIV, "auth_protocol": "SHA-3"},
         f"{W}.auth_protocol: 'SHA-3' is not a supported protocol (allowed: {AUTH_ALLOWED})"),
        ({**AUTH_PRIV, "priv_protocol": "3DES"},
         f"{W}.priv_protocol: '3DES' is not a supported protocol (allowed: {PRIV_ALLOWED})"),
        ({**AUTH_PRIV, "auth_protocol": None}, f"{W}.auth_protocol: missing (one of: {AUTH_ALLOWED})"),
        ({**AUTH_PRIV, "priv_key": None},
         f"{W}.priv_key: missing (set one of: priv_key, priv_key_env, priv_key_file, priv_key_credential)"),
        ({**AUTH_PRIV, "auth_key": "s3cr3t"},
         f"{W}.auth_key: is shorter than 8 characters (net-snmp's minimum)"),
        ({**AUTH_PRIV, "priv_key": "s3cr3t"},
         f"{W}.priv_key: is shorter than 8 characters (net-snmp's minimum)"),
        ({**AUTH_ONLY, "security_level": "authNoPriv", "priv_protocol": "DES"},
         f"{W}.priv_protocol: is set, but security_level authNoPriv uses no privacy"),
        ({**AUTH_PRIV, "security_level": "authNoPriv"},
         f"{W}.priv_protocol: is set, but security_level authNoPriv uses no privacy"),
        ({**NO_AUTH, "security_level": "noAuthNoPriv"},
         f"{W}.priv_protocol: is set, but security_level noAuthNoPriv uses no privacy"),
        ({"user": "u", "security_level": "noAuthNoPriv", "auth_key": AUTH_KEY},
         f"{W}.auth_key: is set, but security_level noAuthNoPriv uses no authentication"),
        ({**AUTH_PRIV, "auth_key_env": "X"},
         (f"{W}.auth_key: set more than once (auth_key, auth_key_env) (set one of: auth_key, "
         "auth_key_env, auth_key_file, auth_key_credential)")),
        ({**AUTH_PRIV, "auth_key": None, "auth_key_env": "POLLER_TEST_UNSET_VARIABLE"},
         f"{W}.auth_key_env: environment variable 'POLLER_TEST_UNSET_VARIABLE' is not set or empty"),
        ({**AUTH_PRIV, "community": "s3cr3t-community"},
         (f"{W}: unknown key 'community' (allowed: version, user, security_level, auth_protocol, "
         "auth_key, auth_key_env, auth_key_file, auth_key_credential, priv_protocol, priv_key, "
         "priv_key_env, priv_key_file, priv_key_credential, context)")),
        ({**AUTH_PRIV, "auth_key": 12345678}, f"{W}.auth_key: expected a non-empty string"),
    ],
)
def test_mistakes_are_one_line_without_keys(tmp_path: Path, keys: dict[str, object], message: str) -> None:
    path = tmp_path / F
    path.write_text(v3(**{k: v for k, v in keys.items() if v is not None}))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    line = str(caught.value).replace(str(path), F)
    assert line == message
    assert "s3cr3t" not in line


def test_a_v3_key_written_as_a_credential_name_is_not_echoed(tmp_path: Path) -> None:
    path = tmp_path / F
    path.write_text(v3(**AUTH_PRIV).replace('credential = "v3"', f'credential = "{PRIV_KEY}"'))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "s3cr3t" not in str(caught.value)
    assert "not the name of a [credentials.NAME] entry (known: v3)" in str(caught.value)
