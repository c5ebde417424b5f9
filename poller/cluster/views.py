"""The membership timeline as this host knows it: each change of the members is a view with an
epoch and the instant (Redis time, ms) from which it decides who polls. A tick belongs to the
view in force at its `scheduled_at`, so a handoff happens at one instant on every host: before
it the old owner polls, from it the new one, whatever moment each host learns of it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from poller.cluster import rendezvous

#: views kept (Redis keeps as many): enough for the changes of a few leases
KEPT = 16


@dataclass(frozen=True, slots=True)
class View:
    epoch: int
    from_ms: int
    members: tuple[str, ...]
    #: the members whose lease ran out, which this view removed: their ticks before `from_ms`
    #: that they did not poll are polled late by their successors
    dead: tuple[str, ...] = ()

    @classmethod
    def parse(cls, entry: Any) -> View:
        """A view from its JSON form (the membership script's); ValueError when it is not one."""
        try:
            members = entry["members"]
            if not isinstance(members, list | dict):
                raise TypeError("members")
            # cjson writes an empty list as an empty object
            names = tuple(sorted(str(m) for m in members)) if isinstance(members, list) else ()
            dead = entry.get("dead") or []
            return cls(int(entry["epoch"]), int(entry["from"]), names,
                       tuple(str(d) for d in dead) if isinstance(dead, list) else ())
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a view: {exc}") from None

    def to_json(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "from": self.from_ms, "members": list(self.members),
                "dead": list(self.dead)}


class Timeline:
    """The views known here, by epoch, and this host's share of the fleet in each."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.views: list[View] = []
        self._names: tuple[str, ...] = ()
        self._shares: dict[int, frozenset[str]] = {}

    @property
    def epoch(self) -> int:
        return self.views[-1].epoch if self.views else 0

    def merge(self, views: Iterable[View]) -> bool:
        """Add the views not known yet; True when any was new."""
        known = {v.epoch for v in self.views}
        new = [v for v in views if v.epoch not in known]
        if not new:
            return False
        self.views = sorted(self.views + new, key=lambda v: v.epoch)[-KEPT:]
        return True

    def set_fleet(self, names: Sequence[str]) -> None:
        if tuple(names) != self._names:
            self._names = tuple(names)
            self._shares.clear()

    def at(self, at_ms: int) -> View | None:
        """The view in force at `at_ms`: the newest one whose `from` has come."""
        for view in reversed(self.views):
            if view.from_ms <= at_ms:
                return view
        return None

    def share(self, view: View) -> frozenset[str]:
        """The device names this host polls under `view` (computed once per view)."""
        shared = self._shares.get(view.epoch)
        if shared is None:
            shared = self._shares[view.epoch] = rendezvous.share(self._names, view.members,
                                                                 self.host)
            for epoch in [e for e in self._shares if e < self.views[0].epoch]:
                del self._shares[epoch]
        return shared

    def owns(self, name: str, at_ms: int) -> int | None:
        """The epoch under which this host polls `name` at `at_ms`, or None when it does not."""
        view = self.at(at_ms)
        if view is None or name not in self.share(view):
            return None
        return view.epoch

    def recovers(self, name: str, at_ms: int) -> int | None:
        """The epoch under which this host polls `name`'s tick at `at_ms` late: its owner then
        died before polling it, and a later view gave the device to this host."""
        view = self.at(at_ms)
        if view is None:
            return None
        then = rendezvous.owner(name, view.members)
        for later in self.views:
            if later.epoch > view.epoch and later.from_ms > at_ms and then in later.dead:
                return later.epoch if name in self.share(later) else None
        return None

    def running(self, since_ms: int) -> frozenset[str]:
        """The devices whose schedules run here: owned by a view in force at `since_ms` or after
        (a device handed over keeps its schedule until its last tick here has passed)."""
        first = self.at(since_ms)
        names: set[str] = set()
        for view in self.views:
            if first is None or view.epoch >= first.epoch:
                names |= self.share(view)
        return frozenset(names)
