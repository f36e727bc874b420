"""A Deepgram pre-recorded response gains its speakers (``diarize=true``), sans I/O.

Deepgram's shape (developers.deepgram.com/docs/diarization, /docs/utterances): every word
of ``results.channels[].alternatives[]`` has ``speaker`` (0, 1, ...) and, on pre-recorded
audio, ``speaker_confidence``; with ``utterances=true`` each of ``results.utterances`` has
the ``speaker`` of its words, and an utterance never holds two speakers.

Here a word's speaker is the label most of its 10 ms frames carry (:mod:`.cluster`), and its
``speaker_confidence`` the mean share of windows that agree on those frames, times the share
of its frames that carry its speaker (not a probability). An utterance
whose words change speaker is split there (ids of the parts derived from the utterance's), and
every utterance runs over its speaker's labelled speech around its words (the speaker's turn as
the labels, snapped to the sound, bound it: :func:`_bounded`), or from its first word's start to
its last word's end where the labels give its speaker no frame there.
Speakers are numbered in order of first speech.

Not Deepgram's: ``results.agent``, which speaker is the call centre's agent on a mono call
(``{"speaker": k, "rule": ...}``): the first speaker, in order of first speech, whose first
:data:`GREETING_WORDS` words hold a greeting a call centre answers with (:data:`GREETINGS`;
``rule: "greeting"``), else whoever speaks first (``rule: "first_speaker"``: an inbound call
is answered by the agent). Clients that do not know the field ignore it.
"""

from __future__ import annotations

import re
import uuid

import numpy as np

from .cluster import Labels

FRAMES_PER_SEC = 100
GREETING_WORDS = 25
GREETINGS = ("thank you for calling", "thanks for calling", "how can i help", "how may i help",
             "how can i assist", "how may i assist", "my name is", "welcome to", "you're speaking with",
             "you are speaking with", "this is customer service", "good morning", "good afternoon")


def spoken(start_ms: int, end_ms: int, words: list[tuple[int, int]]) -> tuple[int, int]:
    """The speech a final holds: its first word's start to its last word's end (``words``: their
    (start, end) ms), inside its span ``start_ms``-``end_ms``; the whole span when it has no words.

    The diarizer labels these regions, not the VAD's segments: a segment holds the VAD's
    pre-roll and padding and the pauses it bridged, where nobody speaks (bench/diarization.py:
    DER without a collar 2-3 points lower on the clean mixes), and the call analytics count a
    final's talk the same way (:mod:`gateway.analytics.talk`).
    """
    if not words:
        return start_ms, end_ms
    first = max(start_ms, min(end_ms, words[0][0]))
    return first, max(first, min(end_ms, words[-1][1]))


def word_speaker(labels: Labels, start: float, end: float) -> tuple[int, float] | None:
    """(speaker, confidence) of the span ``start``-``end`` s; the nearest labelled frame when it has none."""
    speaker = labels.speaker
    a = max(0, min(len(speaker) - 1, int(start * FRAMES_PER_SEC)))
    b = max(a + 1, min(len(speaker), int(np.ceil(end * FRAMES_PER_SEC))))
    span = speaker[a:b]
    voiced = span >= 0
    if voiced.any():
        counts = np.bincount(span[voiced])
        best = int(counts.argmax())
        share = counts[best] / len(span[voiced])
        return best, float(share * labels.confidence[a:b][span == best].mean())
    labelled = np.flatnonzero(speaker >= 0)
    if len(labelled) == 0:
        return None
    nearest = labelled[np.abs(labelled - (a + b) // 2).argmin()]
    return int(speaker[nearest]), float(labels.confidence[nearest])


def apply(body: dict, labels: Labels) -> None:
    """Add the speakers to ``body`` (a response of one channel) in place."""
    results = body["results"]
    for channel in results["channels"]:
        for alternative in channel["alternatives"]:
            _label(alternative["words"], labels)
    if "utterances" in results:
        results["utterances"] = _bounded([part for utterance in results["utterances"]
                                          for part in _split(utterance, labels)], labels)
    agent = agent_of(results["channels"][0]["alternatives"][0]["words"]) if results["channels"] else None
    if agent is not None:
        results["agent"] = agent


def warn(body: dict, message: str) -> None:
    """The response without speakers says why in Deepgram's ``metadata.warnings``."""
    body["metadata"].setdefault("warnings", []).append(
        {"parameter": "diarize", "type": "partial_support", "message": message})


def _label(words: list[dict], labels: Labels) -> None:
    for word in words:
        found = word_speaker(labels, word["start"], word["end"])
        if found is not None:
            word["speaker"], confidence = found
            word["speaker_confidence"] = round(confidence, 4)


def _split(utterance: dict, labels: Labels) -> list[dict]:
    """The utterance, or its runs of one speaker each."""
    words = utterance["words"]
    _label(words, labels)
    if not words:
        found = word_speaker(labels, utterance["start"], utterance["end"])
        return [{**utterance, "speaker": found[0] if found else 0}]
    runs: list[list[dict]] = []
    for word in words:
        if runs and runs[-1][-1].get("speaker") == word.get("speaker"):
            runs[-1].append(word)
        else:
            runs.append([word])
    if len(runs) == 1:  # bounded by its words, as the parts are: no padding of the VAD's in a speaker's turn
        return [{**utterance, "start": words[0]["start"], "end": words[-1]["end"],
                 "speaker": words[0].get("speaker", 0)}]
    return [{**utterance, "start": run[0]["start"], "end": run[-1]["end"],
             "confidence": round(sum(w["confidence"] for w in run) / len(run), 4),
             "transcript": " ".join(w["punctuated_word"] for w in run), "words": run,
             "speaker": run[0].get("speaker", 0),
             "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{utterance['id']}/speaker/{index}"))}
            for index, run in enumerate(runs)]


def _bounded(utterances: list[dict], labels: Labels) -> list[dict]:
    """Each utterance (in time order) with its bounds moved to its speaker's labelled speech: the first
    and last frames its speaker's labels hold between its words' bounds, then out along that speaker's
    frames as far as they run, not past the utterances beside it.

    Why: whisper's word timings are loose at a turn's edges (a turn's first word often starts in the
    pause before it, a last word ends early or late), where the labels are snapped to the sound
    (:mod:`.sound`). An utterance whose words carry no frame of its speaker keeps its words' bounds.
    """
    speaker = labels.speaker
    out = []
    for index, utterance in enumerate(utterances):
        k = utterance.get("speaker")
        a = max(0, round(utterance["start"] * FRAMES_PER_SEC))
        b = min(len(speaker), round(utterance["end"] * FRAMES_PER_SEC))
        own = np.flatnonzero(speaker[a:b] == k) if utterance["words"] else np.zeros(0, int)
        if not len(own):
            out.append(utterance)
            continue
        a, b = a + int(own[0]), a + int(own[-1]) + 1
        floor = round(out[-1]["end"] * FRAMES_PER_SEC) if out else 0  # the previous one's end as moved
        ceiling = (round(utterances[index + 1]["start"] * FRAMES_PER_SEC) if index + 1 < len(utterances)
                   else len(speaker))
        while a > floor and speaker[a - 1] == k:
            a -= 1
        while b < ceiling and speaker[b] == k:
            b += 1
        out.append({**utterance, "start": a / FRAMES_PER_SEC, "end": b / FRAMES_PER_SEC})
    return out


def agent_of(words: list[dict]) -> dict | None:
    """Which speaker is the agent, by :data:`GREETINGS` or who speaks first (see the module's docstring)."""
    first: dict[int, list[str]] = {}
    for word in words:
        if "speaker" in word and len(first.setdefault(word["speaker"], [])) < GREETING_WORDS:
            first[word["speaker"]].append(word["word"].lower())
    if not first:
        return None
    for speaker, said in first.items():  # dicts keep insertion order: order of first speech
        text = " ".join(re.sub(r"[^\w']", "", w) for w in said)
        if any(greeting in text for greeting in GREETINGS):
            return {"speaker": speaker, "rule": "greeting"}
    return {"speaker": next(iter(first)), "rule": "first_speaker"}
