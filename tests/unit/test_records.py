import msgpack
import pytest

from common.errors import RecordError
from common.records import (SCHEMA_VERSION, Audio, End, Error, Flush, SpeechEnd, SpeechPause, SpeechStart, TimedWord,
                            Transcript,
                            decode, encode, utterance_id)

RECORDS = [
    Audio(seq=3, offset=1600, pcm=b"\x01\x00" * 320),
    SpeechStart(seq=0, start=512),
    SpeechEnd(seq=9, start=512, end=40960, reason="silence"),
    SpeechPause(seq=8, start=512, end=40960),
    Flush(seq=4, flush_id=2),
    End(seq=5),
    Transcript(seq=1, utterance_id="abc-512", start=512, end=9000, text="héllo wörld", final=True,
               speech_final=True, language="en"),
    # A recording's utterance with speech and no words recognised: the flag reaches the gateway.
    Transcript(seq=2, utterance_id="abc-9000", start=9000, end=12000, text="", final=True, no_words=True),
    Error(seq=0, code="sequence_gap", message="2 records lost", fatal=False),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: f"{r.TYPE}-{r.seq}")
def test_round_trip(record):
    assert decode(encode(record)) == record


def raw(**body):
    return msgpack.packb(body, use_bin_type=True)


@pytest.mark.parametrize("payload, message", [
    (b"\xc1garbage", "not valid msgpack"),
    (raw(v=1), "unknown record type"),
    (msgpack.packb([1, 2]), "expected a map"),
    (raw(v=99, t="end", seq=0), "schema version 99"),
    (raw(v=SCHEMA_VERSION, t="nope", seq=0), "unknown record type 'nope'"),
    (raw(v=SCHEMA_VERSION, t="audio", seq=0, offset=0), "lacks field 'pcm'"),
    (raw(v=SCHEMA_VERSION, t="audio", seq="1", offset=0, pcm=b""), "audio.seq is str"),
    (raw(v=SCHEMA_VERSION, t="audio", seq=True, offset=0, pcm=b""), "audio.seq is bool"),
    (raw(v=SCHEMA_VERSION, t="audio", seq=0, offset=0, pcm=b"\x00"), "odd number of bytes"),
    (raw(v=SCHEMA_VERSION, t="audio", seq=-1, offset=0, pcm=b""), "seq is negative"),
    (raw(v=SCHEMA_VERSION, t="speech_end", seq=0, start=10, end=5, reason="silence"), "end precedes"),
    (raw(v=SCHEMA_VERSION, t="speech_pause", seq=0, start=10, end=5), "speech_pause.end precedes"),
    (raw(v=SCHEMA_VERSION, t="speech_pause", seq=0, start=10), "lacks field 'end'"),
    (raw(v=SCHEMA_VERSION, t="speech_pause", seq=0, start=10, end=12.5), "speech_pause.end is float"),
])
def test_malformed_records_are_rejected_with_a_reason(payload, message):
    with pytest.raises(RecordError, match=message):
        decode(payload)


def test_utterance_ids_are_deterministic():
    assert utterance_id("s1", 16000) == utterance_id("s1", 16000) == "s1-16000"
    assert utterance_id("s1", 16000) != utterance_id("s1", 16512)


WORDS = (TimedWord("héllo", 512, 4000, 0.93), TimedWord("wörld", 4000, 9000, 0.5))


def test_transcript_words_and_confidence_round_trip():
    record = Transcript(seq=2, utterance_id="abc-512", start=512, end=9000, text="héllo wörld", final=True,
                        words=WORDS, confidence=0.71)
    assert decode(encode(record)) == record
    assert decode(encode(record)).words[0] == TimedWord("héllo", 512, 4000, 0.93)


def test_transcript_without_words_decodes_with_defaults():
    # A producer that predates the fields (no "words", no "confidence" key).
    legacy = raw(v=SCHEMA_VERSION, t="transcript", seq=0, utterance_id="u", start=0, end=10, text="hi", final=False)
    record = decode(legacy)
    assert record.words == () and record.confidence is None


def transcript(**fields):
    body = dict(v=SCHEMA_VERSION, t="transcript", seq=0, utterance_id="u", start=100, end=900, text="a b", final=True)
    return raw(**{**body, **fields})


@pytest.mark.parametrize("fields, message", [
    ({"words": "a b"}, "transcript.words is str"),
    ({"words": [["a", 100, 200]]}, r"words\[0\] is not \[text, start, end, probability\]"),
    ({"words": [[1, 100, 200, 0.5]]}, r"words\[0\] is not"),
    ({"words": [["a", 100.0, 200, 0.5]]}, r"words\[0\] is not"),
    ({"words": [["a", True, 200, 0.5]]}, r"words\[0\] is not"),
    ({"words": [["a", 100, 200, "high"]]}, r"words\[0\] is not"),
    ({"words": [{"text": "a"}]}, r"words\[0\] is not"),
    ({"words": [["a", 300, 200, 0.5]]}, r"words\[0\] ends before it starts"),
    ({"words": [["a", 50, 200, 0.5]]}, r"words\[0\] is out of order or outside 100..900"),
    ({"words": [["a", 100, 950, 0.5]]}, r"words\[0\] is out of order or outside"),
    ({"words": [["a", 400, 500, 0.5], ["b", 300, 600, 0.5]]}, r"words\[1\] is out of order"),
    ({"words": [["a", 100, 200, 1.5]]}, r"words\[0\].probability 1.5 is not a probability"),
    ({"words": [["a", 100, 200, float("nan")]]}, r"words\[0\].probability nan"),
    ({"confidence": "0.9"}, "transcript.confidence is str"),
    ({"confidence": True}, "transcript.confidence is bool"),
    ({"confidence": -0.1}, "confidence -0.1 is not a probability"),
    ({"confidence": float("inf")}, "confidence inf is not a probability"),
])
def test_malformed_words_and_confidence_are_rejected(fields, message):
    with pytest.raises(RecordError, match=message):
        decode(transcript(**fields))
