"""The audio records the gateway's writer encodes on its fast path are the bus codec's.

The writer itself, against a real Redis, is tested in tests/e2e/test_writer.py.
"""

from __future__ import annotations

from common.records import Audio, decode, encode, encode_audio


def test_the_gateways_audio_records_are_the_bus_codecs():
    pcm = bytes(range(256)) * 12
    for seq, offset in ((0, 0), (7, 11_200), (2**40, 2**45)):
        assert encode_audio(seq, offset, pcm) == encode(Audio(seq=seq, offset=offset, pcm=pcm))
    assert decode(encode_audio(3, 4800, pcm)) == Audio(seq=3, offset=4800, pcm=pcm)
