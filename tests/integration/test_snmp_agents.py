"""The pysnmp requester and the walk loop against real agents: values, v1 and v2c alike, typed
errors that name the device and never the community."""

from __future__ import annotations

import asyncio
import time

import pytest

from poller.config.model import DEFAULT_ENGINE, IMPLEMENTATIONS, Credential, Secret
from poller.errors import SnmpTimeout
from poller.oid import Oid
from poller.snmp.client import SnmpClient
from poller.snmp.engines import make_requester
from poller.snmp.types import Kind, RequestStats, Target
from tests.conftest import Agent
from tests.ports import free_udp_port

SYS_NAME = Oid.parse("1.3.6.1.2.1.1.5.0")
SYS_UPTIME = Oid.parse("1.3.6.1.2.1.1.3.0")
IF_COLUMNS = [Oid.parse(f"1.3.6.1.2.1.2.2.1.{n}") for n in (1, 2, 6, 10)] + [
    Oid.parse("1.3.6.1.2.1.31.1.1.1.6")
]


def target(agent: Agent, community: str, *, version: str = "2c", **options: object) -> Target:
    credential = Credential(name="test", version=version, community=Secret(community))  # type: ignore[arg-type]
    return Target(name="agent-under-test", host=agent.host, port=agent.port,
                  credential=credential, **options)  # type: ignore[arg-type]


@pytest.fixture(params=IMPLEMENTATIONS, autouse=True)
def engine(request: pytest.FixtureRequest) -> str:
    """Every test here runs on each engine: the built-in codec and pysnmp."""
    ENGINE[0] = request.param
    return str(request.param)


ENGINE = [DEFAULT_ENGINE]


def run(job):  # type: ignore[no-untyped-def]
    async def main():  # type: ignore[no-untyped-def]
        client = SnmpClient(make_requester(ENGINE[0]))
        try:
            return await job(client)
        finally:
            await client.close()

    return asyncio.run(main())


def test_get_reads_typed_values_from_snmpd(snmpd: Agent) -> None:
    t = target(snmpd, snmpd.communities[0])
    stats = RequestStats()
    missing = Oid.parse("1.3.6.1.2.1.1.99.0")
    answer = run(lambda c: c.get(t, [SYS_UPTIME, SYS_NAME, missing], stats))
    assert [vb.oid for vb in answer] == [SYS_UPTIME, SYS_NAME, missing]
    assert answer[0].kind is Kind.TIMETICKS and answer[0].value > 0
    assert answer[1] == (SYS_NAME, Kind.OCTETS, b"poller-test-agent")
    assert answer[2].kind is Kind.NO_SUCH_OBJECT
    assert (stats.requests, stats.varbinds) == (1, 3)


def test_get_splits_large_requests(snmpd: Agent) -> None:
    t = target(snmpd, snmpd.communities[0], max_oids_per_request=2)
    oids = [Oid.parse(f"1.3.6.1.2.1.1.{n}.0") for n in range(1, 8)]
    stats = RequestStats()
    answer = run(lambda c: c.get(t, oids, stats))
    assert [vb.oid for vb in answer] == oids
    assert stats.requests == 4


@pytest.mark.parametrize("repetitions, per_request", [(1, 1), (3, 2), (25, 32)])
def test_v1_getnext_and_v2c_getbulk_walks_agree(snmpd: Agent, repetitions: int, per_request: int) -> None:
    community = snmpd.communities[0]
    v2 = target(snmpd, community, max_repetitions=repetitions, max_oids_per_request=per_request)
    v1 = target(snmpd, community, version="1", max_oids_per_request=per_request)
    bulk = run(lambda c: c.walk(v2, IF_COLUMNS, RequestStats()))
    nexts = run(lambda c: c.walk(v1, IF_COLUMNS[:4], RequestStats()))  # v1 has no Counter64
    assert len(bulk[IF_COLUMNS[0]]) >= 2
    for column in IF_COLUMNS[:4]:
        assert [vb.oid for vb in nexts[column]] == [vb.oid for vb in bulk[column]]
        assert all(vb.oid.startswith(column) and vb.oid != column for vb in bulk[column])
    assert {vb.kind for vb in bulk[IF_COLUMNS[-1]]} == {Kind.COUNTER64}


def test_a_silent_port_times_out_on_time_and_keeps_the_community_secret() -> None:
    silent = Agent("127.0.0.1", free_udp_port(), ())
    t = target(silent, "do-not-print-me", timeout_s=0.3, retries=1)
    started = time.monotonic()
    with pytest.raises(SnmpTimeout) as caught:
        run(lambda c: c.get(t, [SYS_UPTIME], RequestStats()))
    elapsed = time.monotonic() - started
    assert 0.5 < elapsed < 3.0
    message = str(caught.value)
    assert "agent-under-test" in message and silent.address in message
    assert "do-not-print-me" not in message and "do-not-print-me" not in repr(caught.value)


def test_a_wrong_community_is_a_timeout_not_a_hang(snmpd: Agent) -> None:
    t = target(snmpd, "wrong-community", timeout_s=0.3, retries=0)
    with pytest.raises(SnmpTimeout):
        run(lambda c: c.walk(t, IF_COLUMNS, RequestStats()))
