"""Twilio Media Streams at ``/twilio``: a phone call's audio, one channel per track.

Twilio connects as TwiML's ``<Stream>`` says and sends ``connected``, ``start``, 20 ms μ-law
``media`` and ``stop``. Each track is a channel with its own pipeline session (0 ``inbound``, the
caller; 1 ``outbound``); gaps in a track's timestamps are filled with silence, so audio time stays
the call's. The call's id is the ``streamSid``. Twilio reads no transcripts from this socket: they
belong to the call's followers, and are also sent here as JSON for a test or proxy. With
``--twilio-auth-token`` the handshake's ``X-Twilio-Signature`` is checked against
``--twilio-public-url``, never a URL made of the client's ``Host`` header; it signs nothing but
the URL, so a replay cannot be told from Twilio's next call (docs/security.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlsplit

from common.config import option
from common.errors import ConfigError, ErrorCode, ProtocolError

from ..core import events
from . import kit
from .base import CloseFrame, Door, Outgoing
from .kit import CallState
from .telephony import TrackClock, language_of

TRACKS = ("inbound", "outbound")  # channel order; Twilio's names are the parties
MAX_SEQUENCE = 10**15  # a chunk number or a timestamp (ms: 30,000 years) past this is no Twilio's


def signature(auth_token: str, url: str) -> str:
    """Twilio's request signature of a GET ``url`` (no form parameters): base64 HMAC-SHA1."""
    digest = hmac.new(auth_token.encode(), url.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


DEFAULT_PORTS = {"wss": 443, "ws": 80}


def public_url(text: str) -> str:
    """``--twilio-public-url``: the ``wss://`` URL given to Twilio (``ws://`` for a local test), without a query."""
    parts = urlsplit(text.strip())
    _ = parts.port  # a port that is no number raises ValueError now, not at the first handshake
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise ValueError("give the wss:// URL of <Stream url>, e.g. wss://voice.example.com/twilio (Twilio "
                         "connects media streams with wss:// only)")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("give the URL without a query, fragment or user (the request's query is signed with it)")
    return parts.geturl()


def signed_urls(public: str, target: str) -> list[str]:
    """The URLs Twilio may have signed for a request to ``target`` through ``public``: the public
    URL with the request's query, its host with and without the scheme's default port."""
    parts = urlsplit(public)
    query = target.partition("?")[2]
    default = DEFAULT_PORTS[parts.scheme]
    host = parts.netloc
    hosts = [host]
    if parts.port == default:
        hosts.append(host.rpartition(":")[0])
    elif parts.port is None:
        hosts.append(f"{host}:{default}")
    return [parts._replace(netloc=name, query=query).geturl() for name in hosts]


def _sequence(value: object, name: str) -> int:
    """Twilio sends counters as strings of digits (ASCII ones: ``"²".isdigit()`` is true, ``int("²")`` fails)."""
    number = kit.decimal(value, kind=int) if isinstance(value, str) else value
    if isinstance(number, bool) or not isinstance(number, int) or not 0 <= number <= MAX_SEQUENCE:
        raise ProtocolError(ErrorCode.PROTOCOL, f"{name} must be a non-negative integer, not {value!r:.40}")
    return number


def _object(body: dict, name: str) -> dict:
    value = body.get(name)
    if not isinstance(value, dict):
        raise ProtocolError(ErrorCode.PROTOCOL, f"a {body.get('event')} message needs a {name!r} object")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class TwilioOptions:
    # Set: the X-Twilio-Signature of each handshake must be valid for public_url.
    auth_token: str | None = field(default=None, repr=False, metadata=option(
        "Twilio auth token: /twilio then requires a valid X-Twilio-Signature header (with --twilio-public-url)",
        flag="--twilio-auth-token", secret=True, file=True))
    public_url: str | None = field(default=None, metadata=option(
        "the URL Twilio is given for /twilio (<Stream url>, without its query), e.g. "
        "wss://voice.example.com/twilio: signatures are checked against it, not against the Host header",
        flag="--twilio-public-url", parse=public_url))

    def __post_init__(self) -> None:
        if self.auth_token and not self.public_url:
            raise ConfigError("--twilio-auth-token needs --twilio-public-url, the URL Twilio signs: the Host "
                              "header is the client's to choose")


class TwilioDoor(Door):
    name: ClassVar[str] = "twilio"
    options_class: ClassVar[type] = TwilioOptions

    def __init__(self, handshake, **options) -> None:
        super().__init__(handshake, **options)
        token = self.options.auth_token
        if token:
            self._check_signature(token, self.options.public_url)
        self.stream_sid = ""
        self.call_sid = ""
        self.state = CallState.AWAITING_OPEN  # OPEN at start, CLOSING at stop
        self.tracks: tuple[str, ...] = ()
        self.clocks: dict[str, TrackClock] = {}
        self.chunks: dict[str, int] = {}  # track -> last chunk number

    def _check_signature(self, token: str, public: str) -> None:
        given = self.handshake.headers.get("X-Twilio-Signature", "")
        # As bytes: compare_digest refuses str that is not ASCII, and a header may be anything.
        if not given or not any(hmac.compare_digest(given.encode(), signature(token, url).encode())
                                for url in signed_urls(public, self.handshake.target)):
            raise kit.refusal(403, {"error": str(ErrorCode.FORBIDDEN),
                                    "message": "X-Twilio-Signature is missing or does not match the public URL "
                                               "(--twilio-public-url) and auth token"})

    # -- Twilio to core --------------------------------------------------------------

    def receive(self, message: str | bytes) -> list[events.Operation]:
        if isinstance(message, bytes):
            raise ProtocolError(ErrorCode.PROTOCOL, "Twilio Media Streams send JSON text messages, not binary")
        body = kit.parse_json(message)
        kind = body.get("event")
        if kind == "connected":
            return []
        if kind == "start":
            return self._start(body)
        if kind in ("media", "dtmf", "mark", "stop") and self.state is CallState.AWAITING_OPEN:
            raise ProtocolError(ErrorCode.CONFIG_REQUIRED, f"{kind!r} before 'start'; the stream starts with "
                                                           "'connected' and 'start'")
        if self.state is CallState.CLOSING and kind in ("media", "stop"):
            raise ProtocolError(ErrorCode.PROTOCOL, f"{kind!r} after 'stop'")
        if kind == "media":
            return self._media(_object(body, "media"))
        if kind in ("dtmf", "mark"):
            return [events.KeepAlive()]  # key presses and playback marks: no audio, no results
        if kind == "stop":
            self.state = CallState.CLOSING
            return [events.Close()]
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown event {kind!r}; Twilio sends connected, start, "
                                                    "media, dtmf, mark and stop")

    def _start(self, body: dict) -> list[events.Operation]:
        if self.state is not CallState.AWAITING_OPEN:
            raise ProtocolError(ErrorCode.PROTOCOL, "the stream already started")
        start = _object(body, "start")
        self.stream_sid = kit.string(start.get("streamSid"), "start.streamSid", nonempty=True,
                                     expected="a non-empty string", code=ErrorCode.PROTOCOL)
        call_sid = start.get("callSid")
        self.call_sid = "" if call_sid is None else kit.string(call_sid, "start.callSid", nonempty=True,
                                                               expected="a non-empty string", code=ErrorCode.PROTOCOL)
        tracks = start.get("tracks", ["inbound"])
        if (not isinstance(tracks, list) or not tracks or len(set(tracks)) != len(tracks)
                or not set(tracks) <= set(TRACKS)):
            raise ProtocolError(ErrorCode.BAD_CONFIG, f"start.tracks must list 'inbound' and/or 'outbound', "
                                                      f"not {tracks!r}")
        media = kit.mapping(start.get("mediaFormat", {}), "start.mediaFormat")
        encoding, rate, channels = (media.get("encoding", "audio/x-mulaw"), media.get("sampleRate", 8000),
                                    media.get("channels", 1))
        if encoding != "audio/x-mulaw" or channels != 1 or isinstance(rate, bool) or not isinstance(rate, int):
            raise ProtocolError(ErrorCode.BAD_CONFIG, f"mediaFormat must be audio/x-mulaw, one channel, an integer "
                                                      f"sampleRate; got {encoding!r}, {channels!r}, {rate!r}")
        parameters = kit.mapping(start.get("customParameters") or {}, "start.customParameters")
        context = kit.string(parameters.get("context", ""), "the context parameter")
        self.tracks = tuple(track for track in TRACKS if track in tracks)
        self.state = CallState.OPEN
        config = kit.session_config(sample_rate=rate, encoding="mulaw", channels=len(self.tracks), multichannel=True,
                                    language=language_of(parameters.get("language"), "the language parameter"),
                                    context=context)
        self.clocks = {track: TrackClock(rate=rate, name=f"the {track} track") for track in self.tracks}
        self.chunks = {track: 0 for track in self.tracks}
        return [events.Open(config, call_id=self.stream_sid, parties=self.tracks)]

    def _media(self, media: dict) -> list[events.Operation]:
        track = media.get("track", "inbound")
        if track not in self.clocks:
            raise ProtocolError(ErrorCode.BAD_AUDIO, f"media.track {track!r} is not one of this stream's tracks "
                                                     f"({', '.join(self.tracks)})")
        channel = self.tracks.index(track)
        chunk = _sequence(media.get("chunk"), "media.chunk")
        timestamp = _sequence(media.get("timestamp"), "media.timestamp")
        payload = media.get("payload")
        try:
            audio = base64.b64decode(payload, validate=True) if isinstance(payload, str) else None
        except (binascii.Error, ValueError):
            audio = None
        if audio is None:
            raise ProtocolError(ErrorCode.BAD_AUDIO, "media.payload must be base64 μ-law audio")
        if chunk <= self.chunks[track]:
            raise ProtocolError(ErrorCode.BAD_AUDIO, f"{track} chunk {chunk} after chunk {self.chunks[track]}: "
                                                     "repeated or out of order; dropped")
        self.chunks[track] = chunk
        clock = self.clocks[track]
        silence = clock.fill_to(timestamp * clock.rate // 1000)  # may raise: that frame is dropped
        clock.advance(len(audio))
        operations: list[events.Operation] = [events.Audio(silence, channel)] if silence else []
        if audio:
            operations.append(events.Audio(audio, channel))
        return operations

    # -- core to Twilio ------------------------------------------------------------

    def render(self, event: events.Event) -> list[Outgoing]:
        if isinstance(event, events.Ended):
            return [CloseFrame(event.close_code, event.reason[:120])]
        if isinstance(event, events.Transcript):
            return [json.dumps(self._transcript(event), ensure_ascii=False)]
        if isinstance(event, events.Error):
            return [json.dumps({"event": "error", "streamSid": self.stream_sid, "code": str(event.code),
                                "message": event.message, "fatal": event.fatal}, ensure_ascii=False)]
        return []  # opened, speech started, utterance end, flushed: nothing Twilio or a follower needs here

    def _transcript(self, event: events.Transcript) -> dict:
        final = isinstance(event, events.Final)
        message: dict[str, object] = {"event": "final" if final else "partial", "streamSid": self.stream_sid,
                   "callSid": self.call_sid, "channel": event.channel, "party": self.tracks[event.channel],
                   "session_id": event.session_id, "utterance_id": event.utterance_id, "text": event.text,
                   "start_ms": event.start_ms, "end_ms": event.end_ms, "language": event.language}
        if isinstance(event, events.Final):
            message["is_speech_final"] = event.speech_final
        if event.confidence is not None:
            message["confidence"] = round(event.confidence, 4)
        return message
