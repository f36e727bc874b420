"""Short replies said alone: does the VAD's segmenter find the speech that Silero's own
``get_speech_timestamps`` finds?

    .venv/bin/python -m bench.vad_short_words [--voices en-us en-gb en-us+f3 en-us+m3] [--show]

Each of :data:`WORDS` (a turn-taking set's one- and two-word replies and a lone number) is spoken
by espeak-ng in each of ``--voices`` at ``--speeds`` (words a minute), after ``--leads`` of
silence (each lead moves every 32 ms frame: another draw of where the frames cut the word) and
before 3 s of silence, at 16 kHz and through 8 kHz μ-law and back (what the Twilio door hands
on). For each clip:

* ``silero``: ``silero_vad.get_speech_timestamps`` with its defaults (its own model, 250 ms of
  speech at least, 100 ms of silence end a segment) finds speech;
* ``ours``: the VAD stage's :class:`~vad_worker.segmenter.Segmenter` with the default
  :class:`~common.endpointing.EndpointOptions`, fed the probabilities of the stage's model
  (scored a frame a call, as a live session's are), starts an utterance before the 3 s of
  silence end (no flush: what a live call gets while it streams).

The table counts, per word, the clips each finds and the clips Silero finds that ours misses.
Then the same two on sounds that are no speech (clicks, short bursts of noise, steady noise):
an utterance started there is a false start. ``--show`` prints each clip where the two differ,
with its frames' probabilities (``#`` >= 0.5, ``+`` >= 0.35, ``.`` below).

Needs espeak-ng and the silero-vad package's torch (its ``get_speech_timestamps``).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from bench.accuracy import RATE, telephone
from common.endpointing import FRAME, EndpointOptions
from gateway.core.audio import to_pcm16
from tests.kit.testdata import espeak
from vad_worker.model import SileroVad
from vad_worker.segmenter import Segmenter, SpeechStarted

WORDS = ("Okay.", "Yes.", "No.", "Hi.", "Thanks.", "Sure.", "Right.", "Great.", "Got it.", "Seven.", "Correct.")
TAIL = 3.0  # s of silence after the word


@dataclass(frozen=True, slots=True)
class Clip:
    name: str  # what is said (or the noise)
    detail: str  # voice, speed, lead, way
    pcm: np.ndarray  # int16 at 16 kHz


def padded(samples: np.ndarray, lead: float) -> np.ndarray:
    """``samples`` after ``lead`` s and before :data:`TAIL` s of silence, as the stage gets them (int16)."""
    silence = np.zeros(round(lead * RATE), np.float32)
    return to_pcm16(np.concatenate([silence, samples, np.zeros(round(TAIL * RATE), np.float32)]))


def words(voices: list[str], speeds: list[int], leads: list[float]) -> Iterator[Clip]:
    for word in WORDS:
        for voice in voices:
            for speed in speeds:
                samples = espeak(word, voice=voice, speed=speed)
                for way, audio in (("16k", samples), ("8k-mulaw", telephone(samples)[0])):
                    for lead in leads:
                        yield Clip(word, f"{voice} {speed}wpm lead {lead:.2f}s {way}", padded(audio, lead))


def noises(leads: list[float]) -> Iterator[Clip]:
    """Sounds that are no speech: a click, a train of clicks, bursts of white noise, steady noise."""
    rng = np.random.default_rng(0)
    click = np.zeros(RATE // 10, np.float32)
    click[:80] = 0.8 * np.exp(-np.arange(80) / 10) * np.sign(rng.normal(size=80))  # 5 ms, decaying
    train = np.concatenate([click] * 5)  # five clicks 100 ms apart (a keyboard, a tapped handset)
    sounds = {"click": click, "clicks x5": train}
    for ms in (50, 100, 200):
        sounds[f"noise burst {ms} ms"] = rng.normal(0, 0.1, RATE * ms // 1000).astype(np.float32)
    sounds["steady noise -40 dBFS 2 s"] = rng.normal(0, 0.01, 2 * RATE).astype(np.float32)
    for name, samples in sounds.items():
        for lead in leads:
            yield Clip(name, f"lead {lead:.2f}s", padded(samples, lead))


def ours(vad: SileroVad, pcm: np.ndarray) -> tuple[bool, list[float]]:
    """Whether the default segmenter starts an utterance in ``pcm`` (no flush), and the probabilities."""
    probs = vad.probabilities(pcm)
    count = len(probs)
    events = Segmenter(EndpointOptions()).push_frames(0, pcm[:count * FRAME].reshape(count, FRAME), probs)
    return any(isinstance(event, SpeechStarted) for event in events), probs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--voices", nargs="+", default=["en-us", "en-gb", "en-us+f3", "en-us+m3"])
    parser.add_argument("--speeds", nargs="+", type=int, default=[150, 200], help="espeak-ng's words a minute")
    parser.add_argument("--leads", nargs="+", type=float, default=[0.1, 0.5], help="s of silence before each")
    parser.add_argument("--show", action="store_true", help="print each clip where the two differ")
    args = parser.parse_args()

    import torch
    from silero_vad import get_speech_timestamps, load_silero_vad

    torch.set_num_threads(1)
    silero = load_silero_vad()
    vad = SileroVad(sequence=False)
    started = time.monotonic()
    rows: dict[str, list[int]] = {}  # name: [clips, silero finds, ours finds, ours misses what silero finds]
    differ = []
    for clip in [*words(args.voices, args.speeds, args.leads), *noises(args.leads)]:
        found = bool(get_speech_timestamps(torch.from_numpy(clip.pcm.astype(np.float32) / 32768), silero))
        started_here, probs = ours(vad, clip.pcm)
        row = rows.setdefault(clip.name, [0, 0, 0, 0])
        row[0] += 1
        row[1] += found
        row[2] += started_here
        row[3] += found and not started_here
        if found != started_here:
            differ.append((clip, found, started_here, probs))
    print("| clip | clips | Silero finds | ours finds | ours misses what Silero finds |\n|---|---|---|---|---|")
    totals = {True: [0, 0, 0, 0], False: [0, 0, 0, 0]}
    for name, row in rows.items():
        print(f"| {name} | {row[0]} | {row[1]} | {row[2]} | {row[3]} |")
        totals[name in WORDS] = [a + b for a, b in zip(totals[name in WORDS], row)]
    for speech, label in ((True, "all words"), (False, "all noises")):
        print(f"| **{label}** | {' | '.join(str(n) for n in totals[speech])} |")
    print(f"\n{sum(r[0] for r in rows.values())} clips in {time.monotonic() - started:.0f} s")
    if args.show:
        for clip, found, started_here, probs in differ:
            first = max(0, next((i for i, p in enumerate(probs) if p >= 0.35), 0) - 2)
            marks = "".join("#" if p >= 0.5 else "+" if p >= 0.35 else "." for p in probs[first:first + 30])
            print(f"{clip.name:10} {clip.detail:36} silero={int(found)} ours={int(started_here)} {marks}")


if __name__ == "__main__":
    main()
