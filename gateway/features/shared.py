"""What the features of a gateway's calls share: its tenants' counts, its transcript log, its diarizer."""

from __future__ import annotations

from dataclasses import dataclass

from ..core.tenant import Tenants
from ..diarization.pool import Diarizer
from ..outputs.transcript_log import TranscriptLog


@dataclass(frozen=True, slots=True, kw_only=True)
class Shared:
    """The gateway's parts that features use; None where a listener has none (the raw TCP door's calls
    count against no tenant, have no log and no speakers)."""

    tenants: Tenants | None = None
    transcripts: TranscriptLog | None = None
    diarizer: Diarizer | None = None
