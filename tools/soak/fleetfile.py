"""The fleet files a soak hands the daemon: the starting one, good variants (a few devices added,
removed, changed) and broken ones (bad TOML, a bad value, a value of the wrong type, no devices).
Every file is replaced whole (a temporary file, then rename), as a careful deploy would."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from tools.soak.settings import FLEET_BASE_PORT, SPARES, Plan, Settings

COLUMNS = ("ifName", "ifOperStatus", "ifHCInOctets", "ifHCOutOctets")
#: the broken kinds in the order the SIGHUPs use them (a short run reaches the first three)
BROKEN = ("bad_toml", "bad_type", "empty_fleet", "bad_value")
#: healthy devices each good variant removes, adds (from the spares) and changes
CHURN = 3
#: bytes one poll writes (scalars, a row per port, the summary), to size `max_bytes`
BYTES_PER_ROW = 330


@dataclass(frozen=True)
class Variant:
    """One good fleet: the starting fleet less `removed`, plus `added` (spares), with `changed`
    polled on another timeout."""

    removed: tuple[int, ...] = ()
    added: tuple[int, ...] = ()
    changed: tuple[int, ...] = ()

    @classmethod
    def number(cls, k: int, plan: Plan) -> Variant:
        """The k-th good reload (k >= 1): each differs from the last, so every one of them
        removes, adds back and changes devices."""
        removed = tuple((CHURN * k + i) % plan.healthy for i in range(CHURN))
        added = tuple(plan.healthy + (CHURN * k + i) % SPARES for i in range(CHURN))
        changed = ((plan.healthy - 1 - k) % plan.healthy,)
        return cls(removed, added, tuple(c for c in changed if c not in removed))

    def healthy(self, plan: Plan) -> list[int]:
        gone = set(self.removed)
        return [i for i in range(plan.healthy) if i not in gone] + list(self.added)


def max_bytes(settings: Settings) -> int:
    """Small enough that the data file rotates every few seconds, large enough that the run fits
    in 400 of the 1,000 backups (so the analysis sees every record)."""
    volume = settings.devices * settings.seconds / settings.interval_s \
        * (settings.ports + 2) * BYTES_PER_ROW
    return max(64 * 1024, int(volume / 400))


def good(settings: Settings, plan: Plan, records: Path, variant: Variant) -> str:
    lines = _head(settings, records)
    changed = set(variant.changed)
    for i in variant.healthy(plan):
        lines += ["[[devices]]", f'name = "{plan.healthy_name(i)}"', 'host = "127.0.0.1"',
                  f"port = {FLEET_BASE_PORT + i}"]
        if i in changed:
            lines.append('timeout = "3s"')
        lines.append("")
    for name, (port, _) in plan.hostile.items():
        lines += ["[[devices]]", f'name = "{name}"', 'host = "127.0.0.1"', f"port = {port}", ""]
    return "\n".join(lines)


def broken(kind: str, text: str) -> str:
    """`text` (a good fleet file) spoiled the way `kind` says."""
    if kind == "bad_toml":  # a deploy cut short inside a string
        return text + '\n[[devices]]\nname = "fleet-cut'
    if kind == "bad_value":
        return text.replace("\ninterval = ", '\ninterval = "soon" # ', 1)
    if kind == "bad_type":
        return text.replace('version = "2c"', 'version = ["2c"]', 1)
    if kind == "empty_fleet":
        return text.split("[[devices]]", 1)[0]
    raise ValueError(f"unknown broken kind {kind!r}")


def write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    temporary.chmod(0o600)  # it holds a community
    os.replace(temporary, path)


def _head(settings: Settings, records: Path) -> list[str]:
    return [
        "[daemon]", f"stats_interval = {settings.interval_s:g}", "",
        "[output]", f'directory = "{records}"', f"max_bytes = {max_bytes(settings)}",
        "backups = 1000", "",
        "[defaults]", f"interval = {settings.interval_s:g}", 'timeout = "2s"', "retries = 1",
        'credential = "public"', 'profiles = ["system", "soak"]', "",
        "[credentials.public]", 'version = "2c"', 'community = "public"', "",
        "[[profiles.soak.tables]]", 'name = "interfaces"', f"columns = {json.dumps(COLUMNS)}",
        'bits = ["ifHCInOctets", "ifHCOutOctets"]', "",
    ]
