"""How big a request one agent takes: learnt per device from tooBig, timeouts and success."""

from __future__ import annotations

from poller.errors import SnmpAgentError, SnmpError, SnmpTimeout


def plain_timeout(exc: Exception) -> bool:
    """A timeout with no sign of its cause (not a wrong request-id, source or garbage): one
    that a smaller request may avoid."""
    return isinstance(exc, SnmpTimeout) and exc.error_type == SnmpTimeout.error_type


class RequestSize:
    """How big a request one agent takes. tooBig halves the repetitions first, then the OIDs
    per request; after GROW_AFTER good requests in a row they grow back by a quarter, up to the
    configured limits (so a transient tooBig does not shrink a device for ever).

    A plain timeout of a request with several OIDs, from an agent that has answered before,
    halves the OIDs too (paths that lose large datagrams time out only large requests), and the
    OIDs never grow back beyond that half: probing for the largest size that passes would cost
    a timeout per probe."""

    GROW_AFTER = 16
    __slots__ = ("_ceiling", "_good", "_next_proven", "answered", "bulk", "limits", "oids",
                 "repetitions")

    def __init__(self, max_repetitions: int, max_oids: int) -> None:
        self.limits = (max_repetitions, max_oids)
        self.repetitions = max(1, max_repetitions)
        self.oids = max(1, max_oids)
        #: False once GETBULK failed even with one repetition and GETNEXT then worked: this
        #: agent is walked with GETNEXT
        self.bulk = True
        #: the agent answered since the last request given up on: a timeout may be the size's
        #: fault, not a dead agent's
        self.answered = False
        self._ceiling = self.oids
        self._good = 0
        self._next_proven = True

    def bulk_failed(self) -> None:
        """A GETBULK went unanswered or was refused: quarter the repetitions, and at one try
        GETNEXT (kept only once a GETNEXT has worked)."""
        self._good = 0
        if self.repetitions > 1:
            self.repetitions = max(1, self.repetitions // 4)
        else:
            self.bulk = False
            self._next_proven = False

    def too_big(self, *, repetitions: int = 1, oids: int = 1) -> None:
        self._good = 0
        if repetitions > 1:
            self.repetitions = max(1, repetitions // 2)
        else:
            self.oids = max(1, oids // 2)

    def timed_out(self, oids: int) -> bool:
        """A plain timeout of a request of `oids` OIDs: True when a smaller one is worth a try
        (then the size is halved), False when the request is given up on."""
        if oids > 1 and self.answered:
            self._good = 0
            self.oids = oids // 2
            self._ceiling = min(self._ceiling, self.oids)
            return True
        self.gave_up()
        return False

    def walk_failed(self, exc: SnmpError, oids: int, *, bulk: bool) -> bool:
        """A walk request timed out or was refused (not tooBig): True when it is worth another
        try with the size (or the operation) changed here."""
        if bulk and (plain_timeout(exc) or isinstance(exc, SnmpAgentError)):
            self.bulk_failed()
            return True
        if plain_timeout(exc) and self.timed_out(oids):
            return True
        self.gave_up()
        return False

    def gave_up(self) -> None:
        self.answered = False
        if not self._next_proven:
            # GETNEXT failed as GETBULK did: the agent is down, GETBULK was not the problem
            self.bulk, self._next_proven = True, True

    def worked(self) -> None:
        self.answered = True
        if not self.bulk:
            self._next_proven = True
        self._good += 1
        if self._good >= self.GROW_AFTER:
            self._good = 0
            self.repetitions = min(self.limits[0], self.repetitions + max(1, self.repetitions // 4))
            self.oids = min(self.limits[1], self._ceiling, self.oids + max(1, self.oids // 4))
