"""Rendezvous (highest-random-weight) assignment: a device goes to the member whose hash with the
device's name is highest. A member leaving moves only its own devices (each to the member that
came second for it); a member joining takes only the devices it now wins, about 1/n of them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


def weight(member: str, name: str) -> int:
    """The stable weight of (member, device): 8 bytes of BLAKE2b, the same on every host."""
    digest = hashlib.blake2b(f"{member}\0{name}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(name: str, members: Sequence[str]) -> str | None:
    """The member that polls `name` (ties, which 64-bit weights make unlikely, by member name)."""
    if not members:
        return None
    return max(members, key=lambda member: (weight(member, name), member))


def share(names: Iterable[str], members: Sequence[str], member: str) -> frozenset[str]:
    """The names of `names` that `member` polls among `members`."""
    if member not in members:
        return frozenset()
    return frozenset(name for name in names if owner(name, members) == member)
