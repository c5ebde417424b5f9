"""Agents that misbehave, on real sockets (tests/hostile_agent.py), with each engine: the scheduler
polls a hostile device beside a good one for a few intervals. The good device's polls all end ok
and on time; the hostile device's polls end ok where poller adapts, or with the error type that
names the fault; nothing hangs (an explicit bound on top of pytest-timeout) and nothing spins
(process CPU time over the run stays far below the wall time while poller waits on a device)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from poller.config.load import load_config
from poller.config.model import IMPLEMENTATIONS, Device, WalkLimits
from poller.run.scheduler import Scheduler
from poller.snmp.client import SnmpClient
from poller.snmp.engines import make_requester
from tests import hostile_agent
from tests.hostile_agent import Behaviour, HostileAgent
from tests.unit import test_scheduler as scheduler_tests

pytestmark = pytest.mark.timeout(60)

ROWS = 6
#: the built-in `interfaces` profile walks this many columns; v2c answers carry all of them
IF_COLUMNS = 21


class Sink(scheduler_tests.Sink):
    def scalars(self, device: str) -> list[dict[str, Any]]:
        return [f for e, f in self.records if e == "scalars" and f["device"] == device]


@dataclass
class Run:
    sink: Sink
    cpu_s: float
    wall_s: float
    client: SnmpClient
    hostile: Device
    agent: HostileAgent
    good_agent: HostileAgent
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cpu_share(self) -> float:
        return self.cpu_s / self.wall_s


def fleet(tmp_path: Path, good_port: int, hostile_port: int, hostile_keys: str,
          interval: float, version: str = "2c") -> tuple[Device, Device]:
    path = tmp_path / "fleet.toml"
    path.write_text(f"""
[defaults]
interval = {interval}
timeout = 0.4
retries = 0
[credentials.public]
version = "{version}"
community = "public"
[[devices]]
name = "good"
host = "127.0.0.1"
port = {good_port}
[[devices]]
name = "hostile"
host = "127.0.0.1"
port = {hostile_port}
{hostile_keys}
""")
    path.chmod(0o600)
    good, hostile = load_config(path).devices
    return good, hostile


def run_fleet(tmp_path: Path, engine: str, modes: str, *, keys: str = "", interval: float = 1.5,
              polls: int = 2, version: str = "2c", **behaviour: Any) -> Run:
    """Poll a good agent and one with `modes` for `polls` intervals of the scheduler."""

    async def main() -> Run:
        good_agent = await HostileAgent.start(Behaviour(rows=ROWS))
        agent = await HostileAgent.start(
            Behaviour(modes=frozenset(modes.split("+")), rows=ROWS, **behaviour)
        )
        good, hostile = fleet(tmp_path, good_agent.port, agent.port, keys, interval, version)
        client = SnmpClient(make_requester(engine))
        sink = Sink()
        cpu, wall = time.process_time(), time.monotonic()
        scheduler = Scheduler((good, hostile), client, sink, max_in_flight=16)
        try:
            scheduler.start()
            await asyncio.sleep(polls * interval)
            await scheduler.drain(grace_s=interval)
            return Run(sink, time.process_time() - cpu, time.monotonic() - wall, client, hostile,
                       agent, good_agent)
        finally:
            await client.close()
            agent.close()
            good_agent.close()

    return asyncio.run(asyncio.wait_for(main(), 40))


@pytest.fixture(params=IMPLEMENTATIONS)
def engine(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def check_good(run: Run, polls: int) -> None:
    """The good device beside the hostile one: every scheduled poll ran, on time, and ended ok
    with all its rows."""
    summaries = run.sink.polls("good")
    assert [p["seq"] for p in summaries] == list(range(len(summaries)))
    assert len(summaries) >= polls - 1
    assert [(p["status"], p.get("error_type")) for p in summaries] == [("ok", None)] * len(summaries)
    # on time: started within half an interval of its tick (a stalled loop shows whole seconds)
    assert max(p["queue_delay_s"] for p in summaries) < 0.5
    assert len(run.sink.rows("good")) == ROWS * len(summaries)


def hostile_outcomes(run: Run) -> list[tuple[str, str | None]]:
    summaries = run.sink.polls("hostile")
    assert summaries and [p["seq"] for p in summaries] == list(range(len(summaries)))
    return [(p["status"], p.get("error_type")) for p in summaries]


def assert_waits_not_spins(run: Run) -> None:
    # a busy loop shows ~1.0; waiting on timeouts, the whole process (agents included) ~0.1
    assert run.cpu_share < 0.5, f"CPU {run.cpu_s:.2f} s over {run.wall_s:.2f} s"


# -- poller adapts: every poll ends ok ------------------------------------------------------------


@pytest.mark.parametrize("limit", [{"limit": 30}, {"limit": 1000, "limit_bytes": 900}])
def test_too_big_halves_the_request_and_the_device_remembers(
    tmp_path: Path, engine: str, limit: dict[str, int]
) -> None:
    # the harness encodes each oversized answer before refusing it: slow, so a longer interval
    run = run_fleet(tmp_path, engine, "too_big", interval=2.0, **limit)
    check_good(run, 2)
    assert set(hostile_outcomes(run)) == {("ok", None)}
    assert len(run.sink.rows("hostile")) == ROWS * len(run.sink.polls("hostile"))
    size = run.client.size_for(_target(run))
    assert size.repetitions * min(size.oids, IF_COLUMNS) <= limit["limit"]
    assert size.repetitions < 25
    requests = [p["requests"] for p in run.sink.polls("hostile")]
    assert requests[-1] < requests[0]  # learned: no tooBig round trips on later polls


def test_a_timeout_only_large_requests_get_shrinks_them_and_is_remembered(
    tmp_path: Path, engine: str
) -> None:
    # 21 columns x 1 repetition are still too many: only fewer OIDs per request get through
    run = run_fleet(tmp_path, engine, "drop_big", limit=12, interval=3.0)
    check_good(run, 2)
    assert set(hostile_outcomes(run)) == {("ok", None)}
    assert len(run.sink.rows("hostile")) == ROWS * len(run.sink.polls("hostile"))
    size = run.client.size_for(_target(run))
    assert size.oids <= 12
    # dropped: 3 GETBULKs (25, 6, 1 repetitions) and a GETNEXT of 21 OIDs, in the first poll only
    assert run.agent.counts.requests - run.agent.counts.answers == 4
    assert len(run.sink.polls("hostile")) >= 2


@pytest.mark.parametrize("modes", ["no_getbulk", "drop_getbulk"])
def test_an_agent_without_getbulk_is_walked_with_getnext(
    tmp_path: Path, engine: str, modes: str
) -> None:
    run = run_fleet(tmp_path, engine, modes, interval=3.0)
    check_good(run, 2)
    assert set(hostile_outcomes(run)) == {("ok", None)}
    assert len(run.sink.rows("hostile")) == ROWS * len(run.sink.polls("hostile"))
    assert run.client.size_for(_target(run)).bulk is False
    kinds = run.agent.counts.by_kind
    assert kinds["get_next"] > 0 and kinds["get_bulk"] == 3  # 25, 6, 1 repetitions, then GETNEXT


@pytest.mark.parametrize("modes", ["normal", "duplicate", "noisy"])
def test_an_agent_in_order_and_duplicates_or_noise_around_its_answers_poll_whole(
    tmp_path: Path, engine: str, modes: str
) -> None:
    run = run_fleet(tmp_path, engine, modes)
    check_good(run, 2)
    assert set(hostile_outcomes(run)) == {("ok", None)}
    assert len(run.sink.rows("hostile")) == ROWS * len(run.sink.polls("hostile"))
    assert_waits_not_spins(run)


def test_rows_out_of_order_are_read_when_allowed(tmp_path: Path, engine: str) -> None:
    run = run_fleet(tmp_path, engine, "non_increasing", keys="allow_non_increasing = true")
    check_good(run, 2)
    assert set(hostile_outcomes(run)) == {("ok", None)}
    first = [r["index"] for r in run.sink.rows("hostile")][:ROWS]
    assert sorted(first, key=int) == [str(i) for i in range(1, ROWS + 1)]


def test_a_flood_of_copies_and_of_answers_to_ids_not_asked_changes_no_poll(
    tmp_path: Path, engine: str
) -> None:
    # each answer 100 times, then 100 copies with the request-ids that follow its own
    run = run_fleet(tmp_path, engine, "flood")
    check_good(run, 2)
    polls = run.sink.polls("hostile")
    assert [(p["status"], p["rows"]) for p in polls] == [("ok", ROWS)] * len(polls)
    assert len(run.sink.rows("hostile")) == ROWS * len(polls)
    dropped = run.client.replies_dropped()
    if engine != "builtin":
        assert dropped is None  # pysnmp drops them unseen
        return
    assert dropped is not None
    # all but the copies of the last answer, which may still be unread when the run ends
    requests = sum(p["requests"] for p in polls)
    extra = hostile_agent.FLOOD * 2 - 1
    assert extra * (requests - 1) <= sum(dropped.values()) <= extra * requests
    assert dropped["late_or_duplicate"] >= (hostile_agent.FLOOD - 1) * (requests - 1)
    assert dropped["never_sent"] >= hostile_agent.FLOOD * (requests - 1)


# -- poller cannot adapt: the poll records why, the scalars and other devices stay ------------------


def test_rows_out_of_order_stop_the_walk_and_keep_the_scalars(tmp_path: Path, engine: str) -> None:
    run = run_fleet(tmp_path, engine, "non_increasing")
    check_good(run, 2)
    assert set(hostile_outcomes(run)) == {("partial", "non_increasing_oid")}
    poll = run.sink.polls("hostile")[0]
    assert poll["failed_parts"] == [{"part": "interfaces", "error_type": "non_increasing_oid"}]
    assert poll["error"].startswith("table interfaces: hostile (127.0.0.1:")
    assert len(run.sink.scalars("hostile")) == len(run.sink.polls("hostile"))
    assert run.sink.rows("hostile") == []


@pytest.mark.parametrize("keys, error_type", [
    ("", "non_increasing_oid"),
    ("allow_non_increasing = true", "oid_loop"),
])
def test_a_loop_back_to_an_earlier_oid_is_stopped(
    tmp_path: Path, engine: str, keys: str, error_type: str
) -> None:
    run = run_fleet(tmp_path, engine, "looping", keys=keys)
    check_good(run, 2)
    assert set(hostile_outcomes(run)) == {("partial", error_type)}
    requests = [p["requests"] for p in run.sink.polls("hostile")]
    assert max(requests) < 10  # stopped at the loop, not at a cap
    assert_waits_not_spins(run)


@pytest.mark.parametrize("keys, error_type", [
    ("", "non_increasing_oid"),
    ("allow_non_increasing = true", "oid_loop"),
])
def test_a_walk_answered_with_the_oid_asked_is_stopped(
    tmp_path: Path, engine: str, keys: str, error_type: str
) -> None:
    run = run_fleet(tmp_path, engine, "echo_root", keys=keys)
    check_good(run, 2)
    assert set(hostile_outcomes(run)) == {("partial", error_type)}
    poll = run.sink.polls("hostile")[0]
    assert poll["failed_parts"] == [{"part": "interfaces", "error_type": error_type}]
    assert len(run.sink.scalars("hostile")) == len(run.sink.polls("hostile"))
    assert run.sink.rows("hostile") == []


def test_a_get_answered_with_oids_not_asked_fails_and_the_tables_stay(
    tmp_path: Path, engine: str
) -> None:
    run = run_fleet(tmp_path, engine, "wrong_oids")
    check_good(run, 2)
    polls = run.sink.polls("hostile")
    assert set(hostile_outcomes(run)) == {("partial", "wrong_oid")}
    assert polls[0]["failed_parts"] == [{"part": "scalars", "error_type": "wrong_oid"}]
    assert "1.3.6.1.2.1.1.3.1" in polls[0]["error"]  # what came instead of sysUpTime.0
    assert run.sink.scalars("hostile") == []
    assert len(run.sink.rows("hostile")) == ROWS * len(polls)


@pytest.mark.parametrize("keys, error_type", [
    ("max_walk_rows = 40", "max_walk_rows"),
    ("max_walk_requests = 5", "max_walk_requests"),
    ('max_walk_time = "300ms"\nmax_repetitions = 1\nmax_oids_per_request = 1', "max_walk_time"),
])
def test_an_endless_table_stops_at_the_caps(
    tmp_path: Path, engine: str, keys: str, error_type: str
) -> None:
    run = run_fleet(tmp_path, engine, "endless", keys=keys)
    check_good(run, 2)
    # each poll ended by its cap (a poll cut off by its deadline would say poll_deadline)
    assert set(hostile_outcomes(run)) == {("partial", error_type)}
    if error_type == "max_walk_requests":
        assert {p["requests"] for p in run.sink.polls("hostile")} == {1 + 5}


def test_an_endless_table_stops_at_a_default_cap_and_the_device_beside_it_keeps_its_polls(
    tmp_path: Path, engine: str
) -> None:
    # no walk keys: the default time cap (0.9 x the 1.8 s poll deadline) or row cap ends each walk
    run = run_fleet(tmp_path, engine, "endless", interval=2.0, polls=3)
    check_good(run, 3)
    outcomes = set(hostile_outcomes(run))
    assert outcomes and outcomes <= {("partial", "max_walk_time"), ("partial", "max_walk_rows")}
    polls = run.sink.polls("hostile")
    assert all(p["failed_parts"] == [{"part": "interfaces", "error_type": p["error_type"]}]
               for p in polls)
    # what one poll holds is bounded by the row cap (and one answer of 25 repetitions past it)
    row_cap = WalkLimits().max_rows
    assert max(p["varbinds"] for p in polls) <= IF_COLUMNS * (row_cap + 25) + 10
    assert len(run.sink.scalars("hostile")) == len(polls)


@pytest.mark.parametrize("modes, builtin_error, pysnmp_error", [
    ("silent", "timeout", "timeout"),
    ("late", "timeout", "timeout"),
    ("wrong_request_id", "wrong_request_id", "timeout"),
    # pysnmp takes an answer from any address that carries a pending request-id
    ("wrong_source", "wrong_source", None),
    ("garbage", "decode", "timeout"),
])
def test_no_valid_answer_ends_the_poll_with_its_cause_and_waits_without_spinning(
    tmp_path: Path, engine: str, modes: str, builtin_error: str, pysnmp_error: str | None
) -> None:
    run = run_fleet(tmp_path, engine, modes, delay_s=0.8)
    check_good(run, 2)
    expected = builtin_error if engine == "builtin" else pysnmp_error
    if expected is None:
        assert set(hostile_outcomes(run)) == {("ok", None)}
        return
    assert set(hostile_outcomes(run)) == {("timeout", expected)}
    poll = run.sink.polls("hostile")[0]
    assert poll["requests"] == 1  # the first request failed: the tables are not tried
    assert run.sink.scalars("hostile") == [] and run.sink.rows("hostile") == []
    assert_waits_not_spins(run)


def test_a_late_answer_to_an_earlier_try_is_taken(tmp_path: Path, engine: str) -> None:
    # 0.6 s: after the first try's 0.4 s timeout, within the second try's
    run = run_fleet(tmp_path, engine, "late", keys="retries = 1", delay_s=0.6, interval=2.0)
    check_good(run, 2)
    # pysnmp sends each try with a new request-id and forgets the earlier ones
    expected = ("ok", None) if engine == "builtin" else ("timeout", "timeout")
    assert set(hostile_outcomes(run)) == {expected}


def test_v1_no_such_name_drops_that_object_and_reads_the_rest(tmp_path: Path, engine: str) -> None:
    run = run_fleet_v1(tmp_path, engine, 'profiles = ["system", "v1probe"]')
    check_good(run, 2)
    assert set(hostile_outcomes(run)) == {("ok", None)}
    scalars = [s for s in run.sink.scalars("hostile") if s["group"] == "v1probe"]
    assert scalars and all(s["sysName"] == "hostile" and s["missing"] is None for s in scalars)


def run_fleet_v1(tmp_path: Path, engine: str, keys: str) -> Run:
    extra = """
[profiles.v1probe]
scalars = ["sysName.0", { name = "missing", oid = "1.3.6.1.2.1.1.99.0" }]
[[profiles.v1probe.tables]]
name = "links"
columns = ["ifDescr", "ifInOctets", "ifOutOctets"]
"""
    return run_fleet(tmp_path, engine, "normal", keys=keys + "\n" + extra, version="1")


def _target(run: Run) -> Any:
    from poller.poll.device import target_for

    return target_for(run.hostile)
