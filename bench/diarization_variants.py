"""Clustering variants of the diarizer on the bench's mixes, the windows' embeddings computed once per mix.

Why apart from bench/diarization.py: that bench runs whisper on every mix (14 min on the shared
box); the clustering's variants need only the embeddings. Here the regions are Silero VAD's (the
pipeline's 0.8 s end-of-speech silence, 0.3 s padding: the ``labels, VAD regions`` column of
bench/diarization.py), every window of them is embedded once (:mod:`gateway.diarization.encoder`,
one torch thread), and each variant clusters the same embeddings; DER without a collar
(bench/der.py), the speakers found in brackets. Variants:

- ``0.4 cut``: average linkage cut at 0.4, strays joined (the diarizer before the split by turns);
- ``0.35 cut``, ``0.3 cut``: the same at other cuts;
- ``0.4 cut + split by turns``: :func:`gateway.diarization.cluster.cluster` as shipped.

``--truth``: the truth's speech spans as the regions (the ``oracle`` column of bench/diarization.py).

Mixes: bench/diarization.py's, and each voice alone (12 turns) with ``--alone``.

    PYTHONPATH=$PWD .venv/bin/python -m bench.diarization_variants [--mix NAME ...] [--alone]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from bench.der import der, reference_frames
from bench.diarization import MIXES, regions_ms
from gateway.diarization import cluster, pool
from tests.kit import mixes

M3, F3 = mixes.VOICES
ALONE = {"reader alone": (mixes.READER,), "m3 alone": (M3,), "f3 alone": (F3,),
         "m1/p35 alone": ("en-us+m1/p35",), "m7/p65 alone": ("en-gb+m7/p65",), "f2 alone": ("en-us+f2",)}


def cut(threshold: float):
    """Average linkage cut at ``threshold``, strays joined: the diarizer without the split by turns."""
    from scipy.cluster.hierarchy import fcluster, linkage

    def run(embeddings: np.ndarray) -> np.ndarray:
        found = fcluster(linkage(embeddings.astype(np.float64), "average", "cosine"), threshold, "distance") - 1
        counts = np.bincount(found)
        kept = np.flatnonzero(counts >= min(cluster.MIN_WINDOWS, counts.max()))
        if len(kept) == len(counts):
            return found
        return kept[np.argmax(embeddings @ cluster._centres(embeddings, found, kept).T, axis=1)]
    return run


VARIANTS = {"0.4 cut": cut(0.4), "0.35 cut": cut(0.35), "0.3 cut": cut(0.3),
            "0.4 cut + split by turns": cluster.cluster}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mix", nargs="+", choices=[*MIXES, *ALONE], default=list(MIXES))
    parser.add_argument("--alone", action="store_true", help="each voice alone too")
    parser.add_argument("--truth", action="store_true", help="the truth's speech spans as the regions, not the VAD's")
    args = parser.parse_args()
    pool._load()
    encoder = pool._encoder
    assert encoder is not None
    print("| mix | overlap | " + " | ".join(VARIANTS) + " |")
    print("|---" * (len(VARIANTS) + 2) + "|")
    for name in [*args.mix, *(ALONE if args.alone else ())]:
        voices = {**MIXES, **ALONE}[name]
        for overlap in (0.0,) if len(voices) == 1 else (0.0, 0.5):
            began = time.process_time()
            mix, truth = mixes.build(voices, overlap=overlap, seed=0, turns=12 if len(voices) == 1 else 6)
            found = [(int(t.start * 1000), int(t.end * 1000)) for t in truth] if args.truth else regions_ms(mix)
            regions = pool._merged([(a * 16, b * 16) for a, b in found])
            spans = cluster.windows(regions)
            embeddings = encoder.embed([mix[a:b] for a, b in spans])
            reference = reference_frames([(t.speaker, t.start, t.end) for t in truth], -(-len(mix) // 160))
            cells = []
            for run in VARIANTS.values():
                labels = cluster.frame_labels(spans, run(embeddings), regions, len(mix))
                cells.append(f"{der(reference, labels.speaker).total:.1%} ({labels.speakers})")
            print(f"| {name} | {overlap:g} s | " + " | ".join(cells) + f" | ({time.process_time() - began:.0f} CPU s)",
                  flush=True)


if __name__ == "__main__":
    main()
