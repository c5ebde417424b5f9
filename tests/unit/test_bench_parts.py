"""The benchmark's own arithmetic: how a snmp_exporter scrape is counted, what its module asks
for, and how the report's medians and ratios come out."""

from __future__ import annotations

import pytest

from tools.bench import exporter, run

SCRAPE = """# HELP ifHCInOctets The total number of octets received on the interface
# TYPE ifHCInOctets counter
ifHCInOctets{ifIndex="1"} 1.234e+06
ifHCInOctets{ifIndex="2"} 0
sysName{sysName="bench-agent"} 1
# HELP snmp_scrape_packets_sent Packets sent for get, bulkget, and walk; including retries.
# TYPE snmp_scrape_packets_sent gauge
snmp_scrape_packets_sent 81
# TYPE snmp_scrape_pdus_returned gauge
snmp_scrape_pdus_returned 1962
snmp_scrape_duration_seconds 0.0412
snmp_scrape_walk_duration_seconds 0.0401
"""


def test_a_scrape_is_counted_by_the_exporters_own_counters() -> None:
    assert exporter.parse_scrape(SCRAPE) == (1962, 81, 3)


def test_a_scrape_without_its_counters_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="snmp_scrape"):
        exporter.parse_scrape("ifHCInOctets{ifIndex=\"1\"} 5\n")


def test_the_exporter_module_does_the_bench_work_unit() -> None:
    text = exporter.module_yaml(run.GETS, run.WALKS, run.REPETITIONS)
    lines = text.splitlines()
    assert lines[0] == f"{exporter.MODULE}:"
    assert "  version: 2" in lines and "  max_repetitions: 25" in lines
    walks = lines[lines.index("  walk:") + 1 : lines.index("  metrics:")]
    gets = lines[lines.index("  get:") + 1 : lines.index("  walk:")]
    assert walks == [f"  - {oid}" for oid in run.WALKS]
    assert gets == [f"  - {oid}" for oid in run.GETS]
    names = [c[0] for c in exporter.IF_COLUMNS + exporter.IF_X_COLUMNS]
    assert len(names) == len(set(names)) == 40
    assert text.count("labelname: ifIndex") == 40


def _row(us_per_vb: float) -> dict[str, float]:
    return {"varbinds_per_poll": 2000.0, "requests_per_poll": 80.0, "cpu_us_per_vb": us_per_vb,
            "cpu_us_per_request": 25 * us_per_vb, "polls_per_s": 1.0}


def test_ratios_are_taken_within_a_round_then_the_median() -> None:
    rounds = [
        {run.BASE: _row(4.0), run.PEER: _row(8.0), run.EXPORTER: _row(10.0)},
        {run.BASE: _row(6.0), run.PEER: _row(6.0), run.EXPORTER: _row(12.0)},
        {run.BASE: _row(5.0), run.PEER: _row(10.0), run.EXPORTER: _row(20.0)},
    ]
    summary = run._summarize(rounds)
    base = summary[run.BASE]
    assert base["cpu_us_per_vb"] == 5.0
    assert base["vs_builtin"] == 1.0
    # per round 0.5, 1.0, 0.5: the median is 0.5, not 5.0 / 8.0
    assert base["vs_snmpbulkwalk"] == 0.5
    assert base["vs_snmp_exporter"] == pytest.approx(0.4)  # 0.4, 0.5, 0.25
    assert summary[run.PEER]["vs_builtin"] == 2.0  # 2.0, 1.0, 2.0
