"""Counter snapshots: a tracker restored in another process (other clocks, through JSON) carries
on with the same rates as the tracker that never stopped; stale, changed and malformed entries
are refused and leave the tracker fresh."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.poll.device import PollOutcome, poll_device, target_for
from poller.poll.rates import CounterTracker
from poller.poll.snapshot import Clocks, Refused, export_device, fingerprint, import_device
from poller.snmp.client import SnmpClient
from poller.snmp.fake import FakeAgent, FakeRequester
from poller.snmp.types import Kind
from tests.unit.test_poll import DEVICE, HIGH_SPEED, IN_OCTETS, OUT_OCTETS, UPTIME

FIRST = {UPTIME: (Kind.TIMETICKS, 1000),
         HIGH_SPEED + (1,): (Kind.GAUGE32, 1000), HIGH_SPEED + (2,): (Kind.GAUGE32, 1000),
         IN_OCTETS + (1,): (Kind.COUNTER64, 5_000), IN_OCTETS + (2,): (Kind.COUNTER64, 0),
         OUT_OCTETS + (1,): (Kind.COUNTER32, 2**32 - 100), OUT_OCTETS + (2,): (Kind.COUNTER32, 7)}
SECOND = {UPTIME: (Kind.TIMETICKS, 7000),
          IN_OCTETS + (1,): (Kind.COUNTER64, 605_000), IN_OCTETS + (2,): (Kind.COUNTER64, 60),
          OUT_OCTETS + (1,): (Kind.COUNTER32, 500), OUT_OCTETS + (2,): (Kind.COUNTER32, 7)}


def _poll(fake: FakeAgent, tracker: CounterTracker, at_s: float) -> dict[str, dict[str, Any]]:
    client = SnmpClient(FakeRequester({"127.0.0.1": fake}))
    outcome = PollOutcome()
    asyncio.run(poll_device(DEVICE, target_for(DEVICE), client, tracker, outcome, lambda: at_s))
    return {r["index"]: r for e, r in outcome.records if e == "row"}


def _agent(values: dict[Any, tuple[Kind, Any]]) -> FakeAgent:
    return FakeAgent(dict(values))


def _set(fake: FakeAgent, values: dict[Any, tuple[Kind, Any]]) -> None:
    for oid, (kind, value) in values.items():
        fake.set(oid, kind, value)


def test_a_restored_tracker_gives_the_rates_of_one_that_never_stopped() -> None:
    # the process that never stopped: monotonic 100 -> 160 s
    fake = _agent(FIRST)
    steady = CounterTracker()
    _poll(fake, steady, 100.0)
    _set(fake, SECOND)
    expected = _poll(fake, steady, 160.0)

    # the process that stopped after its first poll: wall clock 1,000,000 at monotonic 100
    fake = _agent(FIRST)
    before = CounterTracker()
    _poll(fake, before, 100.0)
    entry = orjson.loads(orjson.dumps(export_device(DEVICE, 41, before, Clocks(130.0, 1_000_030.0))))
    # the new process: its monotonic clock reads 5 when the wall clock reads 1,000,055
    after = CounterTracker()
    seq = import_device(entry, DEVICE, after, Clocks(5.0, 1_000_055.0), max_age_s=300)
    _set(fake, SECOND)
    got = _poll(fake, after, 10.0)  # = wall 1,000,060: 60 s after the first poll

    assert seq == 41
    assert got == expected
    assert got["1"]["ifHCInOctets_bps"] == 80_000.0  # 600,000 octets in 60 s
    assert got["1"]["ifOutOctets_rate"] == pytest.approx(600 / 60)  # across the 32-bit wrap


def test_an_agent_restart_while_stopped_gives_agent_restart_not_a_spike() -> None:
    fake = _agent(FIRST)
    before = CounterTracker()
    _poll(fake, before, 100.0)
    entry = export_device(DEVICE, 3, before, Clocks(100.0, 2_000_000.0))
    after = CounterTracker()
    import_device(entry, DEVICE, after, Clocks(0.0, 2_000_060.0), max_age_s=300)
    _set(fake, {**SECOND, UPTIME: (Kind.TIMETICKS, 300)})  # rebooted 3 s ago
    row = _poll(fake, after, 0.0)["1"]
    assert row["ifHCInOctets_bps"] is None and row["ifHCInOctets_bps_reason"] == "agent_restart"


def _entry() -> dict[str, Any]:
    tracker = CounterTracker()
    _poll(_agent(FIRST), tracker, 100.0)
    return export_device(DEVICE, 9, tracker, Clocks(100.0, 1_000.0))


@pytest.mark.parametrize(("change", "reason"), [
    (lambda e: e, "stale"),  # taken at wall 1,000; now 1,000 + 301
    (lambda e: {**e, "fingerprint": fingerprint(replace(DEVICE, port=1161))}, "changed"),
    (lambda e: {**e, "format": "other/9"}, "invalid"),
    (lambda e: {**e, "seq": -1}, "invalid"),
    (lambda e: {**e, "series": [["x", [[1, "nan", 3]], []]]}, "invalid"),
    (lambda e: {**e, "series": "zz"}, "invalid"),
    (lambda e: {k: v for k, v in e.items() if k != "markers"}, "invalid"),
])
def test_refused_entries_leave_the_tracker_fresh(change: Any, reason: str) -> None:
    entry = change(_entry())
    now = 1_301.0 if reason == "stale" else 1_010.0
    fresh = CounterTracker()
    with pytest.raises(Refused, match=f"^{reason}$"):
        import_device(entry, DEVICE, fresh, Clocks(0.0, now), max_age_s=300)
    assert len(fresh) == 0
    assert _poll(_agent(FIRST), fresh, 1.0)["1"]["ifHCInOctets_bps_reason"] == "first_sample"


def test_a_changed_address_changes_the_fingerprint_but_credentials_do_not() -> None:
    assert fingerprint(replace(DEVICE, host="127.0.0.2")) != fingerprint(DEVICE)
    assert fingerprint(replace(DEVICE, interval_s=300.0, tags=(("site", "x"),))) == fingerprint(DEVICE)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(key=st.sampled_from(["seq", "taken_at", "uptime", "series", "markers", "device"]), value=json_values)
def test_any_value_at_any_key_is_refused_or_taken_never_an_exception(key: str, value: Any) -> None:
    entry = {**_entry(), key: value}
    try:
        import_device(entry, DEVICE, CounterTracker(), Clocks(0.0, 1_010.0), max_age_s=300)
    except Refused:
        pass
