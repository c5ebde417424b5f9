"""Random request-ids, as net-snmp and gosnmp draw them. With sequential ones, an agent that
repeats an answer with the request-ids after its own (or an answer that arrives late) has it
taken for the answer to a later request; a random id is one no datagram could have carried
before it was sent."""

from __future__ import annotations

import random
from collections import OrderedDict

#: how many ids issued last are remembered: never issued again while remembered, and an answer
#: carrying one of them is late or repeated rather than to an id never sent
REMEMBERED = 65_536


class RequestIds:
    def __init__(self) -> None:
        self._issued: OrderedDict[int, None] = OrderedDict()
        #: its own generator, seeded from the OS: a seed given to the module's stays apart
        self._random_bits = random.Random().getrandbits

    def new(self) -> int:
        """A random id from 1 to 2**31 - 1 that none of the last REMEMBERED ids repeats."""
        issued = self._issued
        while True:
            request_id = self._random_bits(31)
            if request_id and request_id not in issued:
                break
        issued[request_id] = None
        if len(issued) > REMEMBERED:
            issued.popitem(last=False)
        return request_id

    __call__ = new

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._issued
