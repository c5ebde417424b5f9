"""The scale fleet's device models (tools/fleet): moving values, wraps, request shapes, and the
fleet file the scale run writes. Requests are built and answers read with poller's codec; the
responder's own codec is judged against snmpsim in tests/integration/test_fleet_responder.py."""

from __future__ import annotations

from pathlib import Path

from poller.config.load import load_config
from poller.oid import Oid
from poller.snmp import ber
from poller.snmp.types import Kind
from tools.bench import scale
from tools.fleet import codec, models
from tools.fleet.models import Device

SWITCH = models.synthetic_switch(20)
UPTIME = Oid.parse("1.3.6.1.2.1.1.3.0")
IF_IN_OCTETS_1 = Oid.parse("1.3.6.1.2.1.2.2.1.10.1")
HC_IN_OCTETS = Oid.parse("1.3.6.1.2.1.31.1.1.1.6")


def ask(device: Device, pdu: int, oids: list[Oid], elapsed_s: float, a: int = 0, b: int = 0,
        version: int = ber.VERSION_2C) -> ber.Response:
    message = ber.encode_request(version, b"public", pdu, 7, a, b,
                                 ber.varbind_list([ber.null_varbind(ber.encode_oid(o)) for o in oids]))
    request = codec.decode_request(message)
    template = device.model.template(request)
    assert template is not None
    return ber.decode_response(models.render(template, request, device, elapsed_s))


def test_uptime_and_counters_advance_with_time() -> None:
    device = Device(SWITCH, factor=1.0, offset=0, uptime_offset=0)
    before = ask(device, ber.GET, [UPTIME, IF_IN_OCTETS_1], 10.0).varbinds
    after = ask(device, ber.GET, [UPTIME, IF_IN_OCTETS_1], 20.0).varbinds
    assert after[0].value - before[0].value == 1000  # 100 ticks/s
    assert before[1].kind is Kind.COUNTER32
    assert after[1].value - before[1].value == 2_000_000 * 10  # port 1: 2 MB/s


def test_devices_of_one_model_differ() -> None:
    one = Device(SWITCH, factor=0.5, offset=0, uptime_offset=0)
    two = Device(SWITCH, factor=1.5, offset=99, uptime_offset=500)
    a = ask(one, ber.GET, [IF_IN_OCTETS_1], 10.0).varbinds[0].value
    b = ask(two, ber.GET, [IF_IN_OCTETS_1], 10.0).varbinds[0].value
    assert b - a == 99 + 2_000_000 * 10


def test_counters_wrap_at_their_width() -> None:
    device = Device(SWITCH, factor=1.0, offset=0, uptime_offset=0)
    port20 = HC_IN_OCTETS + (20,)
    early = ask(device, ber.GET, [port20], 0.0).varbinds[0]
    late = ask(device, ber.GET, [port20], 200.0).varbinds[0]  # starts 90 s before the wrap
    assert early.kind is Kind.COUNTER64 and early.value > 2**63
    assert late.value < early.value
    assert (late.value - early.value) % 2**64 == 21_000_000 * 200
    wrapped32 = ask(device, ber.GET, [IF_IN_OCTETS_1], 10_000.0).varbinds[0].value
    assert wrapped32 == (10**9 + 2_000_000 * 10_000) % 2**32


def test_getbulk_walks_twenty_rows_then_leaves_the_column() -> None:
    device = Device(SWITCH, factor=1.0, offset=0, uptime_offset=0)
    answer = ask(device, ber.GET_BULK, [HC_IN_OCTETS], 1.0, a=0, b=25).varbinds
    assert len(answer) == 25
    assert [vb.oid for vb in answer[:20]] == [HC_IN_OCTETS + (p,) for p in range(1, 21)]
    assert not answer[20].oid.startswith(HC_IN_OCTETS)


def test_end_of_the_mib() -> None:
    device = Device(SWITCH, factor=1.0, offset=0, uptime_offset=0)
    last = Oid(SWITCH.oids[-1])
    v2 = ask(device, ber.GET_BULK, [last], 1.0, a=0, b=5).varbinds
    assert [vb.kind for vb in v2] == [Kind.END_OF_MIB]
    v1 = ask(device, ber.GET_NEXT, [UPTIME, last], 1.0, version=ber.VERSION_1)
    assert (v1.error_name, v1.error_index) == ("noSuchName", 2)


def test_the_scale_fleet_file_loads(tmp_path: Path) -> None:
    settings = scale.Settings(sizes=(3,), seconds=60, small_seconds=60, interval_s=60,
                              warmup_s=60, responders=1, ports=20, keep_records=False)
    path = tmp_path / "fleet.toml"
    path.write_text(scale.fleet_toml(settings, 3, tmp_path / "records"))
    config = load_config(path)
    assert [d.port for d in config.devices] == [scale.BASE_PORT + i for i in range(3)]
    device = config.devices[0]
    assert device.interval_s == 60
    scalars = sum(len(group) for _, group in device.scalar_groups)
    columns = sum(len(table.columns) for table in device.tables)
    assert scalars + 20 * columns == 206  # ~200 values per poll of a 20-port switch
