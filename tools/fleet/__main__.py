"""`python -m tools.fleet --devices N ...`: serve a simulated fleet until SIGTERM or Ctrl-C.

Prints `ready HOST BASE_PORT DEVICES` on stdout once every device's socket is bound."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests import agents
from tools.fleet import models
from tools.fleet.responder import FleetSpec, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.fleet", description=__doc__)
    parser.add_argument("--devices", type=int, default=100)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=30000)
    parser.add_argument("--community", default="public")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--stats-dir", type=Path)
    parser.add_argument("--ports", type=int, default=20, help="ports of the synthetic switch")
    parser.add_argument("--model", action="append", default=[],
                        help="'synthetic' (default), a recording name of tests/agents.SWITCHES, "
                             "or a .snmprec[.bz2] path; repeat to mix (devices take them in turn)")
    parser.add_argument("--delay-ms", type=float, default=0.0,
                        help="hold each answer this long before it is sent")
    parser.add_argument("--jitter-ms", type=float, default=0.0,
                        help="the delay varies by up to this much either way")
    args = parser.parse_args(argv)
    chosen = tuple(_model(name, args.ports) for name in (args.model or ["synthetic"]))
    if args.stats_dir:
        args.stats_dir.mkdir(parents=True, exist_ok=True)
    spec = FleetSpec(devices=args.devices, models=chosen, host=args.host,
                     base_port=args.base_port, community=args.community.encode(),
                     workers=args.workers, stats_dir=args.stats_dir,
                     delay_s=max(0.0, args.delay_ms) / 1000,
                     jitter_s=min(max(0.0, args.jitter_ms), max(0.0, args.delay_ms)) / 1000)

    def ready() -> None:
        print(f"ready {args.host} {args.base_port} {args.devices}", flush=True)

    return serve(spec, ready)


def _model(name: str, ports: int) -> models.Model:
    if name == "synthetic":
        return models.synthetic_switch(ports)
    if name in agents.SWITCHES:
        return models.recording(agents.RECORDINGS / (agents.SWITCHES[name] + ".snmprec.bz2"))
    path = Path(name)
    if not path.exists():
        raise SystemExit(f"fleet: no model {name!r} (synthetic, {', '.join(agents.SWITCHES)}, "
                         "or a .snmprec path)")
    return models.recording(path)


if __name__ == "__main__":
    sys.exit(main())
