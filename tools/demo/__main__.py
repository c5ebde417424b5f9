"""`make run`: a simulated fleet on 127.0.0.1, the daemon polling it in the foreground, and
`poller web` showing its graphs.

snmpsim serves snmpsim-data recordings of real switches, rewritten so that their counters and
sysUpTime advance (rates are non-zero). Every device in the config file must point at 127.0.0.1 and
use one of the recordings' names as its community. With [history], a year of made-up history is
written into the RRD files first (tools/demo/backfill.py), and with [web] the pages are served on
its address, or on a free port when that one is taken. Ctrl-C stops the daemon (it drains), the
web pages and then the simulator.
"""

from __future__ import annotations

import argparse
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from poller.config.load import load_config
from poller.config.model import Config
from tests.agents import prepare_recordings, start_snmpsim, wait_ready
from tools.demo.backfill import backfill, summary

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
        web = None
        try:
            wait_ready("127.0.0.1", ports[0], communities[0])
            if config.history is not None:
                started = time.monotonic()
                made = backfill(config, data_dir)
                print(summary(made, time.monotonic() - started, config.history.directory),
                      file=sys.stderr)
            web = _start_web(config)
            return _run_daemon(args.config)
        finally:
            if web is not None:
                _stop(web)
            sim.terminate()
            sim.wait(10)


def _start_web(config: Config) -> subprocess.Popen[bytes] | None:
    """`poller web` on [web] listen, or on a free port of its host when that one is taken."""
    if config.web is None:
        return None
    host, port = config.web.host, config.web.port
    if not _free(host, port):
        port = _free_port(host)
    listen = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    web = subprocess.Popen([sys.executable, "-m", "poller", "web", "--config", str(config.path),
                            "--listen", listen], stderr=subprocess.DEVNULL)
    print(f"demo: graphs on http://{listen}/ (day graphs gain the last minute's polls every "
          "minute; week, month and year show the made-up history)", file=sys.stderr)
    return web


def _free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C reached it too (one process group); otherwise SIGTERM, by its pid."""
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.terminate()
        process.wait(10)


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
