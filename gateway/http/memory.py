"""The memory a gateway's recordings take at once, bounded: one budget of bytes for every pre-recorded request.

A recording is small on the wire and large decoded: a 7 MB MP3 of two hours is
about 230 MB of 16 kHz PCM16, and more while it is decoded (float32 samples
beside their PCM16). Per request the size is bounded (``--prerecorded-max-bytes``,
:data:`gateway.http.media.MAX_SAMPLES`), but a key allowed many sessions could
send many at once. So each request takes from one :class:`MemoryBudget` per gateway
what it will hold before it decodes (its body, decoding's peak: :attr:`Probe.peak_bytes`),
keeps what it holds while it is transcribed (the PCM16 samples, three times that
with ``redact_audio``: its muted copy and the WAV made of it), and gives it back when
its response or callback is done. A request that would go over the budget is
refused at once (503 with ``Retry-After``; 413 when it alone is over the whole
budget), never queued: the client retries, or sends it to another gateway.

The event loop is the only user: no lock.
"""

from __future__ import annotations


class OverBudget(Exception):
    """A request's bytes do not fit now; ``alone``: they are more than the whole budget."""

    def __init__(self, wanted: int, *, free: int, limit: int) -> None:
        self.wanted, self.free, self.limit = wanted, free, limit
        self.alone = wanted > limit
        super().__init__(f"{wanted} bytes wanted, {free} of {limit} free")


class Reservation:
    """Bytes one request holds of a :class:`MemoryBudget`; :meth:`resize` and :meth:`release` change them."""

    def __init__(self, budget: MemoryBudget, nbytes: int) -> None:
        self._budget = budget
        self.nbytes = nbytes

    def resize(self, nbytes: int) -> None:
        """Hold ``nbytes`` from now: fewer (decoding is done) always; more only if they fit (:class:`OverBudget`)."""
        grow = nbytes - self.nbytes
        if grow > 0:
            self._budget._take(grow)
        else:
            self._budget.used += grow
        self.nbytes = nbytes

    def release(self) -> None:
        """Give every byte back (idempotent)."""
        self._budget.used -= self.nbytes
        self.nbytes = 0


class MemoryBudget:
    """``limit`` bytes that the recordings of one gateway may hold at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def reserve(self, nbytes: int) -> Reservation:
        """``nbytes`` held from now, or :class:`OverBudget` if they do not fit."""
        self._take(nbytes)
        return Reservation(self, nbytes)

    def _take(self, nbytes: int) -> None:
        if self.used + nbytes > self.limit:
            raise OverBudget(nbytes, free=self.limit - self.used, limit=self.limit)
        self.used += nbytes
