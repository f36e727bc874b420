"""The ASR stage: what the runner hosts, handing each session to its mode.

Each owned session has a small task that applies its input records in order, and the ends of its
decodes in order with them. A session is decoded in one of two modes, each a strategy
(:class:`~.core.Mode`) over the shared :class:`~.core.Core`: utterance by utterance, with
partials and speculative early finals (:mod:`.live`: live calls, and recordings the engine
cannot pack), or in packs of ended utterances (:mod:`.recording`: recordings with an engine that
times words). :meth:`AsrStage.open` picks the mode and binds it to the session's state. Every
write goes through the session's redactor (:mod:`.redacting`).
"""

from __future__ import annotations

import asyncio
import json

from common.errors import ErrorCode, LeaseLost, SessionGone
from common.languages import ModelLanguages, names_refusal
from common.metrics import AsrMetrics
from common.pipeline_config import AsrConfig
from common.records import SAMPLE_RATE, End, Flush, Record
from common.redaction.names import NameModel
from common.redaction.redactor import Redactor
from common.stage import Input, Runner, Stage

from .core import AsrSession, AsrSessionState, Core, Done, Head, StreamingOptions, final_through
from .engines import Engine
from .language import LanguageVote, allowed
from .live import LiveSessions, LiveState
from .recording import PackState, Recordings
from .redacting import RedactionFilter


CLOSE_TIMEOUT = 10.0  # seconds close() waits for a session's tasks


class AsrStage(Stage[AsrSessionState]):
    """Streaming recognition; the stage owns ``engine`` from :meth:`start` to :meth:`shutdown`."""

    name = "asr"

    def __init__(self, runner: Runner, engine: Engine, *, defaults: StreamingOptions, metrics: AsrMetrics,
                 names: NameModel | None = None) -> None:
        # Every write goes through the session's redactor first (a pass-through without redaction);
        # ``names``: the name model of redact=pii (None: sessions asking for pii are refused).
        self.redaction = RedactionFilter(runner, metrics=metrics, hold_sec=defaults.redact_hold_sec, names=names)
        self.runner = runner
        self.engine = engine
        self.defaults = defaults
        self.metrics = metrics
        core = Core(runner, engine, metrics=metrics, redaction=self.redaction)
        self.live = LiveSessions(core)
        self.packs = Recordings(core)

    async def start(self) -> None:
        await self.engine.start()  # vLLM loads its weights here, before sessions are taken

    async def shutdown(self) -> None:
        await self.engine.close()
        if self.redaction.names is not None:
            self.redaction.names.close()

    def open(self, session: AsrSession, state: bytes | None) -> AsrSessionState:
        config = session.config.asr
        options = self.defaults.for_session(config)
        # Packs need word timings to deal the words back; eager finals need a decode at each pause.
        packed = (session.config.batch and options.batch_pack_sec > 0 and self.engine.times_words
                  and not config.eager_finals)
        head, through = Head.decode(state), final_through(state)
        asr: AsrSessionState
        if packed:
            asr = PackState(options=options, config=config, head=head, final_through=through)
            asr.mode = self.packs.bind(asr)
        else:
            asr = LiveState(options=options, config=config, head=head, final_through=through)
            asr.mode = self.live.bind(asr)
        asr.vote = self._vote(config, options)
        if asr.vote is not None and state:
            asr.vote.restore(json.loads(state).get("language"))
            asr.language = asr.vote.language
        if config.redact:
            saved = json.loads(state).get("redactor") if state else None
            asr.redactor = Redactor(config.redact, hold_gap=round(self.defaults.redact_hold_sec * SAMPLE_RATE),
                                    state=saved)
        asr.task = asyncio.create_task(self._run(session, asr), name=f"asr-{session.session_id}")
        return asr

    def _vote(self, config: AsrConfig, options: StreamingOptions) -> LanguageVote | None:
        """The language vote of a session that names no language, among its own ``languages`` (else
        the worker's ``--detect-languages``) that the model decodes; None where it names one, or the
        model decodes one language only."""
        model = self.engine.languages
        if config.language is not None or model is not None and len(model) < 2:
            return None
        choices = allowed(config.languages or options.detect_languages, model)
        return LanguageVote(choices, settle_sec=options.settle_sec) if choices else None

    def snapshot(self, session: AsrSession) -> bytes | None:
        # Checkpoints fall between utterances, or after an early final (the head); none while the
        # redactor holds finals (clear text, which must not reach Redis: a takeover decodes them again).
        asr = session.state
        body: dict = {}
        if asr.head:
            body["head"] = asr.head.to_list()
        if asr.final_through:
            body["through"] = asr.final_through
        if asr.vote is not None and asr.vote.weights:
            body["language"] = asr.vote.state()
        if asr.redactor is not None:
            if asr.redactor.holding:
                return None
            body["redactor"] = asr.redactor.state()
        return json.dumps(body).encode() if body else b""

    async def close_pending(self, session: AsrSession, marker: Flush | End) -> list[Record]:
        """What the session's mode has to commit before the marker (its checkpoint would pass it)."""
        return await session.state.mode.close_pending(session, marker)

    def active(self, session: AsrSession) -> bool:
        """Counts against the capacity only while an utterance, a decode or other input is in progress."""
        asr = session.state
        return asr.utterance is not None or bool(asr.request_id) or not asr.queue.empty() or asr.mode.busy()

    def ready_for_input(self, session: AsrSession) -> bool:
        return session.state.queue.qsize() < session.state.options.max_pending

    async def process(self, batch: list[tuple[AsrSession, Input]]) -> None:
        for session, records in batch:
            for item in records:
                session.state.queue.put_nowait(item)

    async def close(self, session: AsrSession, reason: str) -> None:
        """Cancel the session's tasks and wait for them (none is left pending to be destroyed).

        Called from the session's own task when it commits the end (that task then
        returns), from its partial decode when a write finds the lease lost, or
        from the runner (drop, drain, shutdown).
        """
        asr = session.state
        current = asyncio.current_task()
        tasks = [task for task in asr.tasks() if task is not None and task is not current]
        for task in tasks:
            task.cancel()
        if asr.request_id:
            await self.engine.abort(asr.request_id)
        if tasks:
            # Bounded: a task that cannot finish (a cycle of tasks closing each other, a
            # library ignoring its cancellation) must not hang the worker's shutdown.
            _, stuck = await asyncio.wait(tasks, timeout=CLOSE_TIMEOUT)
            if stuck:
                session.log.warning("%d task(s) still running %.0f s after close: %s", len(stuck),
                                    CLOSE_TIMEOUT, ", ".join(sorted(t.get_name() for t in stuck)))

    async def readiness(self) -> tuple[bool, dict]:
        return self.engine.ready, {"engine": self.engine.name}

    def describe(self) -> dict:
        """The model's name and languages (None: the engine does not say), and whether redact=pii can
        find names here, for the gateways' checks."""
        languages = self.engine.languages
        return {"model": self.engine.model_name, "languages": None if languages is None else list(languages),
                "names": self.redaction.names is not None}

    # -- per-session task -----------------------------------------------------

    async def _run(self, session: AsrSession, asr: AsrSessionState) -> None:
        # The rules the gateway applies at a call's open to what the fleet announced
        # (gateway/features/languages.py, redaction.py), applied to this worker's own model: a
        # worker of another model (a mixed fleet) refuses a session rather than decode it in a
        # language it was not spoken in, and so does one that claims a session admitted before
        # any worker had announced its model.
        model = ModelLanguages((self.engine.model_name,), None if self.engine.languages is None
                               else frozenset(self.engine.languages), names=self.redaction.names is not None)
        refusal = (model.refusal(asr.config.language, languages=asr.config.languages)
                   or names_refusal(model, asr.config.redact or ()))
        if refusal:
            session.log.warning("refused: %s", refusal)
            await self.runner.report(session, ErrorCode.BAD_CONFIG, refusal, fatal=True)
            return
        try:
            while not session.closed:  # closed by the commit of the end, among others
                wait = asr.mode.idle_after()
                if wait is None:
                    item = await asr.queue.get()
                else:
                    try:  # (a recording whose input stalls has its pack decoded as it is)
                        async with asyncio.timeout(wait):
                            item = await asr.queue.get()
                    except TimeoutError:
                        await asr.mode.idle(session)
                        continue
                if isinstance(item, Done):  # a decode ended: its outcome applied in order with the input
                    await item.run()
                    continue
                entry_id, record = item
                if asr.queue.qsize() == asr.options.max_pending // 2:
                    self.runner.wake(session)
                await asr.mode.apply(session, entry_id, record)
                asr.applied = entry_id
        except (LeaseLost, SessionGone) as exc:
            session.log.info("stopped: %s", exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            session.log.exception("ASR session failed")
            await self.runner.report(session, ErrorCode.INTERNAL, "transcription failed for this session", fatal=True)
