"""The name model of redact=pii (the names extra): spaCy's small English pipeline, ner only, on
sentences of calls as whisper writes them. What it does not find is listed in docs/redaction.md."""

from __future__ import annotations

import pytest

from common.redaction.names import load_pipeline, persons_in


pytestmark = pytest.mark.extra("names")


@pytest.fixture(scope="module")
def nlp():
    return load_pipeline()


@pytest.mark.parametrize("text, names", [
    ("My name is John Smith.", ["John", "Smith."]),
    ("This is Maria Garcia calling about my bill.", ["Maria", "Garcia"]),
    ("Can I speak to David Johnson, please?", ["David", "Johnson,"]),
    ("Hi, I am Priya Patel from accounts.", ["Priya", "Patel"]),
    ("Thanks Sarah, that is all.", ["Sarah,"]),
    ("Hello Mr Patel.", ["Patel."]),
    ("Is this Wei Zhang?", ["Wei", "Zhang?"]),
    ("my name is john smith", ["john", "smith"]),  # (lower case: found here, less often in general)
])
def test_names_are_found(nlp, text, names):
    tokens = text.split()
    assert [tokens[i] for i in sorted(persons_in(nlp, tokens))] == names


@pytest.mark.parametrize("text", [
    "I ordered it from Amazon on Monday.", "I am calling from Boston about my order.",
    "Thank you very much, have a nice day.", "I am calling from Chase Bank.", "Mark the account as closed.",
    "My card number is 4111 1111 1111 1111.",
])
def test_other_capitalised_words_are_not_names(nlp, text):
    assert persons_in(nlp, text.split()) == frozenset()
