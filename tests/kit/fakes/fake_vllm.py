"""FAKE vLLM: the API surface the qwen3-vllm engine uses, with no GPU and no model.

A test double at the vLLM boundary, not vLLM: ``AsyncEngineArgs``, ``AsyncLLM`` (``from_engine_args``,
``generate``, ``abort``, ``shutdown``), ``SamplingParams``, ``RequestOutputKind`` and ``Logprob``,
as far as the engine uses them. Like vLLM it checks the prompt's audio placeholder and shape,
refuses a duplicate request id (stricter than vLLM, which suffixes ids), ends an aborted request with ``finish_reason="abort"`` and aborts
one whose consumer stops. Requests really run concurrently, one "token" (character) at a time, so
a test can count them in flight (``wait_for_in_flight``) and hold them (``gate``); answers come
from a ``responder`` (:func:`echo_responder`, or :class:`TranscriptResponder`, which plays a
reference transcript in proportion to the audio as a streaming recogniser would).
"""

from __future__ import annotations

import asyncio
import enum
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

FAKE = True  # so that a test can assert it is talking to the fake


class RequestOutputKind(enum.Enum):
    CUMULATIVE = 0
    DELTA = 1
    FINAL_ONLY = 2


@dataclass
class SamplingParams:
    temperature: float = 1.0
    max_tokens: int | None = 16
    output_kind: RequestOutputKind = RequestOutputKind.CUMULATIVE
    logprobs: int | None = None


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


class AsyncEngineArgs:
    """Records the engine arguments it was given."""

    def __init__(self, **kwargs) -> None:
        self.kwargs = kwargs


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str | None = None
    logprobs: list[dict[int, Logprob]] | None = None
    cumulative_logprob: float | None = None


@dataclass
class RequestOutput:
    request_id: str
    outputs: list[CompletionOutput]
    finished: bool


@dataclass
class FakeRequest:
    request_id: str
    prompt: str
    audio: np.ndarray
    sample_rate: int
    sampling_params: SamplingParams
    aborted: asyncio.Event = field(default_factory=asyncio.Event)
    priority: int = 0

    @property
    def assistant(self) -> str:
        """The pre-filled assistant text (after the last ``<|im_start|>assistant\\n``)."""
        return self.prompt.rsplit("<|im_start|>assistant\n", 1)[-1]


def letter_logprob(token: str) -> float:
    """Default "model" certainty: letters and spaces likely, anything else less so."""
    return math.log(0.95) if token.isalpha() or token == " " else math.log(0.6)


def echo_responder(request: FakeRequest) -> str:
    return "language English<asr_text>hello"


class TranscriptResponder:
    """Play ``reference`` at ``chars_per_second`` of audio, like a streaming recogniser.

    The "recognised" transcript of ``n`` seconds of audio is the first
    ``n * chars_per_second`` characters of ``reference`` (all of it for a final).
    If the prompt pre-fills ``language X<asr_text>`` the answer is text only;
    if it pre-fills a prefix the answer continues after it (a prefix that is
    not a prefix of the transcript is continued anyway, as a model would).
    Silent audio (all zeros) answers ``language None<asr_text>``.
    """

    def __init__(self, reference: str, *, language: str = "English", chars_per_second: float = 4.0) -> None:
        self.reference = reference
        self.language = language
        self.chars_per_second = chars_per_second

    def __call__(self, request: FakeRequest) -> str:
        assistant = request.assistant
        match = re.match(r"language (\w+)<asr_text>", assistant)
        prefix = assistant[match.end():] if match else ""
        if not np.any(request.audio):
            return "" if match else "language None<asr_text>"
        seconds = len(request.audio) / request.sample_rate
        heard = self.reference[: int(seconds * self.chars_per_second)]
        if len(heard) < len(prefix):
            heard = prefix
        body = heard[len(prefix):] if heard.startswith(prefix) else heard
        return body if match else f"language {self.language}<asr_text>{body}"


class AsyncLLM:
    """FAKE ``vllm.v1.engine.async_llm.AsyncLLM``."""

    def __init__(self, engine_args: AsyncEngineArgs) -> None:
        self.engine_args = engine_args
        self.responder: Callable[[FakeRequest], str] = echo_responder
        self.token_logprob: Callable[[str], float] = letter_logprob
        self.gate: asyncio.Event | None = None
        self.requests: list[FakeRequest] = []
        self.in_flight: dict[str, FakeRequest] = {}
        self.max_in_flight = 0
        self.aborted: list[str] = []
        self.finished: list[str] = []
        self.shut_down = False
        self._waiters: list[tuple[int, asyncio.Event]] = []

    @classmethod
    def from_engine_args(cls, engine_args: AsyncEngineArgs) -> AsyncLLM:
        return cls(engine_args)

    async def generate(self, prompt: dict, sampling_params: SamplingParams, request_id: str, *, priority: int = 0):
        if self.shut_down:
            raise RuntimeError("fake engine is shut down")
        request = self._validate(prompt, sampling_params, request_id)
        if priority != 0 and self.engine_args.kwargs.get("scheduling_policy") != "priority":
            # vLLM's own check (its input processor) in the same words.
            raise ValueError(f"Got priority {priority} but Priority scheduling is not enabled.")
        request.priority = priority
        self.requests.append(request)
        self.in_flight[request_id] = request
        self.max_in_flight = max(self.max_in_flight, len(self.in_flight))
        self._notify()
        try:
            if self.gate is not None:
                await self.gate.wait()
            text = self.responder(request)
            limit = sampling_params.max_tokens or len(text)
            steps = text[:limit]
            reason = "length" if len(text) > limit else "stop"
            for i in range(1, len(steps) + 1):
                if request.aborted.is_set():
                    break
                await asyncio.sleep(0)  # one engine step: let other requests run
                if sampling_params.output_kind is not RequestOutputKind.FINAL_ONLY and i < len(steps):
                    yield self._output(request_id, steps[:i], None, sampling_params, finished=False)
            if request.aborted.is_set():
                yield self._output(request_id, "", "abort", sampling_params, finished=True)
                return
            self.finished.append(request_id)
            yield self._output(request_id, steps, reason, sampling_params, finished=True)
        except (asyncio.CancelledError, GeneratorExit):
            # vLLM aborts a request whose consumer went away.
            await self.abort(request_id)
            raise
        finally:
            self.in_flight.pop(request_id, None)

    async def abort(self, request_id: str | Iterable[str]) -> None:
        ids = [request_id] if isinstance(request_id, str) else list(request_id)
        for rid in ids:
            request = self.in_flight.get(rid)
            if request is not None and not request.aborted.is_set():
                request.aborted.set()
                self.aborted.append(rid)

    def shutdown(self) -> None:
        self.shut_down = True

    async def wait_for_in_flight(self, count: int, *, timeout: float = 5.0) -> None:
        """Wait until ``count`` requests are in flight at once (TimeoutError otherwise)."""
        event = asyncio.Event()
        self._waiters.append((count, event))
        self._notify()
        await asyncio.wait_for(event.wait(), timeout)

    # -- helpers ---------------------------------------------------------------

    def _notify(self) -> None:
        for count, event in self._waiters:
            if len(self.in_flight) >= count:
                event.set()

    def _validate(self, prompt: dict, params: SamplingParams, request_id: str) -> FakeRequest:
        if not isinstance(request_id, str) or not request_id:
            raise TypeError("request_id must be a non-empty str")
        if request_id in self.in_flight:
            raise ValueError(f"Request id {request_id} already running.")
        if not isinstance(params, SamplingParams):
            raise TypeError("sampling_params must be SamplingParams")
        if set(prompt) != {"prompt", "multi_modal_data"}:
            raise TypeError(f"unexpected prompt keys {sorted(prompt)}")
        text = prompt["prompt"]
        if not isinstance(text, str) or text.count("<|audio_pad|>") != 1:
            raise ValueError("prompt must hold exactly one <|audio_pad|> placeholder")
        audio, rate = prompt["multi_modal_data"]["audio"]
        if not isinstance(audio, np.ndarray) or audio.ndim != 1 or audio.dtype != np.float32 or len(audio) == 0:
            raise ValueError("audio must be a non-empty 1-D float32 array")
        return FakeRequest(request_id, text, audio, int(rate), params)

    def _output(self, request_id: str, text: str, reason: str | None, params: SamplingParams, *,
                finished: bool) -> RequestOutput:
        token_ids = [ord(ch) for ch in text]
        completion = CompletionOutput(0, text, token_ids, reason)
        if params.logprobs is not None:
            completion.logprobs = [{ord(ch): Logprob(self.token_logprob(ch), 1, ch)} for ch in text]
            completion.cumulative_logprob = sum(p[ord(ch)].logprob for p, ch in zip(completion.logprobs, text))
        return RequestOutput(request_id, [completion], finished)
