"""The OID value type: a tuple of non-negative ints with parsing and prefix tests."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self


class Oid(tuple[int, ...]):
    """An object identifier. Compares (and so sorts) like the tuple of its arcs,
    which is SNMP's lexicographic order."""

    __slots__ = ()

    def __new__(cls, arcs: Iterable[int] = ()) -> Self:
        return super().__new__(cls, arcs)

    @classmethod
    def parse(cls, text: str) -> Oid:
        """Parse a numeric OID, with or without a leading dot: '1.3.6.1' or '.1.3.6.1'."""
        body = text.strip()
        body = body.removeprefix(".")
        if not body:
            raise ValueError(f"empty OID {text!r}")
        parts = body.split(".")
        if not all(p.isdigit() and p.isascii() for p in parts):
            raise ValueError(f"not a numeric OID: {text!r}")
        arcs = [int(p) for p in parts]
        if len(arcs) < 2 or arcs[0] > 2 or any(a > 0xFFFFFFFF for a in arcs):
            raise ValueError(f"not a valid OID: {text!r}")
        return cls(arcs)

    def __str__(self) -> str:
        return ".".join(map(str, self))

    def __repr__(self) -> str:
        return f"Oid('{self}')"

    def startswith(self, prefix: tuple[int, ...]) -> bool:
        """True when `prefix` is this OID or an ancestor of it."""
        return self[: len(prefix)] == prefix

    def index_after(self, column: tuple[int, ...]) -> tuple[int, ...]:
        """The instance part of this OID below `column` (e.g. the ifIndex)."""
        if not self.startswith(column):
            raise ValueError(f"{self} is not under {Oid(column)}")
        return tuple(self[len(column) :])

    def __add__(self, other: tuple[int, ...]) -> Oid:  # type: ignore[override]
        return Oid(tuple(self) + tuple(other))
