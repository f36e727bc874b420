"""The language rule at a call's open: a language the ASR's model cannot decode is refused at once.

The rule is one function, :meth:`common.languages.ModelLanguages.refusal`. Here it meets what the
fleet's ASR workers announced (the languages every one of them decodes), before anything is taken
for the call, so that the client hears why (``bad_config``, close 1008) and an English-only model
never hears Spanish as English. The ASR stage applies the same function to its own model as it
takes a session (asr_worker/stage.py): for a worker of another model than the fleet announced (a
mixed fleet, a model being rolled out) and a call admitted before any worker had announced one.
"""

from __future__ import annotations

from ..calls.call import Call, Plug
from ..calls.feature import Feature, FeatureRefusal
from .shared import Shared


class Languages(Feature):
    def __init__(self, call: Call) -> None:
        self.call = call

    def refusal(self) -> FeatureRefusal | None:
        config = self.call.config
        message = self.call.models.refusal(config.language, detect=config.detect_language, languages=config.languages)
        return FeatureRefusal("language", message) if message else None


def plug(shared: Shared) -> Plug:
    return Languages
