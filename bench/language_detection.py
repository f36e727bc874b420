"""How often whisper base detects the wrong language on the first seconds of speech: among all its
languages (what every decode did before asr_worker/language.py) and among the allowed ones (the
default --detect-languages), and what the settle rule (asr_worker.language.LanguageVote) decides.

Speech: the five LibriVox clips (English read speech) and call-centre lines by espeak-ng's en-us,
en-gb, es and es-419 voices. Each is cut to its first 0.25 .. 5 s and detected in the engine's
fitted encoder window, as a decode is.

    .venv/bin/python -m bench.language_detection
"""

from __future__ import annotations

import numpy as np

from asr_worker.engines.whisper import FRAMES_PER_SECOND, HOP, encoder_frames, fitted_windows
from asr_worker.engines.whisper_models import resolve_model
from asr_worker.language import DEFAULT_LANGUAGES, LanguageVote, restricted
from tests.kit.testdata import espeak, librivox_samples

LENGTHS = (0.25, 0.5, 1.0, 1.5, 2.0, 3.0)
ENGLISH = ("Hello, I'd like to check the balance of my account, please.",
           "My card was declined yesterday at the store and I need to know why.",
           "Thank you for calling, how can I help you today?")
SPANISH = ("Buenos días. Quiero pagar la factura de mi teléfono, por favor.",
           "Mi tarjeta fue rechazada ayer en la tienda y necesito saber por qué.",
           "Gracias por llamar, ¿en qué puedo ayudarle hoy?")
MARGIN = 5 * FRAMES_PER_SECOND  # a partial's window margin (the engine's default)


def main() -> None:
    from faster_whisper import WhisperModel

    model = WhisperModel(resolve_model("base").path, device="cpu", compute_type="int8", cpu_threads=2)
    clips = [(f"librivox{i}", samples, "en") for i, (samples, _) in enumerate(librivox_samples())]
    for voice, lines, truth in (("en-us", ENGLISH, "en"), ("en-gb", ENGLISH, "en"), ("es", SPANISH, "es"),
                                ("es-419", SPANISH, "es")):
        clips += [(f"{voice}-{i}", espeak(line, voice=voice), truth) for i, line in enumerate(lines)]
    counts = {length: [0, 0, 0] for length in LENGTHS}  # cuts, wrong among all, wrong among allowed
    wrong_names: dict[float, list[str]] = {length: [] for length in LENGTHS}
    settled_wrong: list[str] = []
    unsettled: list[str] = []  # (the leader so far)
    for name, samples, truth in clips:
        vote = LanguageVote(DEFAULT_LANGUAGES)
        for length in LENGTHS:
            cut = samples[:int(length * 16000)]
            if len(cut) < int(length * 16000):
                continue
            feature = model.feature_extractor(cut)
            content = min(feature.shape[-1], len(cut) // HOP)
            encoded = model.encode(fitted_windows([feature], [content], encoder_frames(content, margin=MARGIN)))
            found = [(token[2:-2], p) for token, p in model.model.detect_language(encoded)[0]]
            among = restricted(found, DEFAULT_LANGUAGES)
            counts[length][0] += 1
            if found[0][0] != truth:
                counts[length][1] += 1
                wrong_names[length].append(f"{name}:{found[0][0]}")
            counts[length][2] += among[0][0] != truth
        # The settle rule on the clip's first finals: 1 s then 1.5 s pieces, as a call's first answers,
        # then what is left of its first 4 s.
        for start, end in ((0.0, 1.0), (1.0, 2.5), (2.5, 4.0)):
            piece = samples[int(start * 16000):int(end * 16000)]
            if vote.language or len(piece) < 16000 // 2:
                break
            feature = model.feature_extractor(piece)
            content = min(feature.shape[-1], len(piece) // HOP)
            encoded = model.encode(fitted_windows([feature], [content], encoder_frames(content, margin=MARGIN)))
            found = [(token[2:-2], p) for token, p in model.model.detect_language(encoded)[0]]
            vote.add(restricted(found, DEFAULT_LANGUAGES), len(piece) / 16000)
        if vote.language and vote.language != truth:
            settled_wrong.append(f"{name}:{vote.language}")
        elif not vote.language:
            unsettled.append(f"{name}:{vote.leader()}")
    print(f"{len(clips)} clips; allowed: {','.join(DEFAULT_LANGUAGES)}")
    print("| first seconds | cuts | wrong among all | wrong among allowed | wrong ones (all) |")
    print("|---|---|---|---|---|")
    for length, (cuts, wrong_all, wrong_allowed) in counts.items():
        print(f"| {length:g} | {cuts} | {wrong_all} | {wrong_allowed} | {' '.join(wrong_names[length])} |")
    print(f"settled on finals of 1 s, 1.5 s, then up to 1.5 s more: {len(settled_wrong)} of {len(clips)} wrong: "
          f"{' '.join(settled_wrong)}; {len(unsettled)} not settled yet (leading): {' '.join(unsettled)}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
