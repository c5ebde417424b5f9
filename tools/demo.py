"""`make run`: a simulated fleet on 127.0.0.1 and the daemon polling it in the foreground.

snmpsim serves snmpsim-data recordings of real switches, rewritten so that their counters and
sysUpTime advance (rates are non-zero). Every device in the config file must point at 127.0.0.1 and
use one of the recordings' names as its community. Ctrl-C stops the daemon (it drains) and then the
simulator.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from poller.config.load import load_config
from tests.agents import prepare_recordings, start_snmpsim, wait_ready

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(ROOT / "config" / "demo.toml"))
    args = parser.parse_args()
    config = load_config(args.config)
    ports = sorted({d.port for d in config.devices})
    if len(ports) != 1 or any(d.host != "127.0.0.1" for d in config.devices):
        raise SystemExit(f"{args.config}: the demo fleet serves one port on 127.0.0.1")
    communities = sorted({d.credential.community.reveal() for d in config.devices})
    with tempfile.TemporaryDirectory(prefix="poller-demo-") as tmp:
        data_dir = Path(tmp) / "data"
        prepare_recordings(data_dir, communities, advancing=True)
        print(f"demo: snmpsim on 127.0.0.1:{ports[0]} serving {', '.join(communities)}",
              file=sys.stderr)
        sim = start_snmpsim(data_dir, ports[0], Path(tmp) / "snmpsim.log")
        try:
            wait_ready("127.0.0.1", ports[0], communities[0])
            return _run_daemon(args.config)
        finally:
            sim.terminate()
            sim.wait(10)


def _run_daemon(config: str) -> int:
    """The daemon in the foreground; Ctrl-C reaches it through the terminal's process group."""
    daemon = subprocess.Popen([sys.executable, "-m", "poller", "run", "--config", config, "--console"])
    # From here on Ctrl-C is the daemon's business: it drains on the first, forces on the second.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = daemon.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
    return 0 if code in (0, -signal.SIGINT) else code


if __name__ == "__main__":
    raise SystemExit(main())
