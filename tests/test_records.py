import msgpack
import pytest

from common.errors import RecordError
from common.records import (SCHEMA_VERSION, Audio, End, Error, Flush, SpeechEnd, SpeechStart, Transcript, decode,
                            encode, utterance_id)

RECORDS = [
    Audio(seq=3, offset=1600, pcm=b"\x01\x00" * 320),
    SpeechStart(seq=0, start=512),
    SpeechEnd(seq=9, start=512, end=40960, reason="silence"),
    Flush(seq=4, flush_id=2),
    End(seq=5),
    Transcript(seq=1, utterance_id="abc-512", start=512, end=9000, text="héllo wörld", final=True,
               speech_final=True, language="en"),
    Error(seq=0, code="sequence_gap", message="2 records lost", fatal=False),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: r.TYPE)
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
])
def test_malformed_records_are_rejected_with_a_reason(payload, message):
    with pytest.raises(RecordError, match=message):
        decode(payload)


def test_utterance_ids_are_deterministic():
    assert utterance_id("s1", 16000) == utterance_id("s1", 16000) == "s1-16000"
    assert utterance_id("s1", 16000) != utterance_id("s1", 16512)
