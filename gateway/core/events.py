"""What passes between a door (a protocol adapter) and the session core.

A door turns its wire format into *operations* (open with a config, audio,
finalize, keep-alive, close) and renders the core's *events* (partial, final,
speech started, utterance end, flushed, error, ended) into its wire format.
Neither side does the other's I/O: doors never see Redis, the core never sees
a socket or a JSON field name.

Times are audio time in milliseconds from the start of the call's audio.
"""

from __future__ import annotations

from dataclasses import dataclass

from common.errors import ErrorCode

from .config import SessionConfig

# -- operations: door to core ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Open:
    """Start the call with ``config`` (once, before any audio).

    ``call_id``: the platform's own id of the call (Twilio's streamSid, the
    AudioHook session id), used as the call's id in results and logs; None: the
    core makes one. A label only: pipeline session ids are always the core's own.
    ``parties``: the platform's name of each channel (Twilio ``inbound``/``outbound``,
    AudioHook ``external``/``internal``), carried on every result followers see.
    """

    config: SessionConfig
    call_id: str | None = None
    parties: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Audio:
    """A frame of client audio in the call's encoding and rate.

    ``channel`` None: interleaved samples of every channel (the call's layout);
    a channel index: mono samples of that channel alone (platforms that send
    each party's track in its own messages).
    """

    data: bytes
    channel: int | None = None


@dataclass(frozen=True, slots=True)
class Finalize:
    """Close the current utterance of every channel now; answered by :class:`Flushed`."""


@dataclass(frozen=True, slots=True)
class KeepAlive:
    """The client is still there although it sends no audio."""


@dataclass(frozen=True, slots=True)
class Close:
    """The client is done: flush, deliver every remaining result, then end the call."""


@dataclass(frozen=True, slots=True)
class Reply:
    """A door's own answer to a client message (e.g. AudioHook's ``pong``).

    The connection queues it with the call's events, unchanged, so the door
    renders it in order with them; the core never sees it.
    """

    message: object


@dataclass(frozen=True, slots=True)
class Resume:
    """Continue the call ``call_id`` that lost its client moments ago (instead of :class:`Open`).

    ``last_seq``: the last numbered message the client received (-1: none), so
    the door can send again what was lost on the way.
    """

    call_id: str
    last_seq: int


Operation = Open | Audio | Finalize | KeepAlive | Close | Reply | Resume

# -- events: core to door ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opened:
    """The call runs; ``session_ids`` holds the pipeline session of each channel. ``model`` names the
    ASR's model ("" unknown) and ``languages`` the codes it decodes (None: it does not say)."""

    call_id: str
    session_ids: tuple[str, ...]
    model: str = ""
    languages: frozenset[str] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Word:
    text: str
    start_ms: int
    end_ms: int
    confidence: float
    speaker: int | None = None  # a diarized live call's (gateway/features/speakers.py)
    speaker_confidence: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Redaction:
    """An entity the session's redaction replaced by ``label`` (``[CREDIT_CARD_1]``), said in
    ``start_ms``..``end_ms``: a recorder can mute its own copy there."""

    entity: str
    label: str
    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcript:
    """Recognised text of one utterance of one channel."""

    channel: int
    session_id: str
    utterance_id: str
    text: str
    start_ms: int
    end_ms: int
    language: str
    words: tuple[Word, ...] = ()
    confidence: float | None = None  # None: the engine gave no figure
    redactions: tuple[Redaction, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Partial(Transcript):
    """The utterance so far; later partials and the final replace it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Final(Transcript):
    """The utterance's one final transcript.

    ``speech_final`` is true when the utterance ended at an endpoint (silence,
    finalize, end of the call), false when very long speech was split.
    ``from_finalize`` is true when a client's finalize closed it. ``truncated``
    is true when the engine's decode looped and could not be recovered: it cut
    the repetition out, and words spoken there may be missing. ``no_words`` is true on
    the empty final of a recording's utterance in which speech was found but the
    recogniser wrote no words: what was spoken there is missing.
    """

    speech_final: bool
    from_finalize: bool = False
    truncated: bool = False
    no_words: bool = False
    speaker: int | None = None  # a diarized live call's: its first word's speaker


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    channel: int
    start_ms: int


@dataclass(frozen=True, slots=True)
class UtteranceEnd:
    """No more words in this utterance: the last one ended at ``last_word_end_ms``."""

    channel: int
    last_word_end_ms: int


@dataclass(frozen=True, slots=True)
class Analytics:
    """A call-analytics event (``data["event"]``: utterance, phrase, interruption, alert) or, with
    ``summary``, the call's end-of-call summary; JSON-ready data (:mod:`gateway.analytics.tracker`).

    Only a call that asked for analytics in its own config gets these from its door.
    """

    data: dict
    summary: bool = False


@dataclass(frozen=True, slots=True)
class Flushed:
    """Every result of the audio before finalize number ``flush_id`` was delivered."""

    flush_id: int


@dataclass(frozen=True, slots=True)
class Error:
    code: ErrorCode
    message: str
    fatal: bool = False


@dataclass(frozen=True, slots=True)
class Ended:
    """The call is over; the door says goodbye and the socket closes with ``close_code``.

    ``complete`` is true only when every result of the call was delivered.
    """

    close_code: int
    reason: str
    complete: bool
    audio_ms: int = 0


@dataclass(frozen=True, slots=True)
class Resumed:
    """A new connection took over the call; the client resends its audio from sample ``offset``.

    ``after_seq``: the last message the client had; the door sends the later ones again.
    """

    call_id: str
    offset: int
    after_seq: int


@dataclass(frozen=True, slots=True)
class Moving:
    """The gateway goes away (SIGTERM) and parked the call: the client should reconnect now and resume it.

    Rendered by resumable doors only, after every event before it; the door closes the socket.
    """

    call_id: str


Event = (Moving | Resumed | Opened | Partial | Final | SpeechStarted | UtteranceEnd | Analytics | Flushed | Error | Ended
         | Reply)
