"""What the benchmarks read from the host: a private network namespace to run in, and a
process's CPU time and memory from /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def rerun_in_namespace(netns: str, module: str, bridges: int = 0) -> int:
    """Run `python -m MODULE --inside` in a fresh network namespace NETNS with its loopback up and
    `bridges` empty bridge interfaces (so that snmpd has a realistic ifTable); the namespace is
    removed afterwards. Ctrl-C (or SIGTERM turned into it) is passed on as SIGTERM."""
    subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)
    subprocess.run(["ip", "netns", "add", netns], check=True)
    try:
        subprocess.run(["ip", "-n", netns, "link", "set", "lo", "up"], check=True)
        if bridges > 0:
            batch = "".join(f"link add port{i} type bridge\n" for i in range(bridges))
            subprocess.run(["ip", "-n", netns, "-batch", "-"], input=batch.encode(), check=True)
        command = ["ip", "netns", "exec", netns, sys.executable, "-m", module, "--inside"]
        inside = subprocess.Popen(command, cwd=ROOT)
        try:
            return inside.wait()
        except KeyboardInterrupt:
            inside.send_signal(signal.SIGTERM)
            return inside.wait()
    finally:
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, check=False)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def status_kib(pid: int, key: str) -> int:
    """A KiB figure of /proc/PID/status (VmRSS, VmHWM...), 0 when it is not there."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0
