"""What a soak run does, from the environment (SOAK_*), and the fleet it polls."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from tests import hostile_agent

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "bench-out" / "soak"
NETNS = "poller-soak"
FLEET_BASE_PORT = 20000
HOSTILE_BASE_PORT = 40000
#: healthy devices the responder serves beyond the starting fleet, for good reloads to add
SPARES = 12
#: rows of every hostile agent's interface table (tests.hostile_agent's default)
HOSTILE_ROWS = 8
#: hostile modes that can never yield a complete interface table: an `ok` poll of them is false
INCOMPLETE_MODES = ("silent", "garbage", "endless", "non_increasing", "looping",
                    "wrong_request_id")
#: hostile modes that answer completely, only badly (late, twice, with noise, in a flood)
COMPLETE_MODES = ("duplicate", "late", "noisy")
#: a flood of replies and stray request-ids, where the agent offers it
FLOOD_MODES = ("flooding", "flood")


@dataclass(frozen=True)
class Settings:
    seconds: float
    devices: int
    interval_s: float
    ports: int
    hostile_each: int
    hup_every_s: float
    netem: str
    fault_s: float
    keep_records: bool

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        seconds = float(env.get("SOAK_SECONDS", "1800"))
        return cls(
            seconds=seconds,
            devices=int(env.get("SOAK_DEVICES", "2000")),
            interval_s=float(env.get("SOAK_INTERVAL", "30")),
            ports=int(env.get("SOAK_PORTS", "8")),
            hostile_each=int(env.get("SOAK_HOSTILE_EACH", "2")),
            # "every few minutes" over 30 min; at least ~8 of them in a short run
            hup_every_s=float(env.get("SOAK_HUP_EVERY", str(min(180.0, max(15.0, seconds / 10))))),
            netem=env.get("SOAK_NETEM", "delay 20ms 5ms loss 1%"),
            fault_s=float(env.get("SOAK_FAULT_SECONDS", str(min(120.0, max(20.0, seconds / 9))))),
            keep_records=env.get("SOAK_KEEP_RECORDS", "") not in ("", "0"),
        )

    @property
    def poll_deadline_s(self) -> float:
        return 0.9 * self.interval_s


def hostile_modes() -> list[str]:
    """The misbehaviours the soak mixes in: those tests.hostile_agent offers of ours."""
    flood = [m for m in FLOOD_MODES if m in hostile_agent.MODES][:1]
    return [m for m in (*INCOMPLETE_MODES, *COMPLETE_MODES) if m in hostile_agent.MODES] + flood


@dataclass(frozen=True)
class Plan:
    """Who is who: names, ports and what each device should answer."""

    healthy: int  # fleet-00000 .. of the starting fleet
    hostile: dict[str, tuple[int, str]]  # name -> (port, mode)

    @classmethod
    def make(cls, settings: Settings) -> Plan:
        hostile: dict[str, tuple[int, str]] = {}
        for mode in hostile_modes():
            # one endless table is load enough (it runs to the poll deadline every interval)
            count = 1 if mode == "endless" else settings.hostile_each
            for i in range(count):
                hostile[f"hostile-{mode}-{i}"] = (HOSTILE_BASE_PORT + len(hostile), mode)
        return cls(healthy=max(1, settings.devices - len(hostile)), hostile=hostile)

    @staticmethod
    def healthy_name(i: int) -> str:
        return f"fleet-{i:05d}"

    @property
    def served(self) -> int:
        """Healthy devices the responder serves: the starting fleet and the spares."""
        return self.healthy + SPARES

    def expected_rows(self, device: str, ports: int) -> tuple[int, bool]:
        """(rows a complete interface table has, whether the agent can give it at all)."""
        if device in self.hostile:
            return HOSTILE_ROWS, self.hostile[device][1] not in INCOMPLETE_MODES
        return ports, True
