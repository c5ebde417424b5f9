"""The soak's private network: a namespace of its own whose loopback loses (and, with netem,
delays) packets; the soak runs inside it and the namespace goes away afterwards, whatever
happened. Nothing outside the namespace is touched."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from typing import Any

from tools.soak.settings import NETNS, OUT, ROOT, Settings

#: the inner run's wait beyond its own length (start-up, drain, the analysis)
SLACK_S = 1800.0


def missing_privilege() -> str | None:
    """Why the soak cannot build its network here, or None."""
    if os.geteuid() != 0:
        return "soak: needs root (a network namespace with packet loss on its loopback)"
    for tool in ("ip", "tc", "chattr"):
        if shutil.which(tool) is None:
            return f"soak: needs `{tool}` (iproute2, e2fsprogs)"
    return None


def run_inside(settings: Settings) -> int:
    """Create the namespace, add the faults, run `python -m tools.soak --inside` in it."""
    _ip("netns", "del", NETNS, check=False)
    _ip("netns", "add", NETNS)
    inner: subprocess.Popen[bytes] | None = None
    try:
        _ip("-n", NETNS, "link", "set", "lo", "up")
        network = add_faults(settings.netem)
        env = {**os.environ, "SOAK_NETWORK": json.dumps(network)}
        inner = subprocess.Popen(
            ["ip", "netns", "exec", NETNS, sys.executable, "-m", "tools.soak", "--inside"],
            cwd=ROOT, env=env)
        try:
            return inner.wait(settings.seconds + SLACK_S)
        except subprocess.TimeoutExpired:
            print("soak: the run did not end in time; stopped", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        return 130
    finally:
        if inner is not None and inner.poll() is None:
            inner.send_signal(signal.SIGTERM)
            try:
                inner.wait(120)
            except subprocess.TimeoutExpired:
                inner.kill()
                inner.wait(10)
        _release_output()
        _ip("netns", "del", NETNS, check=False)


def add_faults(netem: str) -> dict[str, Any]:
    """netem on the namespace's loopback; where the kernel has no netem, the loss with an
    nftables rule and the delay at the simulated switches (a kernel without sch_netem cannot
    delay packets). Says what it did."""
    done = subprocess.run(
        ["ip", "netns", "exec", NETNS, "tc", "qdisc", "add", "dev", "lo", "root", "netem",
         *netem.split()], capture_output=True, text=True, check=False)
    if done.returncode == 0:
        return {"netem": netem, "delay": True, "loss": True}
    why = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "tc failed"
    loss = re.search(r"loss\s+([0-9.]+)%", netem)
    per_mille = round(10 * float(loss.group(1))) if loss else 0
    if not per_mille or shutil.which("nft") is None:
        return {"netem": None, "delay": False, "loss": False,
                "why": f"netem: {why}; no nft for the loss"}
    # dropped on the way in: a drop on the way out fails the sender's sendto() with EPERM,
    # which a lossy network never does
    rules = ("table inet poller_soak {\n chain in {\n"
             "  type filter hook input priority 0; policy accept;\n"
             f'  iifname "lo" meta l4proto udp numgen random mod 1000 < {per_mille} drop\n'
             " }\n}\n")
    added = subprocess.run(["ip", "netns", "exec", NETNS, "nft", "-f", "-"], input=rules,
                           text=True, capture_output=True, check=False)
    if added.returncode != 0:
        return {"netem": None, "delay": False, "loss": False,
                "why": f"netem: {why}; nft: {added.stderr.strip().splitlines()[0]}"}
    done_what: dict[str, Any] = {
        "netem": None, "delay": False, "loss": True,
        "loss_rule": f"nftables: {per_mille / 10:g}% of UDP datagrams on lo dropped",
        "why": f"netem: {why} (the kernel has no sch_netem): loss on lo"}
    delay = re.search(r"delay\s+([0-9.]+)ms(?:\s+([0-9.]+)ms)?", netem)
    if delay:  # the simulated switches hold their answers instead
        done_what.update(delay=True, responder_delay_ms=float(delay.group(1)),
                         responder_jitter_ms=float(delay.group(2) or 0),
                         delay_rule=f"the simulated switches hold each answer {delay.group(1)} ms"
                                    f" +/- {delay.group(2) or 0} ms")
    return done_what


def _release_output() -> None:
    """A run stopped during its output fault leaves a directory that refuses changes: undo."""
    for records in OUT.glob("run-*/records"):
        subprocess.run(["chattr", "-i", str(records)], capture_output=True, check=False)


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], capture_output=not check, check=check)
