"""SNMPv3 pieces without an agent: net-snmp's command-line options -> the credential, every
protocol name maps to a pysnmp protocol, v3 is routed by engine, users are placed on engines."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from poller import cli
from poller.commands import get_walk as oneshot
from poller.config import credentials as config_credentials
from poller.config.model import Credential, Secret, Usm
from poller.errors import ConfigError
from poller.snmp import usm
from poller.snmp.engines import VersionRouter, make_requester
from poller.snmp.types import Target

KEYS = ("-A", "s3cr3t-auth", "-X", "s3cr3t-priv")


def parse(*argv: str) -> argparse.Namespace:
    args, extra = cli.build_parser().parse_known_args(list(argv))
    assert not extra
    return args


def test_a_pasted_snmpwalk_line_makes_the_v3_credential() -> None:
    args = parse("walk", "-v", "3", "-u", "ops", "-l", "authPriv", "-a", "SHA-256", "-x", "AES-256",
                 *KEYS, "-n", "vlan-10", "127.0.0.1:1161", "ifDescr")
    credential = oneshot.target_from(args).credential
    assert credential.version == "3" and credential.usm == Usm(
        user="ops", level="authPriv", auth_protocol="SHA-256", auth_key=Secret("s3cr3t-auth"),
        priv_protocol="AES-256", priv_key=Secret("s3cr3t-priv"), context="vlan-10")


def test_long_options_and_gosnmp_spellings() -> None:
    args = parse("get", "-v3", "--user", "ops", "--security-level", "authnopriv",
                 "--auth-protocol", "sha512", "--auth-key", "s3cr3t-auth", "--context", "c",
                 "127.0.0.1", "sysName.0")
    assert oneshot.target_from(args).credential.usm == Usm(
        user="ops", level="authNoPriv", auth_protocol="SHA-512", auth_key=Secret("s3cr3t-auth"),
        context="c")


def test_without_l_the_level_follows_the_keys() -> None:
    args = parse("get", "-v", "3", "-u", "ops", "-a", "MD5", "-x", "DES", *KEYS, "h", "sysName.0")
    assert oneshot.target_from(args).credential.usm.level == "authPriv"  # type: ignore[union-attr]
    args = parse("get", "-v", "3", "-u", "ops", "h", "sysName.0")
    assert oneshot.target_from(args).credential.usm.level == "noAuthNoPriv"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("-v", "3"), "-v 3 needs -u/--user"),
        (("-v", "3", "-u", "ops", "-l", "authPriv", *KEYS, "-x", "AES"),
         "-a/--auth-protocol is needed for authPriv"),
        (("-v", "3", "-u", "ops", "-l", "authPriv", *KEYS, "-a", "SHA"),
         "-x/--priv-protocol is needed for authPriv"),
        (("-v", "3", "-u", "ops", "-l", "authNoPriv", "-a", "SHA"), "-A/--auth-key is needed for authNoPriv"),
        (("-v", "3", "-u", "ops", "-l", "secret", *KEYS),
         "-l/--security-level: 'secret' is not a security level (allowed: noAuthNoPriv, authNoPriv, authPriv)"),
        (("-v", "3", "-u", "ops", "-a", "SHA3", *KEYS, "-x", "AES"),
         (f"-a/--auth-protocol: 'SHA3' is not a supported protocol (allowed: "
         f"{config_credentials.allowed(config_credentials.AUTH_PROTOCOLS)})")),
        (("-v", "3", "-u", "ops", "-a", "SHA", "-A", "s3cr3t", "-l", "authNoPriv"),
         "-A/--auth-key is shorter than 8 characters (net-snmp's minimum)"),
    ],
)
def test_bad_v3_options_are_one_line_without_the_keys(argv: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        oneshot.target_from(parse("get", *argv, "127.0.0.1", "sysName.0"))
    assert str(caught.value) == message and "s3cr3t" not in str(caught.value)


def test_every_protocol_name_maps_to_a_pysnmp_protocol() -> None:
    assert set(usm.AUTH) == set(config_credentials.AUTH_PROTOCOLS)
    assert set(usm.PRIV) == set(config_credentials.PRIV_PROTOCOLS)
    # net-snmp's AES-192/256 are Blumenthal's key extension, the -C ones Reeder's
    assert usm.PRIV["AES-256"] == usm.usmAesBlumenthalCfb256Protocol
    assert usm.PRIV["AES-256-C"] == usm.usmAesCfb256Protocol
    assert len(set(usm.AUTH.values())) == 6 and len(set(usm.PRIV.values())) == 6


def v3_user(name: str, key: str) -> Usm:
    return Usm(user=name, level="authNoPriv", auth_protocol="SHA", auth_key=Secret(key))


def test_users_share_an_engine_unless_one_name_has_other_keys() -> None:
    placement = usm.UserPlacement()
    assert placement.engine_index(v3_user("ops", "key-one-1")) == 0
    assert placement.engine_index(v3_user("noc", "key-two-2")) == 0
    assert placement.engine_index(v3_user("ops", "key-one-1")) == 0
    assert placement.engine_index(v3_user("ops", "key-three")) == 1
    assert placement.engine_index(v3_user("noc", "key-four4")) == 1
    assert placement.engine_index(v3_user("ops", "key-five5")) == 2
    assert placement.engine_index(v3_user("ops", "key-three")) == 1


def target(credential: Credential) -> Target:
    return Target(name="t", host="127.0.0.1", credential=credential)


def test_builtin_v2c_routes_v3_to_pysnmp_made_on_first_use() -> None:
    router = make_requester("builtin-v2c")
    assert isinstance(router, VersionRouter)
    v2c = target(Credential(name="c", version="2c", community=Secret("x")))
    assert router._for(v2c) is router.plain and router.v3 is None
    v3 = target(Credential(name="u", version="3", usm=v3_user("ops", "key-one-1")))
    chosen = router._for(v3)
    assert chosen is router.v3 and type(chosen).__name__ == "PysnmpRequester"


def test_the_builtin_engine_takes_v3_itself_and_pysnmp_takes_everything() -> None:
    assert type(make_requester("builtin")).__name__ == "UdpRequester"
    assert type(make_requester("pysnmp")).__name__ == "PysnmpRequester"


def test_a_v1_v2c_fleet_never_imports_pysnmp() -> None:
    code = ("import sys, poller.run.daemon, poller.commands.get_walk, poller.config.load, poller.cli\n"
            "from poller.snmp.engines import make_requester\n"
            "make_requester('builtin')\n"
            "print(sorted(m for m in sys.modules if m.startswith('pysnmp')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
