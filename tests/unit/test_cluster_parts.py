"""The cluster's pure parts: rendezvous shares (balance, minimal movement), the view timeline
(handover at one instant, late polls of a dead owner's ticks), the shared grid, [cluster] in the
fleet file and the pushed fleet; and counter snapshots carried to another host (other clocks,
through JSON) giving the rates of a tracker that never moved."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from poller.cluster import rendezvous
from poller.cluster.commands import validated
from poller.cluster.views import Timeline, View
from poller.config.load import load_config, load_with_fleet
from poller.config.settings import default_state_directory
from poller.config.shard import usable_cores
from poller.errors import ConfigError
from poller.poll.rates import CounterTracker
from poller.poll.snapshot import Clocks, export_device, import_device
from poller.run.grid import first_tick_ms, format_ms, interval_ms, phase_ms
from poller.snmp.types import Kind
from tests.cluster_rig import ROOT
from tests.unit.test_poll import DEVICE, IN_OCTETS, OUT_OCTETS, UPTIME
from tests.unit.test_snapshot import FIRST, _agent, _poll, _set

NAMES = [f"sw-{i:05d}" for i in range(30_000)]
member_names = st.lists(st.text("abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12),
                        min_size=2, max_size=8, unique=True)


@settings(max_examples=15, deadline=None)
@given(members=member_names)
def test_rendezvous_shares_are_balanced_within_a_few_percent(members: list[str]) -> None:
    counts = {m: len(rendezvous.share(NAMES, members, m)) for m in members}
    assert sum(counts.values()) == len(NAMES)
    fair = len(NAMES) / len(members)
    assert all(abs(n - fair) / fair < 0.06 for n in counts.values()), counts


@settings(max_examples=15, deadline=None)
@given(members=member_names, data=st.data())
def test_rendezvous_moves_only_the_devices_of_who_left_or_joined(members: list[str],
                                                                 data: st.DataObject) -> None:
    names = NAMES[:3000]
    gone = data.draw(st.sampled_from(members))
    rest = [m for m in members if m != gone]
    before = {n: rendezvous.owner(n, members) for n in names}
    after = {n: rendezvous.owner(n, rest) for n in names}
    moved = {n for n in names if before[n] != after[n]}
    assert moved == {n for n in names if before[n] == gone}
    # the reverse is a join: only the devices the newcomer wins move, all to it
    assert {n for n in names if before[n] != after[n] and before[n] != gone} == set()


@settings(max_examples=40, deadline=None)
@given(first=st.integers(0, 2**63), delta=st.integers(0, 2**40), elapsed_s=st.floats(1, 3600),
       skew_s=st.floats(-1e6, 1e6), counter32=st.integers(0, 2**32 - 1),
       step32=st.integers(0, 2**32 - 1))
def test_snapshot_export_import_gives_the_same_rates(first: int, delta: int, elapsed_s: float,
                                                     skew_s: float, counter32: int,
                                                     step32: int) -> None:
    start = {**FIRST, IN_OCTETS + (1,): (Kind.COUNTER64, first),
             OUT_OCTETS + (1,): (Kind.COUNTER32, counter32)}
    later = {UPTIME: (Kind.TIMETICKS, 1000 + int(elapsed_s * 100)),
             IN_OCTETS + (1,): (Kind.COUNTER64, (first + delta) % 2**64),
             OUT_OCTETS + (1,): (Kind.COUNTER32, (counter32 + step32) % 2**32)}
    fake = _agent(start)
    stayed = CounterTracker()
    _poll(fake, stayed, 100.0)
    # host A exports at its monotonic 100 s (shared clock 5,000 s); host B, whose monotonic
    # clock reads skew_s more, imports it through JSON
    entry = orjson.loads(orjson.dumps(export_device(DEVICE, 7, stayed, Clocks(100.0, 5_000.0))))
    moved = CounterTracker()
    assert import_device(entry, DEVICE, moved, Clocks(100.0 + skew_s, 5_000.0), 7200) == 7
    _set(fake, later)
    expected = _poll(fake, stayed, 100.0 + elapsed_s)
    got = _poll(fake, moved, 100.0 + skew_s + elapsed_s)
    for index, row in expected.items():
        for key, value in row.items():
            if key.endswith(("_rate", "_bps", "_reason")):
                if isinstance(value, float):
                    assert got[index][key] == pytest.approx(value, rel=1e-6, abs=1e-6), key
                else:
                    assert got[index][key] == value, key


def _timeline(*views: View, host: str = "b") -> Timeline:
    timeline = Timeline(host)
    timeline.set_fleet(NAMES[:600])
    timeline.merge(views)
    return timeline


def test_a_handover_happens_at_the_view_s_instant_on_every_host() -> None:
    old, new = View(1, 0, ("a", "b")), View(2, 10_000, ("a", "b", "c"))
    hosts = {h: _timeline(old, new, host=h) for h in "abc"}
    for at in (9_999, 10_000):
        owners = [[h for h, t in hosts.items() if t.owns(n, at) is not None] for n in NAMES[:600]]
        assert all(len(o) == 1 for o in owners)
    c = hosts["c"]
    assert all(c.owns(n, 9_999) is None for n in NAMES[:600])
    assert {n for n in NAMES[:600] if c.owns(n, 10_000) == 2} == rendezvous.share(
        NAMES[:600], ["a", "b", "c"], "c")


def test_a_dead_owner_s_ticks_before_its_lease_ended_are_recovered_by_its_successor() -> None:
    old, new = View(1, 0, ("a", "b", "c")), View(2, 10_000, ("a", "b"), dead=("c",))
    b = _timeline(old, new, host="b")
    lost = [n for n in NAMES[:600] if rendezvous.owner(n, ["a", "b", "c"]) == "c"]
    to_b = [n for n in lost if rendezvous.owner(n, ["a", "b"]) == "b"]
    assert to_b and all(b.recovers(n, 9_000) == 2 for n in to_b)
    assert all(b.recovers(n, 9_000) is None for n in lost if n not in to_b)
    # a member that left (no `dead`) handed over: nothing before its instant is recovered
    left = _timeline(old, View(2, 10_000, ("a", "b")), host="b")
    assert all(left.recovers(n, 9_000) is None for n in lost)
    assert set(b.running(9_000)) >= set(to_b)


def test_a_view_parses_cjson_s_empty_members_and_refuses_others() -> None:
    assert View.parse(json.loads('{"epoch": 3, "from": 5, "members": {}, "dead": {}}')) == \
        View(3, 5, ())
    with pytest.raises(ValueError, match="not a view"):
        View.parse({"epoch": "x", "from": 1, "members": []})


def test_the_grid_is_the_same_text_on_every_host() -> None:
    interval = interval_ms(DEVICE)
    first = first_tick_ms(DEVICE, 1_700_000_000_123)
    assert (first - phase_ms(DEVICE.name, interval)) % interval == 0
    assert first + DEVICE.poll_deadline_s * 1000 > 1_700_000_000_123
    assert first - interval + DEVICE.poll_deadline_s * 1000 <= 1_700_000_000_123
    assert format_ms(1_700_000_000_007) == "2023-11-14T22:13:20.007Z"


# -- [cluster] in the fleet file ---------------------------------------------------------------

FLEET = """
[defaults]
credential = "c"
[credentials.c]
version = "2c"
community_env = "POLLER_TEST_COMMUNITY"
[[devices]]
name = "sw1"
host = "127.0.0.1"
"""


def _write(tmp_path: Path, cluster: str, fleet: str = FLEET) -> Path:
    path = tmp_path / "fleet.toml"
    path.write_text(f'[output]\ndirectory = "{tmp_path / "out"}"\n[cluster]\n{cluster}\n{fleet}')
    return path


@pytest.fixture(autouse=True)
def _community(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLER_TEST_COMMUNITY", "public")


@pytest.mark.parametrize(("cluster", "message"), [
    ("", "cluster.redis: missing (a redis:// or rediss:// address, or cluster.sentinels)"),
    ('redis = "http://x"', ("cluster.redis: 'http://x' is not a redis://, rediss:// or unix:// "
                           "address")),
    ('redis = "redis://u:hunter2@h:6379"', ("cluster.redis: holds a password: use "
                                           "cluster.password_file or cluster.password_credential")),
    ('redis = "redis://h"\nlease = "0.5s"', None),
    ('redis = "redis://h"\nhost = "a b"', "cluster.host: 'a b' is not a name"),
    ('sentinels = ["h"]', "cluster.sentinels[0]: 'h' is not host:port"),
    ('redis = "redis://h"\npassword_file = "/nonexistent/pw"', ("cluster.password_file: cannot "
                                                               "read /nonexistent/pw")),
    ('redis = "redis://h"\nleese = 3', "unknown key 'leese'"),
])
def test_cluster_mistakes_are_one_line(tmp_path: Path, cluster: str, message: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, cluster))
    line = str(caught.value)
    assert "\n" not in line and "hunter2" not in line
    assert message is None or message in line, line
    assert message is not None or "cluster.lease" in line


def test_cluster_settings_and_a_password_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "redis.pw"
    secret.write_text("s3cret\n")
    config = load_config(_write(tmp_path, f'redis = ["rediss://h:6380", "redis://g"]\n'
                                          f'host = "poller-a"\nlease = "4s"\nstrict = true\n'
                                          f'password_file = "{secret}"'))
    cluster = config.cluster
    assert cluster is not None
    assert (cluster.redis, cluster.host, cluster.lease_s, cluster.strict, cluster.password) == \
        (("rediss://h:6380", "redis://g"), "poller-a", 4.0, True, "s3cret")
    assert "s3cret" not in repr(cluster)


def test_a_cached_pushed_fleet_replaces_the_file_s_fleet_sections_only(tmp_path: Path) -> None:
    path = _write(tmp_path, 'redis = "redis://h"')
    pushed = FLEET.replace('name = "sw1"', 'name = "pushed-sw"') + '[daemon]\nworkers = 9\n'
    state = default_state_directory(tmp_path / "fleet.toml")
    state.mkdir(parents=True, exist_ok=True)
    (state / "cluster-fleet.json").write_text(json.dumps({"version": 4, "text": pushed}))
    config = load_config(path)
    assert [d.name for d in config.devices] == ["pushed-sw"]
    assert config.daemon.workers == 1  # the host's own sections stay its own
    assert config.cluster is not None and config.cluster.fleet_version == 4
    (state / "cluster-fleet.json").write_text("{not json")
    with pytest.raises(ConfigError, match="cluster: .*cluster-fleet.json: not a pushed fleet"):
        load_config(path)


def test_push_refuses_inline_secrets_in_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, 'redis = "redis://127.0.0.1:1"',
                  FLEET.replace('community_env = "POLLER_TEST_COMMUNITY"', 'community = "pw1"'))
    with pytest.raises(ConfigError) as caught:
        validated(path)
    assert str(caught.value) == (
        f"{path}: a pushed fleet must not hold communities or keys inline (they would be "
        "stored in Redis): use *_file, *_env or *_credential")
    text, settings = validated(_write(tmp_path, 'redis = "redis://127.0.0.1:1"'))
    assert "sw1" in text and settings.redis == ("redis://127.0.0.1:1",)




def test_a_pushed_fleet_is_checked_against_this_host_s_file_before_it_is_cached(
        tmp_path: Path) -> None:
    path = _write(tmp_path, 'redis = "redis://h"')
    pushed = FLEET.replace('name = "sw1"', 'name = "pushed-sw"')
    config = load_with_fleet(path, 7, pushed)
    assert [d.name for d in config.devices] == ["pushed-sw"]
    assert config.cluster is not None and config.cluster.fleet_version == 7
    # valid where it was pushed, not here: this host lacks the variable
    missing = pushed.replace("POLLER_TEST_COMMUNITY", "POLLER_NOT_HERE")
    with pytest.raises(ConfigError) as caught:
        load_with_fleet(path, 8, missing)
    line = str(caught.value)
    assert line.startswith(f"pushed fleet version 8: {path}: ") and "POLLER_NOT_HERE" in line
    assert "\n" not in line
    with pytest.raises(ConfigError, match=r"^pushed fleet version 9: .*TOML syntax"):
        load_with_fleet(path, 9, "[[devices]\n")
    # a damaged cache does not hide the fleet being checked
    state = default_state_directory(tmp_path / "fleet.toml")
    state.mkdir(parents=True, exist_ok=True)
    (state / "cluster-fleet.json").write_text("{not json")
    assert load_with_fleet(path, 7, pushed).devices == config.devices


def test_a_member_s_own_file_may_list_no_devices_a_pushed_fleet_may_not(tmp_path: Path) -> None:
    own = FLEET.split("[[devices]]")[0]
    config = load_config(_write(tmp_path, 'redis = "redis://h"', own))
    assert config.devices == () and config.slowest_interval_s == 60.0
    # the refusal stays for a fleet without [cluster] and for an empty pushed fleet
    alone = tmp_path / "alone.toml"
    alone.write_text(own)
    with pytest.raises(ConfigError, match=r"alone.toml: devices: no devices"):
        load_config(alone)
    with pytest.raises(ConfigError, match=r"^pushed fleet version 3: .*devices: no devices"):
        load_with_fleet(tmp_path / "fleet.toml", 3, own)
    state = default_state_directory(tmp_path / "fleet.toml")
    state.mkdir(parents=True, exist_ok=True)
    (state / "cluster-fleet.json").write_text(json.dumps({"version": 3, "text": own}))
    with pytest.raises(ConfigError, match=r"devices: no devices"):
        load_config(tmp_path / "fleet.toml")


@pytest.mark.parametrize(("workers", "shown"), [("2", 2), ('"auto"', usable_cores())])
def test_check_accepts_workers_with_cluster(tmp_path: Path, workers: str, shown: int) -> None:
    """A member polls its share in worker processes: `check` says how many."""
    if shown == 1:
        pytest.skip("workers = auto is 1 here")
    path = _write(tmp_path, 'redis = "redis://127.0.0.1:1"',
                  f"[daemon]\nworkers = {workers}\n{FLEET}")
    done = subprocess.run([sys.executable, "-m", "poller", "check", "--config", str(path)],
                          capture_output=True, text=True, timeout=20, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert f"  workers      {shown}: " in done.stdout


def test_run_accepts_workers_with_cluster(tmp_path: Path) -> None:
    """`run --workers 2` starts its workers with [cluster], Redis out of reach or not, and
    stops on SIGTERM (nothing to hand over without Redis)."""
    path = _write(tmp_path, 'redis = "redis://127.0.0.1:1"\nhost = "a"\nlease = "4s"')
    events = tmp_path / "out" / "events.jsonl"
    with subprocess.Popen([sys.executable, "-m", "poller", "run", "--config", str(path),
                           "--workers", "2"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}) as process:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(_events(events, "worker_started")) < 2:
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert _events(events, "started")[0]["workers"] == 2
    assert sorted(e["worker"] for e in _events(events, "worker_started")) == [0, 1]
    assert _events(events, "cluster_unavailable")
    assert _events(events, "cluster_left")[0]["handed_over"] is False
    assert _events(events, "stopped")


def _events(path: Path, name: str) -> list[dict[str, object]]:
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    return [r for r in map(json.loads, lines) if r["event"] == name]
