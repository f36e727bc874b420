"""Recognition engines behind one interface, chosen by ``--engine``."""

from __future__ import annotations

import importlib

from common.errors import ConfigError

from .base import DecodeRequest, Engine, EngineOptions, Hypothesis, Word

# Engine modules are imported lazily: vLLM and transformers are optional extras.
ENGINES = {
    "whisper": "asr_worker.engines.whisper",
    "qwen3-vllm": "asr_worker.engines.qwen3_vllm",
    "qwen3-transformers": "asr_worker.engines.qwen3_transformers",
}


def load_engine(name: str, options: EngineOptions) -> Engine:
    """Load the engine called ``name``; every module exposes ``load(options) -> Engine``."""
    try:
        module_name = ENGINES[name]
    except KeyError:
        raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}") from None
    module = importlib.import_module(module_name)
    return module.load(options)


__all__ = ["DecodeRequest", "Engine", "EngineOptions", "Hypothesis", "Word", "load_engine", "ENGINES"]
