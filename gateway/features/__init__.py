"""What plugs into a call (:mod:`gateway.calls.feature`): one module per feature, registered here.

Adding a feature is its module (a :class:`~gateway.calls.feature.Feature` and its ``plug``) and
one line in :func:`plugs`.
"""

from __future__ import annotations

from ..calls.call import Plug
from . import analytics, counts, languages, redaction, speakers, transcripts
from .shared import Shared


def plugs(shared: Shared) -> tuple[Plug, ...]:
    """Every feature's plug, in the order a call hands its features its life: the checks first, then
    the counts, what adds to a final before it goes out, what reads the finals, and the log last (it
    records the end after the analytics' summary)."""
    return (
        languages.plug(shared),
        redaction.plug(shared),
        counts.plug(shared),
        speakers.plug(shared),
        analytics.plug(shared),
        transcripts.plug(shared),
    )
