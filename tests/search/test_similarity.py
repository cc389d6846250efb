"""Lexical similarity: tokens, TF-IDF cosine, keyword themes, and precision/recall on the
labelled pairs in tests/data/duplicate_pairs.json (figures in docs/duplicates.md)."""

from __future__ import annotations

import json
from pathlib import Path

from bot.search.duplicates import LEXICAL_THRESHOLD
from bot.search.similarity import (
    TfidfIndex,
    dense_cosine,
    idea_text,
    keyword_themes,
    lexical_similarity,
    sparse_cosine,
    stem,
    tokens,
)

PAIRS = json.loads((Path(__file__).parents[1] / "data" / "duplicate_pairs.json").read_text())["pairs"]
PRECISION_FLOOR = 0.9
RECALL_FLOOR = 0.9


def test_tokens_drop_stopwords_mentions_links_and_stem() -> None:
    assert tokens("Please add <@123> dark themes to https://x.example the dashboards!") == [
        "dark",
        "theme",
        "dashboard",
    ]
    assert stem("notifications") == stem("notification")
    assert stem("recycling") == stem("recycle")
    # The Porter stemmer keeps words apart that a crude suffix stripper merged.
    assert len({stem("mode"), stem("mod")}) == 2 and stem("better") != stem("bet") and stem("theme") != stem("them")
    assert tokens("Café CAFE") == ["cafe", "cafe"]  # accents folded as the search index does
    assert tokens("") == []


def test_cosine_basics() -> None:
    index = TfidfIndex([(1, "dark mode for the dashboard"), (2, "export reports to csv")])
    assert sparse_cosine(index.vectors[1], index.vectors[1]) > 0.999
    assert sparse_cosine(index.vectors[1], index.vectors[2]) == 0.0
    assert index.similar("a dark dashboard please", limit=1)[0][0] == 1
    assert dense_cosine([1.0, 0.0], [1.0, 0.0]) == 1.0
    assert dense_cosine([1.0, 0.0], [0.0, 1.0]) == 0.0
    assert dense_cosine([], []) == 0.0
    assert lexical_similarity("Dark mode", "Dark mode") > 0.99


def evaluate(threshold: float) -> tuple[float, float, int]:
    texts: list[str] = []
    for pair in PAIRS:
        for side in ("a", "b"):
            text = idea_text(pair[side]["title"], pair[side]["body"])
            if text not in texts:
                texts.append(text)
    index = TfidfIndex(list(enumerate(texts)))
    tp = fp = fn = 0
    for pair in PAIRS:
        a = index.vectors[texts.index(idea_text(pair["a"]["title"], pair["a"]["body"]))]
        b = index.vectors[texts.index(idea_text(pair["b"]["title"], pair["b"]["body"]))]
        predicted = sparse_cosine(a, b) >= threshold
        tp += predicted and pair["duplicate"]
        fp += predicted and not pair["duplicate"]
        fn += (not predicted) and pair["duplicate"]
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1), len(PAIRS)


def test_labelled_set_is_large_and_balanced() -> None:
    assert len(PAIRS) >= 60
    duplicates = sum(p["duplicate"] for p in PAIRS)
    assert 0.4 <= duplicates / len(PAIRS) <= 0.6


def test_precision_and_recall_at_the_chosen_threshold_stay_above_the_floor() -> None:
    precision, recall, _ = evaluate(LEXICAL_THRESHOLD)
    assert precision >= PRECISION_FLOOR, precision
    assert recall >= RECALL_FLOOR, recall


def test_keyword_themes_group_shared_words() -> None:
    docs = [
        (1, "Dark mode for the dashboard"),
        (2, "Dark theme on mobile"),
        (3, "Dark colours in the editor"),
        (4, "Export reports to CSV"),
        (5, "CSV import of contacts"),
        (6, "Keyboard shortcuts"),
    ]
    themes = keyword_themes(docs)
    assert themes[0].label.startswith("dark") and themes[0].keys == (1, 2, 3)
    assert any(t.keys == (4, 5) and "csv" in t.label for t in themes)
    assert all(6 not in t.keys for t in themes)
    assert keyword_themes([(1, "alone")]) == []
