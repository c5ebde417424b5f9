"""What a simulated device answers: a snmpsim-data recording or a synthetic 20-port switch, held
as a sorted table of OIDs with their varbinds encoded once. Counters and sysUpTime are the only
values encoded per answer: they grow with time, at a rate scaled per device.

Answers are built from templates: the same request to the same model always selects the same
entries, so the selection (bisect, GET/GETNEXT/GETBULK rules) is computed once per request shape
and cached; each answer only fills in the moving values of its device.
"""

from __future__ import annotations

import bisect
import bz2
from pathlib import Path
from typing import NamedTuple

from tools.fleet import codec
from tools.fleet.codec import Request

SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
#: answers stay below the largest UDP datagram; GETBULK returns fewer repetitions past this
MAX_ANSWER_BYTES = 65_000
MAX_TEMPLATES = 50_000


class Moving(NamedTuple):
    """A value that grows with time: (initial + offset + rate x factor x seconds) mod modulus."""

    name: bytes  # the encoded OID TLV
    tag: int
    initial: int
    rate: float  # per second, before the device's factor
    modulus: int
    #: counters take the device's factor and offset; sysUpTime advances at 100 ticks/s for all
    per_device: bool


Part = bytes | Moving


class Device(NamedTuple):
    model: Model
    factor: float  # rate multiplier, so devices of one model differ
    offset: int  # added to every counter
    uptime_offset: int  # ticks added to sysUpTime


class Template(NamedTuple):
    error_status: int
    error_index: int
    parts: list[Part] | None  # None: echo the request's varbinds (v1 errors)


def varbind(name: bytes, value: bytes) -> bytes:
    return codec.tlv(codec.SEQUENCE, name + value)


def render(template: Template, request: Request, device: Device, elapsed_s: float) -> bytes:
    """The whole response message for `request` to `device`, `elapsed_s` into the run."""
    if template.parts is None:
        return codec.response(request, request.varbind_list, template.error_status,
                              template.error_index)
    chunks = []
    for part in template.parts:
        if isinstance(part, bytes):
            chunks.append(part)
            continue
        name, tag, initial, rate, modulus, per_device = part
        if per_device:
            value = initial + device.offset + int(rate * device.factor * elapsed_s)
        else:
            value = initial + device.uptime_offset + int(rate * elapsed_s)
        chunks.append(varbind(name, codec.unsigned(tag, value % modulus)))
    return codec.response(request, b"".join(chunks), template.error_status, template.error_index)


class Model:
    def __init__(self, name: str, items: dict[tuple[int, ...], Part]) -> None:
        self.name = name
        self.oids = sorted(items)
        self.parts = [items[oid] for oid in self.oids]
        self.names = [codec.tlv(codec.OID, codec.oid_content(oid)) for oid in self.oids]
        self.position = {oid: i for i, oid in enumerate(self.oids)}
        self._templates: dict[tuple[int, int, int, int, bytes], Template] = {}

    def __len__(self) -> int:
        return len(self.oids)

    def template(self, request: Request) -> Template | None:
        """What to answer (None: drop the request, as agents drop a v1 GETBULK)."""
        key = (request.version, request.pdu, request.a, request.b, request.varbind_list)
        found = self._templates.get(key)
        if found is None:
            found = self._build(request)
            if found is None:
                return None
            if len(self._templates) >= MAX_TEMPLATES:
                self._templates.clear()
            self._templates[key] = found
        return found

    def _build(self, request: Request) -> Template | None:
        oids = [codec.oid_arcs(name) for name in request.names]
        v1 = request.version == 0
        if request.pdu == codec.GET:
            return self._get(oids, v1)
        if request.pdu == codec.GET_NEXT:
            return self._get_next(oids, request.names, v1)
        if request.pdu == codec.GET_BULK and not v1:
            return self._get_bulk(oids, request.names, request.a, request.b)
        return None

    def _get(self, oids: list[tuple[int, ...]], v1: bool) -> Template:
        parts: list[Part] = []
        for i, oid in enumerate(oids):
            at = self.position.get(oid)
            if at is not None:
                parts.append(self.parts[at])
            elif v1:
                return Template(codec.NO_SUCH_NAME, i + 1, None)
            else:
                # snmpsim's answer for any absent OID (net-snmp's snmpd would say noSuchObject
                # where the object itself is unknown); the poller reads both as absent
                parts.append(varbind(_name(oid), bytes((codec.NO_SUCH_INSTANCE, 0))))
        return Template(0, 0, parts)

    def _get_next(self, oids: list[tuple[int, ...]], names: list[bytes], v1: bool) -> Template:
        parts: list[Part] = []
        for i, oid in enumerate(oids):
            at = bisect.bisect_right(self.oids, oid)
            if at < len(self.oids):
                parts.append(self.parts[at])
            elif v1:
                return Template(codec.NO_SUCH_NAME, i + 1, None)
            else:
                parts.append(_end_of_mib(codec.tlv(codec.OID, names[i])))
        return Template(0, 0, parts)

    def _get_bulk(self, oids: list[tuple[int, ...]], names: list[bytes], non_repeaters: int,
                  max_repetitions: int) -> Template:
        """RFC 3416 4.2.3: the first N varbinds once, then up to M rows of the others; the rows
        stop after one that is all endOfMibView, or before the answer outgrows a datagram."""
        count = min(max(non_repeaters, 0), len(oids))
        head = self._get_next(oids[:count], names[:count], v1=False).parts or []
        parts: list[Part] = list(head)
        size = sum(_size(p) for p in parts)
        cursors = [bisect.bisect_right(self.oids, oid) for oid in oids[count:]]
        last = [codec.tlv(codec.OID, name) for name in names[count:]]
        for _ in range(max(max_repetitions, 0) if cursors else 0):
            row: list[Part] = []
            ended = 0
            for j, at in enumerate(cursors):
                if at < len(self.oids):
                    row.append(self.parts[at])
                    last[j] = self.names[at]
                    cursors[j] = at + 1
                else:
                    row.append(_end_of_mib(last[j]))
                    ended += 1
            row_size = sum(_size(p) for p in row)
            if size + row_size > MAX_ANSWER_BYTES:
                break
            parts.extend(row)
            size += row_size
            if ended == len(cursors):
                break
        return Template(0, 0, parts)


def _name(oid: tuple[int, ...]) -> bytes:
    return codec.tlv(codec.OID, codec.oid_content(oid))


def _end_of_mib(name: bytes) -> bytes:
    return varbind(name, bytes((codec.END_OF_MIB_VIEW, 0)))


def _size(part: Part) -> int:
    return len(part) if isinstance(part, bytes) else len(part.name) + 13


# -- recordings -----------------------------------------------------------------------------


def recording(path: Path) -> Model:
    """A `.snmprec` (or `.snmprec.bz2`) file: `OID|TAG|VALUE` lines; TAG with `x` means the value
    is hex. Counter32/Counter64 advance from the recorded value at a rate that differs per line
    (as tests/agents.py makes snmpsim do for `make run`), and sysUpTime at 100 ticks/s."""
    raw = path.read_bytes()
    if path.suffix == ".bz2":
        raw = bz2.decompress(raw)
    items: dict[tuple[int, ...], Part] = {}
    for n, line in enumerate(raw.splitlines()):
        fields = line.split(b"|", 2)
        if len(fields) != 3 or line.startswith(b"#"):
            continue
        oid = tuple(int(arc) for arc in fields[0].split(b"."))
        items[oid] = _recorded(oid, fields[1].decode(), fields[2], n)
    name = path.name.split(".snmprec")[0]
    return Model(name, items)


_UNSIGNED_TAGS = {65: codec.COUNTER32, 66: codec.GAUGE32, 67: codec.TIMETICKS, 70: codec.COUNTER64}


def _recorded(oid: tuple[int, ...], tag_text: str, value: bytes, n: int) -> Part:
    is_hex = tag_text.endswith("x")
    tag = int(tag_text.rstrip("x"))
    content = bytes.fromhex(value.decode()) if is_hex else value
    name = _name(oid)
    if tag == 2:
        return varbind(name, codec.integer(int(value)))
    if tag in (4, 68):
        return varbind(name, codec.tlv(tag if tag == 4 else codec.OPAQUE, content))
    if tag == 5:
        return varbind(name, b"\x05\x00")
    if tag == 6:
        return varbind(name, codec.tlv(codec.OID, codec.oid_content(
            tuple(int(a) for a in value.split(b".")))))
    if tag == 64:
        address = content if is_hex else bytes(int(b) for b in value.split(b"."))
        return varbind(name, codec.tlv(codec.IPADDRESS, address))
    if tag in _UNSIGNED_TAGS:
        number = int(value)
        if tag in (65, 70):
            modulus = 2**32 if tag == 65 else 2**64
            rate = 1000 + (n * 7919) % 250_000
            return Moving(name, _UNSIGNED_TAGS[tag], number % modulus, rate, modulus, True)
        if oid == SYS_UPTIME:
            return Moving(name, codec.TIMETICKS, number, 100.0, 2**32, False)
        return varbind(name, codec.unsigned(_UNSIGNED_TAGS[tag], number % 2**32))
    raise ValueError(f"{oid}: unknown snmprec tag {tag_text}")


# -- a synthetic switch ---------------------------------------------------------------------

SYSTEM = (1, 3, 6, 1, 2, 1, 1)
IF_NUMBER = (1, 3, 6, 1, 2, 1, 2, 1, 0)
IF_ENTRY = (1, 3, 6, 1, 2, 1, 2, 2, 1)
IFX_ENTRY = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1)
ENTERPRISE = (1, 3, 6, 1, 4, 1, 8072, 3, 2, 10)  # net-snmp's Linux sysObjectID
#: the counter columns of ifTable / ifXTable: column -> its rate as a share of the port's octets/s
IF_COUNTERS = {10: 1.0, 11: 1 / 700, 12: 1 / 9000, 13: 1 / 1e6, 14: 1 / 4e6, 15: 1 / 2e6,
               16: 0.8, 17: 0.8 / 700, 18: 0.8 / 9000, 19: 1 / 2e6, 20: 1 / 8e6}
IFX_COUNTERS = {2: 1 / 9000, 3: 1 / 20000, 4: 1 / 9000, 5: 1 / 20000,
                6: 1.0, 7: 1 / 700, 8: 1 / 9000, 9: 1 / 20000,
                10: 0.8, 11: 0.8 / 700, 12: 0.8 / 9000, 13: 0.8 / 20000}


def synthetic_switch(ports: int = 20) -> Model:
    """A switch with `ports` gigabit ports: system group, ifNumber, ifTable (22 columns) and
    ifXTable (19 columns). Port p moves about (1 + p) MB/s in, 80 % of that out; the last port's
    64-bit counters start just below 2^64 so they wrap within the first minutes."""
    items: dict[tuple[int, ...], Part] = {}
    fixed = _Fixed(items)
    fixed(SYSTEM + (1, 0), codec.tlv(codec.OCTETS, f"poller fleet switch, {ports} ports".encode()))
    fixed(SYSTEM + (2, 0), codec.tlv(codec.OID, codec.oid_content(ENTERPRISE)))
    uptime = SYSTEM + (3, 0)
    items[uptime] = Moving(_name(uptime), codec.TIMETICKS, 0, 100.0, 2**32, False)
    fixed(SYSTEM + (4, 0), codec.tlv(codec.OCTETS, b"noc@example.net"))
    fixed(SYSTEM + (5, 0), codec.tlv(codec.OCTETS, b"fleet-switch"))
    fixed(SYSTEM + (6, 0), codec.tlv(codec.OCTETS, b"loopback"))
    fixed(SYSTEM + (7, 0), codec.integer(6))
    fixed(IF_NUMBER, codec.integer(ports))
    for port in range(1, ports + 1):
        _port(items, fixed, port, last=port == ports)
    return Model(f"synthetic-{ports}", items)


class _Fixed:
    """Adds a value that does not move."""

    def __init__(self, items: dict[tuple[int, ...], Part]) -> None:
        self.items = items

    def __call__(self, oid: tuple[int, ...], value: bytes) -> None:
        self.items[oid] = varbind(_name(oid), value)


def _port(items: dict[tuple[int, ...], Part], fixed: _Fixed, port: int, last: bool) -> None:
    rate = 1_000_000.0 * (1 + port)
    up = port % 7 != 0
    mac = bytes((0x02, 0x00, 0x5E, 0x10, 0x00, port))
    for column, value in {
        1: codec.integer(port), 2: codec.tlv(codec.OCTETS, f"GigabitEthernet0/{port}".encode()),
        3: codec.integer(6), 4: codec.integer(1500), 5: codec.unsigned(codec.GAUGE32, 10**9),
        6: codec.tlv(codec.OCTETS, mac), 7: codec.integer(1), 8: codec.integer(1 if up else 2),
        9: codec.unsigned(codec.TIMETICKS, 0), 21: codec.unsigned(codec.GAUGE32, 0),
        22: codec.tlv(codec.OID, codec.oid_content((0, 0))),
    }.items():
        fixed(IF_ENTRY + (column, port), value)
    for column, value in {
        1: codec.tlv(codec.OCTETS, f"Gi0/{port}".encode()), 14: codec.integer(1),
        15: codec.unsigned(codec.GAUGE32, 1000), 16: codec.integer(2), 17: codec.integer(1),
        18: codec.tlv(codec.OCTETS, f"uplink {port}".encode() if port <= 2 else b""),
        19: codec.unsigned(codec.TIMETICKS, 0),
    }.items():
        fixed(IFX_ENTRY + (column, port), value)
    start64 = 2**64 - int(rate * 90) if last else 10**12 * port
    for entry, counters, width in ((IF_ENTRY, IF_COUNTERS, 32), (IFX_ENTRY, IFX_COUNTERS, 64)):
        for column, share in counters.items():
            oid = entry + (column, port)
            wide = width == 64
            initial = (start64 if share >= 0.8 and wide else 10**9 * port) % 2**width
            tag = codec.COUNTER64 if wide else codec.COUNTER32
            items[oid] = Moving(_name(oid), tag, initial, rate * share if up else 0.0, 2**width,
                                True)
