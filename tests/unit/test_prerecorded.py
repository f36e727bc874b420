"""Deepgram's pre-recorded API sans I/O: the body off the wire, its decoding and sniffing, the query, the response.

tests/e2e/test_prerecorded.py sends real requests to a real stack.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from dataclasses import replace

import numpy as np
import pytest
import soundfile

from common.errors import ConfigError
from gateway.core import events
from gateway.doors import deepgram_prerecorded
from gateway.http import media
from gateway.http.wire import Body, BodyError, GatewayProtocol

RATE = 16000
TONE = (np.sin(np.arange(RATE) * 2 * np.pi * 440 / RATE) * 0.3).astype(np.float32)  # 1 s


def encoded(samples: np.ndarray, fmt: str, subtype: str, rate: int = RATE) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def decode(body: bytes, encoding: str | None = None, sample_rate: int = RATE, channels: int = 1) -> media.Media:
    return media.decode(body, encoding=encoding, sample_rate=sample_rate, channels=channels, max_channels=8)


# -- the body off the wire ---------------------------------------------------------------------


def reading(head: bytes, limit: int = 100) -> tuple[GatewayProtocol, Body]:
    """A protocol that parsed ``head`` (a request line and headers) and was asked for the body."""
    protocol = GatewayProtocol()
    protocol.receive_data(head)
    [request] = protocol.events_received()
    assert request.method == "POST"
    protocol.body = body = Body(limit)
    next(protocol.parser)
    return protocol, body


def test_a_body_by_content_length_arrives_in_pieces():
    protocol, body = reading(b"POST /v1/listen HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123")
    assert bytes(body.data) == b"0123" and not body.done.is_set()
    protocol.receive_data(b"456789 and what follows is discarded")
    assert body.done.is_set() and body.error is None and bytes(body.data) == b"0123456789"
    assert asyncio.run(body.complete(idle_timeout=1)) == b"0123456789"
    assert body.data == b""  # handed over: the request keeps no copy


def test_a_chunked_body():
    protocol, body = reading(b"POST /v1/listen HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n")
    protocol.receive_data(b"5;ext=1\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n")
    assert body.done.is_set() and body.error is None and bytes(body.data) == b"Wikipedia"


@pytest.mark.parametrize("head, more, why, too_large", [
    (b"Content-Length: 101\r\n\r\n", b"", "larger than 100 bytes", True),
    (b"Transfer-Encoding: chunked\r\n\r\n", b"40\r\n" + b"a" * 64 + b"\r\n40\r\n" + b"b" * 64, "larger", True),
    (b"Transfer-Encoding: chunked\r\n\r\n", b"zz\r\n", "not a hexadecimal number", False),
    (b"Transfer-Encoding: gzip\r\n\r\n", b"", "not supported", False),
    (b"Content-Length: 5\r\nContent-Length: 6\r\n\r\n", b"", "not one number", False),
])
def test_bodies_refused(head, more, why, too_large):
    protocol, body = reading(b"POST /v1/listen HTTP/1.1\r\n" + head)
    protocol.receive_data(more)
    assert body.done.is_set() and why in str(body.error) and body.error.too_large is too_large
    with pytest.raises(BodyError):
        asyncio.run(body.complete(idle_timeout=1))


def test_a_body_cut_off_and_a_body_that_stalls():
    protocol, body = reading(b"POST /v1/listen HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123")
    protocol.receive_eof()
    assert "ended before the body did" in str(body.error)
    _, body = reading(b"POST /v1/listen HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123")
    with pytest.raises(TimeoutError, match="no byte of the body for 0.01 s"):
        asyncio.run(body.complete(idle_timeout=0.01))


def test_a_body_waits_unread_until_its_route_asks():
    protocol = GatewayProtocol()
    protocol.receive_data(b"POST /v1/listen HTTP/1.1\r\nContent-Length: 4\r\n\r\nabcd")
    assert protocol.events_received() and protocol.body is None and bytes(protocol.reader.buffer) == b"abcd"


# -- decoding and sniffing -------------------------------------------------------------------------


@pytest.mark.parametrize("fmt, subtype, rate, kind", [
    ("WAV", "PCM_16", RATE, "wav"), ("WAV", "FLOAT", 44100, "wav"), ("FLAC", "PCM_16", RATE, "flac"),
    ("OGG", "VORBIS", RATE, "ogg"), ("OGG", "OPUS", 48000, "ogg"), ("MP3", "MPEG_LAYER_III", RATE, "mp3"),
])
def test_containers_are_found_by_their_bytes(fmt, subtype, rate, kind):
    samples = np.interp(np.arange(rate) * RATE / rate, np.arange(RATE), TONE).astype(np.float32)
    body = encoded(samples, fmt, subtype, rate)
    assert media.sniff(body) == kind
    # A raw encoding in the query does not override the header.
    decoded = decode(body, encoding="mulaw", sample_rate=8000)
    assert (decoded.kind, decoded.sample_rate, decoded.channels) == (kind, rate, 1)
    assert decoded.pcm.dtype == np.int16 and decoded.duration == pytest.approx(1.0, abs=0.08)
    assert np.abs(decoded.pcm).max() > 5000  # the tone, not silence


def test_raw_encodings():
    stereo = np.stack([TONE, -TONE], axis=1)
    pcm = (stereo * 32767).astype("<i2")
    decoded = decode(pcm.tobytes(), "pcm16", RATE, 2)
    assert decoded.kind == "raw" and decoded.channels == 2 and np.array_equal(decoded.pcm, pcm)
    mulaw = encoded(TONE, "RAW", "ULAW")
    decoded = decode(mulaw, "mulaw", 8000)
    assert decoded.sample_rate == 8000 and decoded.duration == pytest.approx(2.0)
    assert decode(encoded(TONE, "RAW", "ALAW"), "alaw").duration == pytest.approx(1.0)


def test_rates_outside_a_calls_range_are_resampled():
    decoded = decode(encoded(np.zeros(96000, np.float32), "WAV", "PCM_16", 96000))
    assert decoded.sample_rate == RATE and len(decoded.pcm) == RATE


@pytest.mark.parametrize("fmt, subtype", [("WAV", "PCM_16"), ("FLAC", "PCM_16"), ("OGG", "VORBIS")])
def test_a_header_that_says_1_hz_is_refused_before_decoding(fmt, subtype):
    """Issue 32's 40 KB WAV at 1 Hz: resampled to 16 kHz it became 20,000 s of audio (3.7 GB)."""
    body = encoded(np.zeros(20000, np.float32), fmt, subtype, rate=1)
    with pytest.raises(media.BadMedia, match="^the header says the audio is sampled at 1 Hz; this server takes "
                                             "recordings sampled at 4000 to 384000 Hz$"):
        decode(body)


def with_total_samples(flac: bytes, total: int) -> bytes:
    """``flac`` with STREAMINFO's 36-bit total-samples field (bytes 18-22 of the file) set to ``total``."""
    field = int.from_bytes(flac[18:26], "big")
    field = field & ~((1 << 36) - 1) | total
    return flac[:18] + field.to_bytes(8, "big") + flac[26:]


def test_a_header_that_claims_more_than_the_body_holds_is_refused():
    """A FLAC header that claims 2**36 frames: libsndfile's reader would allocate them all (256 GiB) up front."""
    flac = encoded(TONE, "FLAC", "PCM_16")
    assert decode(with_total_samples(flac, RATE)).duration == pytest.approx(1.0)  # the field is the one edited
    with pytest.raises(media.BadMedia, match=r"claims 68719476735 frames \(4294967 s\) of audio, more than a body "
                                             rf"of {len(flac)} bytes can hold"):
        decode(with_total_samples(flac, (1 << 36) - 1))


def test_a_recording_longer_than_the_server_decodes_is_refused(monkeypatch):
    monkeypatch.setattr(media, "MAX_SAMPLES", RATE // 2)
    with pytest.raises(media.BadMedia, match="1 s long in 1 channel.*up to 8000 samples"):
        decode(encoded(TONE, "WAV", "PCM_16"))
    # Counted after resampling: 4000 Hz (within FILE_RATES, outside a call's rates) becomes 4x the samples.
    with pytest.raises(media.BadMedia, match="up to 8000 samples"):
        decode(encoded(np.zeros(4000, np.float32), "WAV", "PCM_16", 4000))
    assert decode(encoded(np.zeros(1000, np.float32), "WAV", "PCM_16", 4000)).sample_rate == RATE


@pytest.mark.parametrize("body, encoding, why", [
    (b"", None, "its body is empty"),
    (b"plain text, no audio", None, "no audio format this server recognises"),
    (b"RIFF\0\0\0\0WAVEjunk", None, "cannot be decoded as wav audio"),
    (b"fLaC" + bytes(40), None, "cannot be decoded as flac audio"),
    (b"\x01\x02\x03", "pcm16", "not whole frames"),
])
def test_undecodable_bodies(body, encoding, why):
    with pytest.raises(media.BadMedia, match=why):
        decode(body, encoding)


def test_too_many_channels():
    with pytest.raises(media.BadMedia, match="9 channels"):
        decode(encoded(np.zeros((100, 9), np.float32), "WAV", "PCM_16"))


# -- the query and the response -----------------------------------------------------------------


def settings(query: str) -> deepgram_prerecorded.PrerecordedSettings:
    pairs = [tuple(item.split("=", 1)) for item in query.split("&") if item]
    return deepgram_prerecorded.PrerecordedSettings.from_query(pairs)


def test_the_query():
    read = settings("model=nova-3&punctuate=true&utterances=true&keyterm=Dashwood&keyterm=Norland&language=en"
                    "&callback=https://hooks.example/x&callback_method=PUT&encoding=flac&paragraphs=true")
    assert (read.utterances, read.callback, read.callback_method) == (True, "https://hooks.example/x", "put")
    stream = read.stream
    assert (stream.model, stream.punctuate, stream.context, stream.language, stream.encoding) == (
        "nova-3", True, "Dashwood, Norland", "en", None)
    raw = settings("encoding=linear16&sample_rate=8000&channels=2&multichannel=true").stream
    assert (raw.encoding, raw.sample_rate, raw.channels, raw.multichannel) == ("pcm16", 8000, 2, True)
    for bad, why in [("callback=ftp://x", "callback"), ("callback_method=get", "callback_method"),
                     ("utterances=maybe", "utterances"), ("encoding=speex", "encoding"),
                     ("encoding=mulaw", "sample_rate is required"),
                     ("callback=http://hooks.example/a\r\nX-Injected: 1", r"no space or control character; '\\r' at "
                                                                            "position 22"),
                     ("callback=http://hooks.example/a\x00", r"control character; '\\x00'"),
                     ("callback=http://hooks.example/a b", "no space"),
                     ("callback=https://user:pw@hooks.example/x", "a user name or password"),
                     ("callback=https://token@hooks.example/x", "a user name or password"),
                     ("callback=https://[::1/x", "invalid value for callback")]:
        with pytest.raises(ConfigError, match=why):
            settings(bad)


def final(channel: int, start_ms: int, end_ms: int, text: str, *words: tuple[str, int, int, float],
          confidence: float | None = None) -> events.Final:
    return events.Final(channel=channel, session_id="s", utterance_id=f"u{channel}-{start_ms}", text=text,
                        start_ms=start_ms, end_ms=end_ms, language="en", speech_final=True, confidence=confidence,
                        words=tuple(events.Word(text=w, start_ms=s, end_ms=e, confidence=c) for w, s, e, c in words))


FINALS = [final(0, 3000, 4000, "Goodbye, Mr. Smith.", ("Goodbye,", 3000, 3400, 0.8), ("Mr.", 3400, 3600, 0.9),
                ("Smith.", 3600, 4000, 1.0)),
          final(1, 500, 1000, "Yes?", ("Yes?", 500, 1000, 0.5)),
          final(0, 0, 1000, "Hello there.", ("Hello", 0, 400, 0.9), ("there.", 400, 1000, 0.7)),
          final(0, 1500, 1600, "", confidence=0.0)]  # an eager final's end of turn: no words


def test_the_response():
    body = deepgram_prerecorded.response(settings("punctuate=true&utterances=true&model=nova-3"), FINALS,
                                         request_id="r1", created="2026-01-01T00:00:00.000Z", sha256="ab",
                                         duration=4.25, channels=2)
    metadata = body["metadata"]
    assert (metadata["request_id"], metadata["sha256"], metadata["duration"], metadata["channels"]) == (
        "r1", "ab", 4.25, 2)
    assert metadata["model_info"][metadata["models"][0]]["name"] == "nova-3"
    left, right = (channel["alternatives"][0] for channel in body["results"]["channels"])
    assert left["transcript"] == "Hello there. Goodbye, Mr. Smith."
    assert [w["punctuated_word"] for w in left["words"]] == ["Hello", "there.", "Goodbye,", "Mr.", "Smith."]
    assert [w["word"] for w in left["words"]] == ["hello", "there", "goodbye", "mr", "smith"]
    assert left["words"][0] == {"word": "hello", "start": 0.0, "end": 0.4, "confidence": 0.9,
                                "punctuated_word": "Hello"}
    assert left["confidence"] == pytest.approx(0.86)  # the words' mean
    assert right["transcript"] == "Yes?" and right["confidence"] == 0.5
    assert [(u["channel"], u["start"], u["transcript"]) for u in body["results"]["utterances"]] == [
        (0, 0.0, "Hello there."), (1, 0.5, "Yes?"), (0, 3.0, "Goodbye, Mr. Smith.")]


def test_paragraphs_split_at_pauses_into_sentences():
    finals = [*FINALS, final(0, 6500, 8000, "Thanks. Bye now.", ("Thanks.", 6500, 7000, 0.9),
                             ("Bye", 7200, 7500, 0.9), ("now.", 7500, 8000, 0.9)),
              final(0, 8200, 9000, "And you", confidence=0.7)]  # no word timings: one sentence
    body = deepgram_prerecorded.response(settings("punctuate=true&paragraphs=true"), finals, request_id="r",
                                         created="c", sha256="s", duration=9.0, channels=2)
    left, right = (channel["alternatives"][0]["paragraphs"] for channel in body["results"]["channels"])
    # 2 s of silence or more between finals starts a paragraph (0.2 s does not); "Mr." ends no sentence.
    assert [[(s["text"], s["start"], s["end"]) for s in p["sentences"]] for p in left["paragraphs"]] == [
        [("Hello there.", 0.0, 1.0)], [("Goodbye, Mr. Smith.", 3.0, 4.0)],
        [("Thanks.", 6.5, 7.0), ("Bye now.", 7.2, 8.0), ("And you", 8.2, 9.0)]]
    assert [(p["num_words"], p["start"], p["end"]) for p in left["paragraphs"]] == [
        (2, 0.0, 1.0), (3, 3.0, 4.0), (5, 6.5, 9.0)]
    assert left["transcript"] == "\nHello there.\n\nGoodbye, Mr. Smith.\n\nThanks. Bye now. And you\n"
    assert right["paragraphs"][0]["sentences"] == [{"text": "Yes?", "start": 0.5, "end": 1.0}]
    plain = deepgram_prerecorded.response(settings("paragraphs=true"), FINALS[2:3], request_id="r", created="c",
                                          sha256="s", duration=1.0, channels=1)
    assert plain["results"]["channels"][0]["alternatives"][0]["paragraphs"]["paragraphs"][0]["sentences"] == [
        {"text": "hello there", "start": 0.0, "end": 1.0}]
    without = deepgram_prerecorded.response(settings(""), FINALS, request_id="r", created="c", sha256="s",
                                            duration=1.0, channels=2)
    assert "paragraphs" not in without["results"]["channels"][0]["alternatives"][0]


def test_the_response_without_punctuation_or_utterances_or_speech():
    body = deepgram_prerecorded.response(settings(""), FINALS[2:3], request_id="r", created="c", sha256="s",
                                         duration=1.0, channels=1)
    assert "utterances" not in body["results"]
    assert body["results"]["channels"][0]["alternatives"][0]["transcript"] == "hello there"
    empty = deepgram_prerecorded.response(settings(""), [], request_id="r", created="c", sha256="s",
                                          duration=1.0, channels=1)
    assert empty["results"]["channels"] == [{"alternatives": [{"transcript": "", "confidence": 0.0, "words": []}]}]


def test_utt_split_splits_utterances_where_words_pause():
    """Deepgram's utt_split: the silence between words that starts a new utterance (0.8 s by default)."""
    paused = final(0, 0, 4000, "Hi. Thanks for calling.", ("Hi.", 0, 400, 0.9), ("Thanks", 1200, 1500, 0.7),
                   ("for", 1500, 1700, 0.8), ("calling.", 2300, 2800, 0.6))
    as_one = [u["transcript"] for u in deepgram_prerecorded.response(
        settings("punctuate=true&utterances=true&utt_split=2"), [paused], request_id="r", created="c",
        sha256="s", duration=4, channels=1)["results"]["utterances"]]
    assert as_one == ["Hi. Thanks for calling."]
    # One form of id, split or not (a final's own id, "SESSION-SAMPLE", was the id of an unsplit one): a UUID.
    [one] = deepgram_prerecorded.response(settings("utterances=true&utt_split=2"), [paused], request_id="r",
                                          created="c", sha256="s", duration=4, channels=1)["results"]["utterances"]
    assert str(uuid.UUID(one["id"])) == one["id"]
    body = deepgram_prerecorded.response(settings("punctuate=true&utterances=true"), [paused], request_id="r",
                                         created="c", sha256="s", duration=4, channels=1)
    utterances = body["results"]["utterances"]
    assert [(u["start"], u["end"], u["transcript"]) for u in utterances] == [
        (0.0, 0.4, "Hi."), (1.2, 2.8, "Thanks for calling.")]  # a gap of 0.8 s splits, 0.6 s does not
    assert utterances[1]["confidence"] == pytest.approx(0.7) and len({u["id"] for u in utterances}) == 2
    assert utterances[0]["id"] == one["id"] and all(str(uuid.UUID(u["id"])) == u["id"] for u in utterances)
    assert [w["word"] for w in utterances[1]["words"]] == ["thanks", "for", "calling"]
    fine = deepgram_prerecorded.response(settings("utterances=true&utt_split=0.5"), [paused], request_id="r",
                                         created="c", sha256="s", duration=4, channels=1)
    assert [u["transcript"] for u in fine["results"]["utterances"]] == ["hi", "thanks for", "calling"]
    # The channel's transcript does not change; a final without words stays one utterance.
    assert body["results"]["channels"][0]["alternatives"][0]["transcript"] == "Hi. Thanks for calling."
    wordless = final(0, 0, 1000, "Hello.", confidence=0.9)
    assert len(deepgram_prerecorded.response(settings("utterances=true&utt_split=0.05"), [wordless], request_id="r",
                                             created="c", sha256="s", duration=1,
                                             channels=1)["results"]["utterances"]) == 1


@pytest.mark.parametrize("value", ["0", "-1", "abc", "nan", "inf", "1e9", ""])
def test_a_bad_utt_split_is_refused(value):
    with pytest.raises(ConfigError, match="invalid value for utt_split"):
        settings(f"utt_split={value}")


def test_sentiment_search_and_analytics_in_the_response():
    """The shapes of sentiment=true, search= and analytics=true, from the call's analytics events."""
    read = settings("punctuate=true&utterances=true&sentiment=true&search=mr smith&search=refund&analytics=true")
    assert (read.sentiment, read.search, read.analytics) == (True, ("mr smith", "refund"), True)
    assert read.call_analytics == {"sentiment": True, "phrases": ["mr smith", "refund"]}
    assert settings("model=nova-3").call_analytics is None
    analysed = deepgram_prerecorded.Analysed(
        utterances={"u0-0": {"event": "utterance", "utterance_id": "u0-0", "sentiment": "positive",
                             "sentiment_score": 0.6},
                    "u0-3000": {"event": "utterance", "utterance_id": "u0-3000", "sentiment": "negative",
                                "sentiment_score": -0.4}},
        phrases=[{"event": "phrase", "phrase": "mr smith", "channel": 0, "start_ms": 3400, "end_ms": 4000,
                  "confidence": 0.95, "utterance_id": "u0-3000"}],
        summary={"talk_ms": 2500, "sentiment": {"sentiment": "positive", "sentiment_score": 0.1}})
    body = deepgram_prerecorded.response(read, FINALS, request_id="r1", created="2026-01-01T00:00:00.000Z",
                                         sha256="ab", duration=4.25, channels=2, analysed=analysed)
    results = body["results"]
    assert results["sentiments"] == {
        "segments": [{"text": "Hello there.", "start_word": 0, "end_word": 1, "sentiment": "positive",
                      "sentiment_score": 0.6},
                     {"text": "Goodbye, Mr. Smith.", "start_word": 2, "end_word": 4, "sentiment": "negative",
                      "sentiment_score": -0.4},
                     {"text": "Yes?", "start_word": 0, "end_word": 0, "sentiment": "neutral", "sentiment_score": 0.0}],
        "average": {"sentiment": "positive", "sentiment_score": 0.1}}
    assert [(u["transcript"], u["sentiment"]) for u in results["utterances"]] == [
        ("Hello there.", "positive"), ("Yes?", "neutral"), ("Goodbye, Mr. Smith.", "negative")]
    left, right = results["channels"]
    assert left["search"] == [{"query": "mr smith", "hits": [{"confidence": 0.95, "start": 3.4, "end": 4.0,
                                                               "snippet": "Goodbye, Mr. Smith."}]},
                              {"query": "refund", "hits": []}]
    assert right["search"] == [{"query": "mr smith", "hits": []}, {"query": "refund", "hits": []}]
    assert results["analytics"] == analysed.summary
    plain = deepgram_prerecorded.response(settings("utterances=true"), FINALS, request_id="r1", created="x",
                                          sha256="ab", duration=4.25, channels=2)
    assert not {"sentiments", "analytics"} & set(plain["results"]) and "search" not in plain["results"]["channels"][0]
    assert "sentiment" not in plain["results"]["utterances"][0]


@pytest.mark.parametrize("query, why", [
    ("search=" + "&search=".join(f"t{i}" for i in range(51)), "at most 50"),
    ("search=!!", "has no word"),
    ("search=" + "x" * 101, "at most 100"),
    ("sentiment=maybe", "sentiment"),
    ("analytics=1", "analytics"),
])
def test_bad_search_and_sentiment_parameters(query, why):
    with pytest.raises(ConfigError, match=why):
        settings(query)


def test_a_truncated_final_is_a_warning_of_the_response():
    """A final whose loop the engine cut out is listed in ``metadata.warnings``; none without one."""
    cut = replace(final(1, 500, 1000, "Yes?", ("Yes?", 500, 1000, 0.5)), truncated=True)
    body = deepgram_prerecorded.response(settings("model=nova-3"), [*FINALS[:1], cut], request_id="r1",
                                         created="2026-01-01T00:00:00.000Z", sha256="ab", duration=4.25, channels=2)
    (warning,) = body["metadata"]["warnings"]
    assert warning["type"] == "truncated_transcript" and "channel 1, 0.50-1.00 s" in warning["message"]
    assert body["results"]["channels"][1]["alternatives"][0]["transcript"] == "yes"
    plain = deepgram_prerecorded.response(settings("model=nova-3"), FINALS, request_id="r1",
                                          created="2026-01-01T00:00:00.000Z", sha256="ab", duration=4.25, channels=2)
    assert "warnings" not in plain["metadata"]


def test_speech_with_no_words_is_a_warning_of_the_response_in_order_with_the_cut_loops():
    """A recording's utterance that the recogniser wrote no words for (an empty final flagged
    no_words) is listed in ``metadata.warnings``, with the truncated finals, by time."""
    unheard = replace(final(0, 2000, 2800, ""), no_words=True)
    cut = replace(final(1, 500, 1000, "Yes?", ("Yes?", 500, 1000, 0.5)), truncated=True)
    body = deepgram_prerecorded.response(settings("model=nova-3"), [FINALS[0], unheard, cut], request_id="r1",
                                         created="2026-01-01T00:00:00.000Z", sha256="ab", duration=4.25, channels=2)
    assert [w["type"] for w in body["metadata"]["warnings"]] == ["truncated_transcript", "untranscribed_speech"]
    assert "channel 0, 2.00-2.80 s: speech was detected" in body["metadata"]["warnings"][1]["message"]
    assert body["results"]["channels"][0]["alternatives"][0]["transcript"] == "goodbye mr smith"
