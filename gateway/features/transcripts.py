"""A call's transcript log (:mod:`gateway.outputs.transcript_log`) as a feature: registered as the call
opens, fed its partials, its finals with words and its end, handed on with a parked call.

The log is what followers read and what the finals webhooks are fed from (the tenant's own webhook
as the call's policy has it); a call whose id its tenant has in use already runs without one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..calls.call import Call, Plug
from ..calls.feature import Feature
from ..core import events
from ..outputs.transcript_log import CallLog, TranscriptLog
from .shared import Shared


class Transcripts(Feature):
    def __init__(self, call: Call, transcripts: TranscriptLog) -> None:
        self.call = call
        self.transcripts = transcripts
        self.call_log: CallLog | None = None  # for followers; None: this call cannot be followed

    async def open(self, parked: Mapping[str, Any] | None) -> None:
        call, policy = self.call, self.call.policy
        if parked is None:
            self.call_log = await self.transcripts.open_call(
                tenant=policy.tenant, call_id=call.call_id, protocol=call.protocol, parties=call.parties,
                session_ids=tuple(s.session_id for s in call.sessions), redaction=call.config.redaction,
                webhook=policy.webhook, asked=call.config.asked())
        elif parked.get("log_seq") is not None:
            self.call_log = await self.transcripts.adopt_call(
                tenant=policy.tenant, call_id=call.call_id, protocol=call.protocol, parties=call.parties,
                seq=parked["log_seq"], webhook=policy.webhook, language_asked=call.config.language or "")

    async def result(self, event: events.Partial | events.Final) -> None:
        # An empty final is logged when it says speech went unrecognised (no_words), not when it only
        # ends a turn whose words an earlier final had.
        if self.call_log is not None and (isinstance(event, events.Partial) or event.text or event.no_words):
            await self.call_log.add(event)

    async def end(self, ended: events.Ended) -> None:
        if self.call_log is not None:
            self.call_log.end(ended)

    async def close(self, *, parked: bool) -> dict:
        call_log, self.call_log = self.call_log, None
        if parked:  # the resuming gateway goes on with the log from here
            return {"log_seq": await call_log.park() if call_log is not None else None}
        if call_log is not None:
            await call_log.close()
        return {}


def plug(shared: Shared) -> Plug:
    def transcripts(call: Call) -> Transcripts | None:
        return Transcripts(call, shared.transcripts) if shared.transcripts is not None else None
    return transcripts
