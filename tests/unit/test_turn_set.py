"""tests/kit/turns.py's scripts: seeded, split into tune and heldout in code, gaps in range."""

from __future__ import annotations

import pytest

from tests.kit import turns


def test_a_seed_draws_the_same_call_every_time() -> None:
    assert turns.script(3) == turns.script(3)
    assert turns.script(3) != turns.script(4)


def test_the_parts_share_no_seed_and_no_voice() -> None:
    parts = turns.PARTS
    voices = {part: {voice for pair in turns.VOICES[part] for voice in pair} for part in parts}
    for i, a in enumerate(parts):
        for b in parts[i + 1:]:
            assert set(turns.SEEDS[a]).isdisjoint(turns.SEEDS[b])
            assert voices[a].isdisjoint(voices[b])
    for part in parts:
        for seed in turns.seeds(part, count=20):
            assert set(turns.script(seed).voices) <= voices[part]


@pytest.mark.parametrize("part", ["fresh", "spare", "reserve", "extra", "more"])
def test_the_later_parts_say_other_words(part: str) -> None:
    short, long = turns.PHRASES[part]
    others = [phrases for name, phrases in turns.PHRASES.items() if name != part and phrases != (short, long)]
    assert all(set(short).isdisjoint(o[0]) and set(long).isdisjoint(o[1]) for o in others)
    assert all(len(text.split()) <= 2 for text in short)
    said = {text for seed in turns.seeds(part, count=12) for _, text, _ in turns.script(seed).turns}
    assert said <= set(short + long) and said & set(short)


def test_a_seed_outside_the_parts_and_a_bad_part_are_refused() -> None:
    with pytest.raises(ValueError, match="in no part"):
        turns.part_of(9000)
    with pytest.raises(ValueError, match="part must be one of"):
        turns.seeds("train")
    with pytest.raises(ValueError, match="form must be one of"):
        turns.render(0, form="wav")


def test_calls_alternate_parties_with_short_replies_and_gaps_in_range() -> None:
    shorts = 0
    for seed in turns.seeds("tune", count=30):
        drawn = turns.script(seed).turns
        assert [party for party, _, _ in drawn[1:]] == [1 - party for party, _, _ in drawn[:-1]]
        assert drawn[0][2] == turns.LEAD
        assert all(turns.GAPS[0] <= pause <= turns.GAPS[1] for _, _, pause in drawn[1:])
        assert all(a[1] != b[1] for a, b in zip(drawn, drawn[1:]))  # no turn said twice in a row
        sentences = [text for _, text, _ in drawn if text in turns.LONG]
        assert len(sentences) == len(set(sentences))  # a sentence once a call
        shorts += sum(text in turns.SHORT for _, text, _ in drawn)
        assert all(len(text.split()) <= 2 for text in turns.SHORT)
    assert shorts >= 30 * turns.TURNS // 3  # replies are what the set is about
