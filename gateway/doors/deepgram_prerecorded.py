"""Deepgram's pre-recorded API (``POST /v1/listen``): its query and its response, sans I/O.

The query is the live door's (:class:`gateway.doors.deepgram.LiveSettings`) plus what only a
recording has: ``utterances`` (split at ``utt_split`` pauses), ``paragraphs``, ``callback``,
``diarize`` (one channel), ``sentiment`` (VADER, English), ``search`` (on the recognised words,
not the sounds), ``detect_language``, and this server's own ``analytics`` and ``redact_audio``.
:func:`response` builds Deepgram's ``metadata`` and ``results.channels[].alternatives[]`` from the
call's finals, with every final's words in order. docs/deepgram.md lists every parameter.
"""

from __future__ import annotations

import re
import uuid
from urllib.parse import urlsplit
from dataclasses import dataclass, replace

from common.errors import ConfigError
from common.redaction.audio import MODES

from ..analytics.sentiment import label as sentiment_label
from ..core import events
from ..policy.analytics import parse_phrases
from . import deepgram, deepgram_common, kit

CONTAINER_ENCODINGS = ("flac", "opus", "ogg-opus", "mp3", "wav")
IGNORED_FLAGS = ("summarize", "topics", "intents")
MAX_SEARCH = 50  # Deepgram's limit of search terms per request
CALLBACK_METHODS = ("post", "put")
REDACT_AUDIO = MODES  # redact_audio=silence|tone
_URL_FORBIDS = re.compile(r"[\x00-\x20\x7f-\x9f]")  # CR, LF, NUL, space...: httpx refuses to send such a URL
PARAGRAPH_PAUSE_SEC = 2.0  # silence between two finals that starts a new paragraph
UTT_SPLIT_SEC = 0.8  # Deepgram's default utt_split
UTT_SPLIT_RANGE = (0.05, 3600.0)  # the utt_split a query may ask for, in seconds
SENTENCE_ENDS = (".", "?", "!")
ABBREVIATIONS = frozenset({"mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "jr.", "sr.", "vs.", "e.g.", "i.e."})


def _netloc(url: str) -> str:
    """``url``'s network location (user, password, host, port); :class:`ConfigError` if it is no URL."""
    try:
        return urlsplit(url).netloc
    except ValueError as exc:  # "Invalid IPv6 URL", a bad port
        raise ConfigError(f"invalid value for callback: {exc}") from None


@dataclass(frozen=True, kw_only=True)
class PrerecordedSettings:
    """The query of a pre-recorded request, checked; :class:`ConfigError` names a bad parameter."""

    stream: deepgram.LiveSettings  # what the live door reads
    utterances: bool = False
    utt_split: float = UTT_SPLIT_SEC
    paragraphs: bool = False
    callback: str | None = None
    callback_method: str = "post"
    diarize: bool = False
    sentiment: bool = False
    search: tuple[str, ...] = ()
    analytics: bool = False
    redact_audio: str | None = None  # "silence" or "tone": keep a redacted copy of the recording

    @property
    def call_analytics(self) -> dict | None:
        """The analytics the recording's call runs with (its config's ``analytics``), if any asked for."""
        if not (self.sentiment or self.search or self.analytics):
            return None
        phrases = {"phrases": list(self.search)} if self.search else {}
        return {"sentiment": self.sentiment or self.analytics, **phrases}

    @classmethod
    def from_query(cls, pairs: list[tuple[str, str]]) -> PrerecordedSettings:
        # A container's name as the encoding: the header says it (the live door would refuse it).
        pairs = [(name, value) for name, value in pairs
                 if not (name == "encoding" and value.lower() in CONTAINER_ENCODINGS)]
        query = kit.Query(pairs)
        deepgram_common.check_flags(query, IGNORED_FLAGS)
        callback = query.last("callback") or None
        if callback is not None and not callback.startswith(("http://", "https://")):
            raise ConfigError(f"invalid value for callback: {kit.header_text(callback)!r} (expected an http:// "
                              "or https:// URL)")
        if callback is not None and (bad := _URL_FORBIDS.search(callback)):  # or its delivery fails, not this request
            raise ConfigError(f"invalid value for callback: {kit.header_text(callback)!r} (a URL has no space or "
                              f"control character; {bad.group()!r} at position {bad.start()})")
        if callback is not None and "@" in _netloc(callback):
            # (Not echoed: it holds a password.) It would be sent as Basic auth and stored with a retried
            # callback; a url= body with credentials is refused the same way (gateway.http.remote).
            raise ConfigError("invalid value for callback: the URL has a user name or password; this server sends "
                              "no credentials to a callback")
        method = (query.last("callback_method") or "post").lower()
        if method not in CALLBACK_METHODS:
            raise ConfigError(f"invalid value for callback_method: {kit.header_text(method)!r} "
                              f"(expected {' or '.join(CALLBACK_METHODS)})")
        utt_split = query.number("utt_split", *UTT_SPLIT_RANGE)
        if len(query.all("redact_audio")) > 1:  # which copy to keep must not depend on the order
            raise ConfigError("invalid value for redact_audio: given more than once (expected one of "
                              f"{' or '.join(REDACT_AUDIO)})")
        redact_audio = query.last("redact_audio")
        if redact_audio is not None and redact_audio.lower() not in REDACT_AUDIO:
            raise ConfigError(f"invalid value for redact_audio: {kit.header_text(redact_audio)!r} (expected "
                              f"{' or '.join(REDACT_AUDIO)})")
        search = query.all("search")
        if len(search) > MAX_SEARCH:
            raise ConfigError(f"invalid value for search: {len(search)} terms (expected at most {MAX_SEARCH})")
        # The recording is diarized whole, at its end (gateway/http/prerecorded.py), not final by final.
        stream = replace(deepgram.LiveSettings.from_query(query), diarize=False)
        return cls(stream=stream, utterances=query.flag("utterances"),
                   utt_split=UTT_SPLIT_SEC if utt_split is None else utt_split,
                   paragraphs=query.flag("paragraphs"), callback=callback, callback_method=method,
                   sentiment=query.flag("sentiment"), analytics=query.flag("analytics"),
                   search=parse_phrases(search, name="search") if search else (), diarize=query.flag("diarize"),
                   redact_audio=redact_audio.lower() if redact_audio is not None else None)


def refusal_body(request_id: str, code: str, message: str) -> dict:
    """Deepgram's error body (``err_code``, ``err_msg``, ``request_id``)."""
    return {"err_code": code, "err_msg": message, "request_id": request_id}


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysed:
    """What the call's analytics said of a recording (:class:`~gateway.core.events.Analytics` data)."""

    utterances: dict[str, dict]  # utterance id: its ``utterance`` event
    phrases: list[dict]  # ``phrase`` events
    summary: dict | None


def response(settings: PrerecordedSettings, finals: list[events.Final], *, request_id: str, created: str, sha256: str,
             duration: float, channels: int, analysed: Analysed | None = None, model: str = "",
             redacted_audio: dict | None = None) -> dict:
    """Deepgram's pre-recorded response for ``finals`` (any order) of ``channels`` result channels;
    ``model``: the loaded model's name ("": the one the query asked for); ``redacted_audio``: the
    ``metadata`` entry that says where the redacted recording is (None: none was asked for)."""
    stream = settings.stream
    name = deepgram.loaded_model(model, stream.model)
    model = deepgram.model_uuid(name)
    ordered = sorted((f for f in finals if f.text.strip()), key=lambda f: (f.start_ms, f.channel))
    by_channel = [[f for f in ordered if f.channel == index] for index in range(channels)]
    results: dict = {"channels": [_channel(channel_finals, stream.punctuate, paragraphs=settings.paragraphs,
                                           detect=stream.detect_language)
                                  for channel_finals in by_channel]}
    scores = analysed.utterances if analysed is not None and settings.sentiment else None
    if settings.utterances:
        results["utterances"] = []
        for final in ordered:
            for utterance in _utterances(final, stream.punctuate, settings.utt_split):
                if scores is not None:  # a final's utterances share its score
                    utterance.update(_sentiment_of(scores.get(final.utterance_id)))
                results["utterances"].append(utterance)
    if analysed is not None and settings.search:
        for channel, channel_finals in zip(results["channels"], by_channel):
            channel["search"] = _search(settings.search, analysed.phrases, channel_finals, stream.punctuate)
    if analysed is not None and scores is not None:
        results["sentiments"] = _sentiments(by_channel, scores, stream.punctuate, analysed.summary)
    if analysed is not None and settings.analytics and analysed.summary is not None:
        results["analytics"] = analysed.summary
    metadata = {"transaction_key": "deprecated", "request_id": request_id, "sha256": sha256, "created": created,
                "duration": round(duration, 6), "channels": channels, "models": [model],
                "model_info": {model: deepgram.model_info(name)}}
    if redacted_audio is not None:
        metadata["redacted_audio"] = redacted_audio
    # Deepgram's metadata.warnings: nothing cut out or left unrecognised goes unsaid.
    warned = sorted((f for f in finals if f.truncated or f.no_words), key=lambda f: (f.start_ms, f.channel))
    if warned:
        metadata["warnings"] = [_warning(f) for f in warned]
    return {"metadata": metadata, "results": results}


def _warning(final: events.Final) -> dict:
    """The ``metadata.warnings`` entry of a final flagged truncated or no_words."""
    where = f"channel {final.channel}, {final.start_ms / 1000:.2f}-{final.end_ms / 1000:.2f} s: "
    if final.truncated:
        return {"type": "truncated_transcript", "message": where + (
            "the recogniser cut out a repetition loop it could not recover; words spoken there may be missing")}
    return {"type": "untranscribed_speech", "message": where + (
        "speech was detected but the recogniser wrote no words for it (decoded in its pack and alone); "
        "what was spoken there is missing")}


def _sentiment_of(event: dict | None) -> dict:
    """Deepgram's ``sentiment`` and ``sentiment_score`` of a final's ``utterance`` event (neutral without one)."""
    if event is None or "sentiment" not in event:
        return {"sentiment": "neutral", "sentiment_score": 0.0}
    return {"sentiment": event["sentiment"], "sentiment_score": event["sentiment_score"]}


def _sentiments(by_channel: list[list[events.Final]], scores: dict[str, dict], punctuate: bool,
                summary: dict | None) -> dict:
    """Deepgram's ``results.sentiments``: a segment per final, word indexes within its channel's words."""
    segments = []
    for finals in by_channel:
        first_word = 0
        for final in finals:
            transcript, _, words = deepgram.alternative(final, punctuate=punctuate)
            count = len(words) or len(transcript.split())
            segments.append({"text": transcript, "start_word": first_word, "end_word": first_word + max(0, count - 1),
                             **_sentiment_of(scores.get(final.utterance_id))})
            first_word += len(words)
    if summary is not None and "sentiment" in summary:
        average = dict(summary["sentiment"])
    else:
        values = [s["sentiment_score"] for s in segments]
        score = sum(values) / len(values) if values else 0.0
        average = {"sentiment": sentiment_label(score), "sentiment_score": round(score, 4)}
    return {"segments": segments, "average": average}


def _search(terms: tuple[str, ...], phrases: list[dict], finals: list[events.Final], punctuate: bool) -> list[dict]:
    """A channel's ``search``: each term with its hits among the phrases spotted in its finals."""
    text_of = {f.utterance_id: deepgram.alternative(f, punctuate=punctuate)[0] for f in finals}
    return [{"query": term,
             "hits": [{"confidence": p["confidence"], "start": p["start_ms"] / 1000, "end": p["end_ms"] / 1000,
                       "snippet": text_of[p["utterance_id"]]}
                      for p in phrases if p["phrase"] == term and p["utterance_id"] in text_of]}
            for term in terms]


def _channel(finals: list[events.Final], punctuate: bool, *, paragraphs: bool = False, detect: bool = False) -> dict:
    transcripts, words, confidences = [], [], []
    for final in finals:
        transcript, confidence, final_words = deepgram.alternative(final, punctuate=punctuate)
        if transcript:
            transcripts.append(transcript)
            confidences.append(confidence)
        words += final_words
    if words:
        confidence = sum(w["confidence"] for w in words) / len(words)
    else:
        confidence = sum(confidences) / len(confidences) if confidences else 0.0
    alternative = {"transcript": " ".join(transcripts), "confidence": round(confidence, 4), "words": words}
    if paragraphs:
        alternative["paragraphs"] = _paragraphs(finals, punctuate)
    channel: dict = {"alternatives": [alternative]}
    if detect:
        channel["detected_language"] = detected_language(finals)
    return channel


def detected_language(finals: list[events.Final]) -> str:
    """The language most of the finals' words were decoded in ("" when none says)."""
    counts: dict[str, int] = {}
    for final in finals:
        if final.language:
            counts[final.language] = counts.get(final.language, 0) + max(1, len(final.text.split()))
    return max(counts, key=counts.__getitem__) if counts else ""


def _paragraphs(finals: list[events.Final], punctuate: bool) -> dict:
    """Deepgram's ``paragraphs``: the finals (in order) in paragraphs of sentences."""
    groups: list[list[events.Final]] = []
    for final in finals:
        if groups and final.start_ms - groups[-1][-1].end_ms < PARAGRAPH_PAUSE_SEC * 1000:
            groups[-1].append(final)
        else:
            groups.append([final])
    paragraphs = []
    for group in groups:
        sentences = [sentence for final in group for sentence in _sentences(final, punctuate)]
        if sentences:
            paragraphs.append({"sentences": sentences, "num_words": sum(len(s["text"].split()) for s in sentences),
                               "start": sentences[0]["start"], "end": sentences[-1]["end"]})
    transcript = "".join("\n" + " ".join(s["text"] for s in p["sentences"]) + "\n" for p in paragraphs)
    return {"transcript": transcript, "paragraphs": paragraphs}


def _sentences(final: events.Final, punctuate: bool) -> list[dict]:
    """A final's sentences, each ending after a word that ends one (without words: the final is one)."""
    transcript, _, words = deepgram.alternative(final, punctuate=punctuate)
    if not words:
        return [{"text": transcript, "start": final.start_ms / 1000, "end": final.end_ms / 1000}] if transcript else []
    sentences, current = [], []
    for word in words:
        current.append(word)
        text = word["punctuated_word"]
        if text.endswith(SENTENCE_ENDS) and text.lower() not in ABBREVIATIONS:
            sentences.append(current)
            current = []
    if current:
        sentences.append(current)
    return [{"text": " ".join(w["punctuated_word"] for w in sentence), "start": sentence[0]["start"],
             "end": sentence[-1]["end"]} for sentence in sentences]


def _utterances(final: events.Final, punctuate: bool, utt_split: float) -> list[dict]:
    """A final's utterances: one, or one per run of its words between pauses of ``utt_split`` s or more.

    Deepgram's ``utt_split`` is the silence between words that starts a new utterance.
    Splitting a final on its words' gaps honours it for any value up to the pause at
    which the pipeline ends a final (its VAD's end of speech: ``endpointing``, 0.8 s by
    default, the same as Deepgram's ``utt_split``); finals are not merged, so a longer
    ``utt_split`` still sees an utterance end where a final does (raise ``endpointing``
    too for that). A final without word timings stays one utterance.
    """
    transcript, confidence, words = deepgram.alternative(final, punctuate=punctuate)
    runs: list[list[dict]] = []
    previous_end_ms = 0  # read only once a run started
    for timed, word in zip(final.words, words):  # the gaps in ms, as the engine gave them
        if runs and timed.start_ms - previous_end_ms < utt_split * 1000:
            runs[-1].append(word)
        else:
            runs.append([word])
        previous_end_ms = timed.end_ms
    if len(runs) <= 1:
        return [{"start": final.start_ms / 1000, "end": final.end_ms / 1000, "confidence": round(confidence, 4),
                 "channel": final.channel, "transcript": transcript, "words": words, "speaker": 0,
                 "id": _utterance_uuid(final, 0)}]
    return [{"start": run[0]["start"], "end": run[-1]["end"],
             "confidence": round(sum(w["confidence"] for w in run) / len(run), 4), "channel": final.channel,
             "transcript": " ".join(w["punctuated_word"] for w in run), "words": run, "speaker": 0,
             "id": _utterance_uuid(final, index)}
            for index, run in enumerate(runs)]


def _utterance_uuid(final: events.Final, index: int) -> str:
    """The ``index``-th utterance of ``final`` as Deepgram names one, a UUID: the same for the same
    final (a replay after failover keeps utterance ids), whether or not utt_split divides it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{final.utterance_id}/{index}"))
