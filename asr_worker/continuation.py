"""The rest of an utterance after an early final, decoded with the audio and text before it.

An early final (:mod:`.live`: the sentence endpoint, or eager finals) ends the ASR's utterance at
a pause the VAD does not count as an endpoint; speech that resumes is an utterance of its own. Decoded
alone, that rest loses what whisper knew from the speech before it: on the call scripts of
``bench/accuracy.py`` the pieces after an early final ("It is seven seven three, five zero one,
nine nine two." after "Could you read me the reference number again?") came out as "It is 7, 7,
3, I'm near a 1, I'm 2.", and streaming lost 4-5 points of WER to offline decoding this way.

So the final decode of such a rest gets the earlier pieces of the VAD's utterance (their audio
before its own, their finals' text as the forced prefix): the model reads the whole speech and
writes only the rest (:func:`continued` takes the prefix back off). Whisper's offline
``transcribe()`` sees the whole stretch of speech in one window likewise. Partials are decoded
as before (the rest alone): they are cheap and replaced by the final.

What it costs: only these finals, and only their encoder window, which now spans the earlier
pieces too (at most :data:`MAX_CONTEXT_SEC` with the rest; whisper fits its window to the audio in
steps of 5 s). The pieces are kept in memory, not in the checkpoint: after a takeover the rest
is decoded alone, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from common.records import SAMPLE_RATE

from .engines import Hypothesis

# Earlier pieces and the rest together, at most: whisper's fitted window (the audio and 10 s of
# margin) then stays within its 30 s, and the decode within one window.
MAX_CONTEXT_SEC = 20.0


@dataclass(frozen=True, slots=True)
class Piece:
    """Speech of the VAD's utterance that had its (early) final: its int16 samples and the final's text."""

    pcm: np.ndarray
    text: str


def kept(pieces: Sequence[Piece], *, rest: int, max_samples: int = int(MAX_CONTEXT_SEC * SAMPLE_RATE)
         ) -> tuple[Piece, ...]:
    """The latest ``pieces`` (whole ones, in order) that fit before ``rest`` samples in ``max_samples``."""
    out: list[Piece] = []
    room = max_samples - rest
    for piece in reversed(pieces):
        if len(piece.pcm) > room or not piece.text:
            break
        out.append(piece)
        room -= len(piece.pcm)
    return tuple(reversed(out))


def joined(pieces: Sequence[Piece]) -> tuple[np.ndarray, str]:
    """The pieces' audio (float32, as a decode takes it) and their text, as one."""
    pcm = np.concatenate([p.pcm for p in pieces]) if pieces else np.zeros(0, np.int16)
    return pcm.astype(np.float32) / 32768.0, " ".join(p.text.strip() for p in pieces)


def _bare(text: str) -> str:
    return "".join(text.split())


def continued(hypothesis: Hypothesis, *, prefix: str, offset: float,
              tokenize: Callable[[str], list[int]]) -> Hypothesis | None:
    """``hypothesis`` (of ``offset`` seconds of earlier speech and the rest, decoded with ``prefix``
    forced) as the rest's own: its text after the prefix, its words after the prefix's with times
    from the rest's start; None when its text does not begin with the prefix (the engine did not
    continue it: decode the rest alone)."""
    text = hypothesis.text.strip()
    prefix = prefix.strip()
    if not text.startswith(prefix):
        return None
    rest = text[len(prefix):].strip()
    words = hypothesis.words
    # The prefix's own words: the first ones whose letters spell it (any language, spaces or none);
    # failing that, those that end within the earlier speech.
    spelled, count, target = "", 0, _bare(prefix)
    while count < len(words) and len(spelled) < len(target):
        spelled += _bare(words[count].text)
        count += 1
    if spelled != target:
        count = sum(1 for w in words if (w.start + w.end) / 2 < offset)
    words = tuple(replace(w, start=max(0.0, w.start - offset), end=max(0.0, w.end - offset)) for w in words[count:])
    confidence = sum(w.probability for w in words) / len(words) if words else hypothesis.confidence
    token_ids = tuple(tokenize(rest)) if rest else ()
    lost = tuple((max(0.0, a - offset), b - offset) for a, b in hypothesis.lost if b > offset)
    return replace(hypothesis, text=rest, words=words, confidence=confidence, token_ids=token_ids,
                   tokens=len(token_ids), no_speech=hypothesis.no_speech or not rest, lost=lost)
