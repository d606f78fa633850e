"""memio.ranking's building blocks: the words BM25 sees and the fusion's edge cases (the
rankings themselves are pinned per provider by tests/conformance/test_documents.py)."""

from __future__ import annotations

import pytest

from memio import ranking
from memio.errors import InvalidRequestError


def test_terms_are_lowercased_letters_and_digits_without_stopwords():
    assert ranking.terms("What did Caroline's snake_case e-mail say in 2023?") == [
        "caroline",
        "s",
        "snake",
        "case",
        "e",
        "mail",
        "say",
        "2023",
    ]
    assert ranking.query_terms("tea, Tea and TEA") == ["tea"]
    assert ranking.query_terms("what did they do") == []


def test_fusion_rescales_each_ranking_and_averages_over_those_that_found_something():
    by_meaning = [("a", 0.9), ("b", 0.5), ("c", 0.1)]
    by_words = [("c", 0.8), ("a", 0.4)]
    fused = ranking.fuse([by_meaning, by_words], key=lambda doc: doc, limit=10)
    assert fused == [("a", 0.5), ("c", 0.5), ("b", 0.25)]  # a ties c: meaning's order first
    alone = ranking.fuse([by_meaning, []], key=lambda doc: doc, limit=2)
    assert alone == [("a", 1.0), ("b", 0.5)]
    assert ranking.fuse([[("x", 0.3)], []], key=lambda doc: doc, limit=5) == [("x", 1.0)]
    assert ranking.fuse([[], []], key=lambda doc: doc, limit=5) == []


def test_an_unknown_mode_names_the_field():
    with pytest.raises(InvalidRequestError) as exc:
        ranking.check_mode("fuzzy")
    assert exc.value.field == "search_mode"
