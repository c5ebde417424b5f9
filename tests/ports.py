"""Free loopback ports for the agents, servers and relays the tests start, picked below the
kernel's ephemeral range: a port from bind(0) lies inside that range, where every client
socket on the machine (the daemons' own, other tests') is handed a port at random, so one
picked there is now and then taken between the pick and the bind ("Address already in use")."""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 10_000


def free_udp_port() -> int:
    return free_udp_block(1)


def free_tcp_port() -> int:
    for _ in range(200):
        port = random.randrange(LOWEST, _ephemeral_low())
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port on 127.0.0.1 below the ephemeral range")


def free_udp_block(size: int) -> int:
    """A base port whose `size` UDP ports on 127.0.0.1 are free now."""
    low = _ephemeral_low()
    for _ in range(200):
        base = random.randrange(LOWEST, low - size)
        if _udp_free(base, size):
            return base
    raise RuntimeError(f"no {size} free UDP ports in a row on 127.0.0.1")


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _udp_free(base: int, size: int) -> bool:
    held: list[socket.socket] = []
    try:
        for port in range(base, base + size):
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            held.append(probe)
            probe.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        for probe in held:
            probe.close()
