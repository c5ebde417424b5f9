"""The soak's timeline: start the fleet, the hostile agents and the daemon; then SIGHUPs with good
and broken files, one SIGKILL and a restart, a spell in which the output directory refuses
renames; a daemon that dies on its own is noted and started again. Every wait is bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from tools.soak import fleetfile, procs
from tools.soak.settings import FLEET_BASE_PORT, ROOT, Plan, Settings

#: the loop's step: how soon a death, a due action or an RSS sample is seen
STEP_S = 0.25
#: a daemon that keeps dying is not started more often than this
MAX_RESTARTS = 6
#: a broken file stays in place this long after its SIGHUP, then the last good one returns
BROKEN_FOR_S = 5.0


@dataclass
class Run:
    """One daemon process's life."""

    pid: int
    start: float
    devices: list[str]
    stderr: str
    started: float | None = None
    end: float | None = None
    end_kind: str = "running"  # sigterm | sigkill | died
    exit_code: int | None = None
    rss_kib: list[tuple[float, int]] = field(default_factory=list)


@dataclass
class Log:
    """What the soak did, when (wall-clock seconds), for the analysis."""

    start: float
    runs: list[Run] = field(default_factory=list)
    hups: list[dict[str, Any]] = field(default_factory=list)
    fault: dict[str, float] = field(default_factory=dict)
    kill: float | None = None
    end: float | None = None
    peers_gone: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Log:
        runs = [Run(**{**run, "rss_kib": [tuple(s) for s in run["rss_kib"]]}) for run in raw["runs"]]
        return cls(**{**raw, "runs": runs})


class Soak:
    def __init__(self, settings: Settings, plan: Plan, work: Path,
                 children: procs.Children, network: dict[str, Any] | None = None) -> None:
        self.settings, self.plan, self.work, self.children = settings, plan, work, children
        #: what the namespace's faults are (tools.soak.netns.add_faults)
        self.network = network or {}
        self.records = work / "records"
        self.config = work / "fleet.toml"
        self.variant = fleetfile.Variant()
        self.good_text = fleetfile.good(settings, plan, self.records, self.variant)
        self.daemon: subprocess.Popen[bytes] | None = None
        self.log = Log(start=time.time())
        self.immutable = False
        self.peers: dict[str, subprocess.Popen[bytes]] = {}
        self.sinks: list[IO[bytes]] = []
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "STATE_DIRECTORY": str(work / "state")}

    # -- the peers ---------------------------------------------------------------------------

    def start_agents(self) -> None:
        fleet = self.children.python(
            "tools.fleet", "--devices", str(self.plan.served), "--base-port",
            str(FLEET_BASE_PORT), "--ports", str(self.settings.ports),
            "--delay-ms", str(self.network.get("responder_delay_ms", 0)),
            "--jitter-ms", str(self.network.get("responder_jitter_ms", 0)),
            stdout=subprocess.PIPE, stderr=self._stderr("fleet"), env=self.env)
        if not procs.first_line(fleet, "the fleet").startswith("ready"):
            raise SystemExit("soak: the fleet did not start")
        by_mode: dict[str, list[str]] = {}
        for port, mode in self.plan.hostile.values():
            by_mode.setdefault(mode, []).append(f"{port}={mode}")
        lifetime = str(self.settings.seconds + 900)
        for specs in by_mode.values():  # a process per mode: an endless table slows only itself
            agent = self.children.python(
                "tests.hostile_agent", "--lifetime", lifetime,
                *(arg for spec in specs for arg in ("--agent", spec)),
                stdout=subprocess.PIPE, stderr=self._stderr(f"agents-{specs[0]}"), env=self.env)
            procs.first_line(agent, f"the hostile agents {specs}")
            self.peers[f"agents {'+'.join(specs)}"] = agent
        self.peers["fleet"] = fleet

    def _stderr(self, name: str) -> IO[bytes]:
        sink = open(self.work / f"{name.replace('=', '-')}.stderr", "wb")  # noqa: SIM115
        self.sinks.append(sink)
        return sink

    def peers_gone(self) -> list[str]:
        """The peers that exited before the end (the fleet, an agent): the soak is void then."""
        return [name for name, child in self.peers.items() if child.poll() is not None]

    def start_daemon(self) -> None:
        fleetfile.write(self.config, self.good_text)
        index = len(self.log.runs)
        stderr = self.work / f"poller-{index}.stderr"
        with open(stderr, "wb") as sink:
            daemon = self.children.python("poller", "run", "--config", str(self.config),
                                          stderr=sink, env=self.env)
        run = Run(pid=daemon.pid, start=time.time(), stderr=str(stderr),
                  devices=self._devices())
        self.log.runs.append(run)
        self.daemon = daemon
        if procs.wait_started(self.records, daemon.pid, daemon):
            run.started = time.time()
        else:
            print(f"soak: the daemon (pid {daemon.pid}) did not start; see {stderr}", flush=True)

    def _devices(self) -> list[str]:
        return [self.plan.healthy_name(i) for i in self.variant.healthy(self.plan)] \
            + list(self.plan.hostile)

    # -- the timeline ------------------------------------------------------------------------

    def actions(self) -> list[tuple[float, str, Any]]:
        s = self.settings
        kill_at = s.seconds / 2 + s.hup_every_s / 2
        fault_at = 0.7 * s.seconds
        plan: list[tuple[float, str, Any]] = [(kill_at, "kill", None),
                                              (fault_at, "fault_on", None),
                                              (min(fault_at + s.fault_s, s.seconds - 5), "fault_off", None)]
        k = 0
        for n in range(1, int(s.seconds / s.hup_every_s) + 1):
            at = n * s.hup_every_s
            if at > s.seconds - 5 or abs(at - kill_at) < 10:
                continue
            kind = "good" if k % 2 == 0 else fleetfile.BROKEN[(k // 2) % len(fleetfile.BROKEN)]
            plan.append((at, "hup", kind))
            if kind != "good":
                plan.append((at + min(BROKEN_FOR_S, s.hup_every_s / 3), "restore", None))
            k += 1
        return sorted(plan, key=lambda a: a[0])

    def run(self) -> Log:
        s = self.settings
        todo = self.actions()
        rss_every = max(5.0, min(30.0, s.seconds / 60))
        next_rss = 0.0
        restarts = 0
        end = self.log.start + s.seconds
        for _ in range(int(s.seconds / STEP_S) + 100_000):
            now = time.time()
            if now >= end:
                break
            if self.daemon is not None and self.daemon.poll() is not None:
                restarts += 1
                if restarts > MAX_RESTARTS:
                    raise SystemExit(f"soak: the daemon died {restarts} times; stopped")
                self._died()
            while todo and self.log.start + todo[0][0] <= now:
                _, name, arg = todo.pop(0)
                getattr(self, f"_{name}")(arg)
            if now >= next_rss:
                self._sample_rss()
                next_rss = now + rss_every
            time.sleep(STEP_S)
        self._sample_rss()
        self.log.peers_gone = self.peers_gone()
        self._stop_daemon()
        self.log.end = time.time()
        return self.log

    def _sample_rss(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            rss = procs.rss_kib(self.daemon.pid)
            if rss is not None:
                self.log.runs[-1].rss_kib.append((round(time.time(), 3), rss))

    def _end_run(self, kind: str) -> None:
        assert self.daemon is not None
        run = self.log.runs[-1]
        run.end, run.end_kind, run.exit_code = time.time(), kind, self.daemon.returncode

    def _died(self) -> None:
        self._end_run("died")
        print(f"soak: the daemon exited {self.daemon.returncode if self.daemon else '?'} on its "
              "own; starting it again", flush=True)
        self.start_daemon()

    def _stop_daemon(self) -> None:
        if self.daemon is None or self.daemon.poll() is not None:
            return
        procs.stop(self.daemon, 60.0)
        self._end_run("sigterm")

    # -- the actions (named by `actions`) -----------------------------------------------------

    def _hup(self, kind: str) -> None:
        if kind == "good":
            self.variant = fleetfile.Variant.number(len(self.log.hups) + 1, self.plan)
            self.good_text = fleetfile.good(self.settings, self.plan, self.records, self.variant)
            fleetfile.write(self.config, self.good_text)
        else:
            fleetfile.write(self.config, fleetfile.broken(kind, self.good_text))
        entry: dict[str, Any] = {"t": time.time(), "kind": kind}
        if kind == "good":
            entry["variant"] = asdict(self.variant)
        self.log.hups.append(entry)
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGHUP)

    def _restore(self, _: Any) -> None:
        fleetfile.write(self.config, self.good_text)

    def _kill(self, _: Any) -> None:
        if self.daemon is None or self.daemon.poll() is not None:
            return
        self.log.kill = time.time()
        self.daemon.kill()
        self.daemon.wait(10)
        self._end_run("sigkill")
        self.start_daemon()

    def _fault_on(self, _: Any) -> None:
        self.log.fault["start"] = time.time()
        subprocess.run(["chattr", "+i", str(self.records)], check=True)
        self.immutable = True

    def _fault_off(self, _: Any) -> None:
        self.release()
        self.log.fault["end"] = time.time()

    def release(self) -> None:
        """Let the output directory change again (also on the way out after any failure)."""
        if self.immutable:
            subprocess.run(["chattr", "-i", str(self.records)], check=False)
            self.immutable = False
