"""SNMPv3 against net-snmp's snmpd, on the built-in USM and on pysnmp: every security level x auth
x priv combination polls (one shared client per engine for all), the same user name with other
keys on two agents does not cross, wrong keys or users come back as typed errors that never carry
a key, and the built-in USM resynchronizes its time and rediscovers an engine ID when told to."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from poller.config import credentials as config_credentials
from poller.config.model import IMPLEMENTATIONS, Credential, Secret, Usm
from poller.errors import (
    SnmpAuthFailed,
    SnmpError,
    SnmpTimeout,
    SnmpUnknownUser,
    SnmpUnsupportedSecurityLevel,
)
from poller.oid import Oid
from poller.snmp.client import SnmpClient
from poller.snmp.engines import make_requester
from poller.snmp.types import Kind, RequestStats, Target
from tests import agents
from tests.conftest import SNMPD_COMMUNITY, SNMPD_V3_USERS, Agent
from tests.ports import free_udp_port

SYS_NAME = Oid.parse("1.3.6.1.2.1.1.5.0")
SYS_UPTIME = Oid.parse("1.3.6.1.2.1.1.3.0")
IF_DESCR = Oid.parse("1.3.6.1.2.1.2.2.1.2")
IF_TYPE = Oid.parse("1.3.6.1.2.1.2.2.1.3")


def credential(of: agents.V3User, **changes: Any) -> Credential:
    """The poller credential of an snmpd user; net-snmp's names are poller's canonical ones."""
    fields: dict[str, Any] = {
        "user": of.name, "level": of.level, "auth_protocol": of.auth, "priv_protocol": of.priv,
        "auth_key": Secret(of.auth_key) if of.auth_key else None,
        "priv_key": Secret(of.priv_key) if of.priv_key else None,
    }
    fields.update(changes)
    return Credential(name=of.name, version="3", usm=Usm(**fields))


def target(agent: Agent, cred: Credential, name: str = "v3-device", **options: Any) -> Target:
    return Target(name=name, host=agent.host, port=agent.port, credential=cred, **options)


class Session:
    """One event loop and one client (so one pysnmp engine) for a whole module of tests."""

    def __init__(self, engine: str = "builtin") -> None:
        self.loop = asyncio.new_event_loop()
        self.client = SnmpClient(make_requester(engine))

    def run(self, job: Any) -> Any:
        return self.loop.run_until_complete(job(self.client))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.close())
        self.loop.close()


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def session(request: pytest.FixtureRequest) -> Iterator[Session]:
    shared = Session(request.param)
    yield shared
    shared.close()


@pytest.fixture(scope="module")
def v2c_interfaces(snmpd: Agent) -> list[tuple[Oid, Kind, Any]]:
    """The interface names and types as v2c reads them: what every v3 user must read too."""
    v2c = Credential(name="v2c", version="2c", community=Secret(SNMPD_COMMUNITY))
    shared = Session()
    try:
        walked = shared.run(lambda c: c.walk(target(snmpd, v2c), [IF_DESCR, IF_TYPE], RequestStats()))
    finally:
        shared.close()
    return walked[IF_DESCR] + walked[IF_TYPE]


def test_the_matrix_is_complete() -> None:
    levels = [u.level for u in SNMPD_V3_USERS]
    assert (levels.count("noAuthNoPriv"), levels.count("authNoPriv"), levels.count("authPriv")) == (1, 6, 36)
    assert {u.auth for u in SNMPD_V3_USERS} - {None} == set(config_credentials.AUTH_PROTOCOLS)
    assert {u.priv for u in SNMPD_V3_USERS} - {None} == set(config_credentials.PRIV_PROTOCOLS)


@pytest.mark.parametrize("user", SNMPD_V3_USERS, ids=lambda u: f"{u.level}-{u.auth}-{u.priv}")
def test_every_combination_polls(
    snmpd: Agent, session: Session, v2c_interfaces: list[Any], user: agents.V3User
) -> None:
    t = target(snmpd, credential(user), name=user.name)
    got = session.run(lambda c: c.get(t, [SYS_NAME, SYS_UPTIME], RequestStats()))
    assert got[0].value == b"poller-test-agent"
    assert got[1].kind is Kind.TIMETICKS
    walked = session.run(lambda c: c.walk(t, [IF_DESCR, IF_TYPE], RequestStats()))
    assert v2c_interfaces and walked[IF_DESCR] + walked[IF_TYPE] == v2c_interfaces


def user_named(name: str) -> agents.V3User:
    return next(u for u in SNMPD_V3_USERS if u.name == name)


AUTH_PRIV = "v3-sha256-aes"
#: the built-in USM and pysnmp, the reference
ENGINES = pytest.mark.parametrize("engine", IMPLEMENTATIONS)


def failure(snmpd: Agent, cred: Credential, engine: str = "builtin") -> SnmpError:
    t = target(snmpd, cred, timeout_s=0.5, retries=0)
    shared = Session(engine)
    try:
        with pytest.raises(SnmpError) as caught:
            shared.run(lambda c: c.get(t, [SYS_NAME], RequestStats()))
    finally:
        shared.close()
    return caught.value


@ENGINES
def test_a_wrong_auth_key_is_auth_failed(snmpd: Agent, engine: str) -> None:
    error = failure(snmpd, credential(user_named(AUTH_PRIV), auth_key=Secret("s3cr3t-wrong-auth")),
                    engine)
    assert isinstance(error, SnmpAuthFailed) and error.error_type == "auth_failed"
    assert str(error) == f"v3-device ({snmpd.address}): authentication failed (wrong auth key or protocol?)"


@ENGINES
def test_a_wrong_auth_protocol_is_auth_failed(snmpd: Agent, engine: str) -> None:
    error = failure(snmpd, credential(user_named(AUTH_PRIV), auth_protocol="SHA-512"), engine)
    assert isinstance(error, SnmpAuthFailed)


@ENGINES
def test_an_unknown_user_is_unknown_user(snmpd: Agent, engine: str) -> None:
    error = failure(snmpd, credential(user_named(AUTH_PRIV), user="nobody-here"), engine)
    assert isinstance(error, SnmpUnknownUser) and error.error_type == "unknown_user"
    assert "unknown user 'nobody-here'" in str(error)


@ENGINES
def test_a_level_the_user_lacks_is_unsupported_security_level(snmpd: Agent, engine: str) -> None:
    auth_only = user_named("v3-sha")
    error = failure(snmpd, credential(auth_only, level="authPriv", priv_protocol="DES",
                                      priv_key=Secret("s3cr3t-any-priv")), engine)
    assert isinstance(error, SnmpUnsupportedSecurityLevel)
    assert error.error_type == "unsupported_security_level"


@ENGINES
def test_a_wrong_priv_key_is_a_timeout_that_says_why(snmpd: Agent, engine: str) -> None:
    """net-snmp drops a message it cannot decrypt without a REPORT: all poller can do is say so."""
    error = failure(snmpd, credential(user_named(AUTH_PRIV), priv_key=Secret("s3cr3t-wrong-priv")),
                    engine)
    assert isinstance(error, SnmpTimeout)
    assert "a wrong privacy key or protocol also goes unanswered" in str(error)


@ENGINES
@pytest.mark.parametrize(("right", "wrong"), [("AES-192", "AES-192-C"), ("AES-256-C", "AES-256")])
def test_the_aes_key_extensions_are_not_interchangeable(
    snmpd: Agent, right: str, wrong: str, engine: str
) -> None:
    """With SHA (20-byte keys) Blumenthal and Reeder extend keys differently: the pairing matters."""
    user = user_named(f"v3-sha-{right.lower().replace('-', '')}")
    assert isinstance(failure(snmpd, credential(user, priv_protocol=wrong), engine), SnmpTimeout)


@ENGINES
def test_no_error_carries_a_key(snmpd: Agent, engine: str) -> None:
    user = user_named(AUTH_PRIV)
    errors = [
        failure(snmpd, credential(user, auth_key=Secret("s3cr3t-wrong-auth")), engine),
        failure(snmpd, credential(user, priv_key=Secret("s3cr3t-wrong-priv")), engine),
        failure(snmpd, credential(user, user="nobody-here"), engine),
    ]
    for error in errors:
        assert "s3cr3t" not in str(error) and "s3cr3t" not in repr(error.args)


@ENGINES
def test_one_user_name_with_other_keys_on_two_agents(tmp_path: Path, engine: str) -> None:
    """Two snmpd, the same user name, different keys and protocols: one client polls both, at
    once and in turn, and each keeps its own keys. (A pysnmp engine keeps one key set per user
    name: requests at once would send one agent the other's keys.)"""
    same_a = agents.V3User("monitor", "SHA-256", "s3cr3t-key-of-a1", "AES", "s3cr3t-key-of-a2")
    same_b = agents.V3User("monitor", "SHA", "s3cr3t-key-of-b1", "AES-256", "s3cr3t-key-of-b2")
    started: list[tuple[Agent, subprocess.Popen[bytes]]] = []
    try:
        for name, user in (("a", same_a), ("b", same_b)):
            directory = tmp_path / name
            directory.mkdir()
            port = free_udp_port()
            process = agents.start_snmpd(directory, [port], SNMPD_COMMUNITY, (user,))
            started.append((Agent("127.0.0.1", port, (SNMPD_COMMUNITY,)), process))
            agents.wait_ready("127.0.0.1", port, SNMPD_COMMUNITY, process)
        (agent_a, _), (agent_b, _) = started
        targets = [target(agent_a, credential(same_a), name="a"),
                   target(agent_b, credential(same_b), name="b")]
        shared = Session(engine)

        async def both(client: SnmpClient) -> list[Any]:
            # first contacts at once: discovery of one agent overlaps the other's
            return await asyncio.gather(*(client.get(t, [SYS_NAME], RequestStats())
                                          for t in targets), return_exceptions=True)

        try:
            for _ in range(3):
                assert [answer[0].value for answer in shared.run(both)] == [b"poller-test-agent"] * 2
                for t in targets + targets[::-1]:
                    got = shared.run(lambda c, t=t: c.get(t, [SYS_NAME], RequestStats()))
                    assert got[0].value == b"poller-test-agent"
        finally:
            shared.close()
    finally:
        for _, process in started:
            agents.stop(process)


SNMP_IN_PKTS = Oid.parse("1.3.6.1.2.1.11.1.0")


@ENGINES
def test_engine_discovery_happens_once_per_agent(snmpd: Agent, engine: str) -> None:
    """snmpd's own snmpInPkts: after the first contact (discovery and time sync), each GET is one
    packet; the engine ID is not discovered again per request."""
    v2c = target(snmpd, Credential(name="v2c", version="2c", community=Secret(SNMPD_COMMUNITY)))
    t = target(snmpd, credential(user_named("v3-sha256-aes")))
    shared = Session(engine)

    def packets() -> int:
        got = shared.run(lambda c: c.get(v2c, [SNMP_IN_PKTS], RequestStats()))
        return int(got[0].value)

    try:
        before = packets()
        shared.run(lambda c: c.get(t, [SYS_NAME], RequestStats()))
        first_contact = packets() - before - 1  # less the read of the counter itself
        before = packets()
        for _ in range(5):
            shared.run(lambda c: c.get(t, [SYS_NAME], RequestStats()))
        assert packets() - before - 1 == 5
        assert first_contact > 1  # discovery did happen, once
    finally:
        shared.close()


def _builtin_peer(shared: Session, agent: Agent) -> Any:
    """The built-in USM's record of `agent`'s engine (discovery, boots, time)."""
    usm_engine = shared.client._requester._usm  # type: ignore[attr-defined]
    return usm_engine._peers[(agent.host, agent.port)]


@pytest.mark.parametrize("user_name", ["v3-sha256-aes", "v3-md5-des", "v3-sha"])
def test_builtin_resyncs_when_the_agent_says_not_in_time_window(snmpd: Agent, user_name: str) -> None:
    """A clock far off (the agent rebooted, or the poller's notion drifted): snmpd answers
    notInTimeWindow, authenticated; the built-in USM takes the agent's boots/time and asks again."""
    t = target(snmpd, credential(user_named(user_name)))
    shared = Session("builtin")
    try:
        shared.run(lambda c: c.get(t, [SYS_NAME], RequestStats()))
        peer = _builtin_peer(shared, snmpd)
        synced = (peer.boots, peer.time)
        peer.time += 100_000
        got = shared.run(lambda c: c.get(t, [SYS_NAME], RequestStats()))
        assert got[0].value == b"poller-test-agent"
        assert peer.boots == synced[0] and abs(peer.time - synced[1]) < 100
    finally:
        shared.close()


def test_builtin_discovers_again_when_the_engine_id_is_unknown(snmpd: Agent) -> None:
    t = target(snmpd, credential(user_named("v3-sha256-aes")))
    shared = Session("builtin")
    try:
        shared.run(lambda c: c.get(t, [SYS_NAME], RequestStats()))
        right = _builtin_peer(shared, snmpd).engine_id
        _builtin_peer(shared, snmpd).engine_id = b"\x80\x00\x00\x00\x01not-this-one"
        got = shared.run(lambda c: c.get(t, [SYS_NAME], RequestStats()))
        assert got[0].value == b"poller-test-agent" and _builtin_peer(shared, snmpd).engine_id == right
    finally:
        shared.close()
