"""The Oid value type: parsing, SNMP ordering, prefix and index arithmetic."""

from __future__ import annotations

import pytest

from poller.oid import Oid


@pytest.mark.parametrize(
    "text, arcs",
    [
        ("1.3.6.1", (1, 3, 6, 1)),
        (".1.3.6.1.2.1.1.3.0", (1, 3, 6, 1, 2, 1, 1, 3, 0)),
        (" 1.3.6.1.4.1.9 ", (1, 3, 6, 1, 4, 1, 9)),
        ("1.3.6.1.2.1.2.2.1.10.4294967295", (1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 4294967295)),
    ],
)
def test_parse_accepts_numeric_oids(text: str, arcs: tuple[int, ...]) -> None:
    assert Oid.parse(text) == arcs


@pytest.mark.parametrize(
    "text", ["", ".", "1", "1.3.x", "1..3", "3.1.2", "1.3.4294967296", "1.3.-1", "１.3"]
)
def test_parse_rejects_what_is_not_an_oid(text: str) -> None:
    with pytest.raises(ValueError):
        Oid.parse(text)


def test_str_round_trips_and_repr_is_readable() -> None:
    oid = Oid.parse(".1.3.6.1.2.1.1.5.0")
    assert str(oid) == "1.3.6.1.2.1.1.5.0"
    assert Oid.parse(str(oid)) == oid
    assert repr(oid) == "Oid('1.3.6.1.2.1.1.5.0')"


def test_ordering_is_snmp_lexicographic_not_textual() -> None:
    oids = [Oid.parse(t) for t in ("1.3.6.1.10", "1.3.6.1.9", "1.3.6.1.9.1", "1.3.6.1")]
    assert [str(o) for o in sorted(oids)] == ["1.3.6.1", "1.3.6.1.9", "1.3.6.1.9.1", "1.3.6.1.10"]


def test_prefix_tests() -> None:
    column = Oid.parse("1.3.6.1.2.1.2.2.1.10")
    assert Oid.parse("1.3.6.1.2.1.2.2.1.10.7").startswith(column)
    assert column.startswith(column)
    assert not Oid.parse("1.3.6.1.2.1.2.2.1.100.7").startswith(column)
    assert not Oid.parse("1.3.6.1.2.1.2.2.1").startswith(column)
    assert not Oid.parse("1.3.6.1.2.1.2.2.1.11.7").startswith(column)


def test_index_after_and_concatenation_stay_oids() -> None:
    column = Oid.parse("1.3.6.1.2.1.4.20.1.1")
    oid = column + (10, 0, 0, 1)
    assert isinstance(oid, Oid)
    assert oid.index_after(column) == (10, 0, 0, 1)
    with pytest.raises(ValueError):
        Oid.parse("1.3.6.1.2.1.1").index_after(column)
