"""Recognition engines behind one interface, chosen by ``--engine``."""

from __future__ import annotations

import importlib

from common.errors import ConfigError

from .base import DecodeRequest, Engine, EngineOptions, Hypothesis, Retry, Word

# Engine modules are imported lazily: vLLM and transformers are optional extras.
ENGINES = {
    "whisper": "asr_worker.engines.whisper",
    "qwen3-vllm": "asr_worker.engines.qwen3_vllm",
    "qwen3-transformers": "asr_worker.engines.qwen3_transformers",
    # A stand-in for benchmarks that recognises nothing; refused without --allow-standin-engine.
    "standin-sleep": "asr_worker.engines.standin",
}


def _module(name: str):
    try:
        module_name = ENGINES[name]
    except KeyError:
        raise ConfigError(f"unknown engine {name!r}; choose one of {', '.join(ENGINES)}") from None
    return importlib.import_module(module_name)


def options_class(name: str) -> type[EngineOptions]:
    """The options class of the engine called ``name`` (its flags); importing it loads no model library."""
    return _module(name).OPTIONS


def load_engine(name: str, options: EngineOptions) -> Engine:
    """Load the engine called ``name``; every module exposes ``OPTIONS`` and ``load(options) -> Engine``."""
    module = _module(name)
    if not isinstance(options, module.OPTIONS):
        raise TypeError(f"the {name} engine takes {module.OPTIONS.__name__}, not {type(options).__name__}")
    return module.load(options)


__all__ = ["DecodeRequest", "Engine", "EngineOptions", "Hypothesis", "Retry", "Word", "load_engine", "options_class", "ENGINES"]
