"""Session fixtures: real agents on free loopback ports, started once and stopped at the end.
A missing agent binary fails the tests that need it; nothing is skipped."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import agents
from tests.ports import free_udp_port

#: communities are secrets: tests check that they never appear in output
SNMPD_COMMUNITY = "t3st-c0mmunity-7f3a"
#: the SNMPv3 users of the snmpd fixture: every security level and protocol combination
SNMPD_V3_USERS = tuple(agents.v3_matrix())


@dataclass(frozen=True)
class Agent:
    host: str
    port: int
    communities: tuple[str, ...]
    v3_users: tuple[agents.V3User, ...] = ()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@pytest.fixture(scope="session")
def snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    directory = tmp_path_factory.mktemp("snmpd")
    port = free_udp_port()
    try:
        process = agents.start_snmpd(directory, [port], SNMPD_COMMUNITY, SNMPD_V3_USERS)
    except agents.AgentError as exc:
        pytest.fail(str(exc))
    with _stopped_after(process):
        _wait_ready(port, SNMPD_COMMUNITY, process)
        yield Agent("127.0.0.1", port, (SNMPD_COMMUNITY,), SNMPD_V3_USERS)


@pytest.fixture(scope="session")
def snmpsim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """snmpsim serving the recordings as recorded (values do not move): oracle material."""
    yield from _snmpsim(tmp_path_factory.mktemp("snmpsim"), advancing=False)


@pytest.fixture(scope="session")
def snmpsim_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Agent]:
    """snmpsim whose counters and sysUpTime advance, as on a live switch."""
    yield from _snmpsim(tmp_path_factory.mktemp("snmpsim-live"), advancing=True)


def _snmpsim(directory: Path, *, advancing: bool) -> Iterator[Agent]:
    names = list(agents.SWITCHES)
    data = agents.prepare_recordings(directory / "data", names, advancing=advancing)
    port = free_udp_port()
    try:
        process = agents.start_snmpsim(data, port, directory / "snmpsim.log")
    except agents.AgentError as exc:
        pytest.fail(str(exc))
    with _stopped_after(process):
        _wait_ready(port, names[0], process)
        yield Agent("127.0.0.1", port, tuple(names))


@contextmanager
def _stopped_after(process: subprocess.Popen[bytes]) -> Iterator[None]:
    """Stop the agent however the fixture ends, also when it never became ready."""
    try:
        yield
    finally:
        agents.stop(process)


def _wait_ready(port: int, community: str, process: subprocess.Popen[bytes]) -> None:
    try:
        agents.wait_ready("127.0.0.1", port, community, process)
    except agents.AgentError as exc:
        pytest.fail(str(exc))
