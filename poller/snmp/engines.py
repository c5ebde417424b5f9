"""Which Requester does the work: the built-in codec on one UDP socket ("builtin", the default
for v1/v2c) or pysnmp ("pysnmp", the reference). pysnmp is imported only when chosen."""

from __future__ import annotations

from poller.snmp.client import Requester

ENGINES = ("builtin", "pysnmp")
DEFAULT_ENGINE = "builtin"


def make_requester(engine: str) -> Requester:
    if engine == "pysnmp":
        from poller.snmp.pysnmp_requester import PysnmpRequester

        return PysnmpRequester()
    if engine == "builtin":
        from poller.snmp.udp_requester import UdpRequester

        return UdpRequester()
    raise ValueError(f"unknown SNMP engine {engine!r} (allowed: {', '.join(ENGINES)})")
