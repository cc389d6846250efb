"""Themes by meaning, the pure part: clustering fixed vectors and naming the groups."""

from __future__ import annotations

import math

from bot.digest.themes import THEME_MIN_COSINE, cluster_by_meaning, meaning_themes
from bot.search.similarity import idea_text, keyword_themes


def at(degrees: float, lift: float = 0.0) -> list[float]:
    """A unit vector at `degrees` in the first plane, tilted by `lift` degrees into a third axis."""
    r, z = math.radians(degrees), math.radians(lift)
    return [math.cos(r) * math.cos(z), math.sin(r) * math.cos(z), math.sin(z)]


WEEK = [
    (1, "Dark mode", "A dark theme for the dashboard, easier on the eyes at night.", at(0)),
    (2, "Offline mode", "Keep working on the train and sync when the connection is back.", at(90)),
    (3, "Night theme", "Please add a night theme to the dashboard for late work.", at(10)),
    (4, "Export reports to CSV", "Download every report as a CSV file.", at(180)),
    (5, "Work without a connection", "The app should work offline on planes.", at(95)),
    (6, "Mode for beginners", "A simpler mode for new users.", at(0, lift=60)),
]


def documents() -> list[tuple[int, str, list[float]]]:
    return [(number, idea_text(title, body), vector) for number, title, body, vector in WEEK]


def test_ideas_group_by_meaning_not_by_a_shared_word() -> None:
    themes = meaning_themes(documents())
    assert [theme.keys for theme in themes] == [(1, 3), (2, 5)]
    labels = [theme.label.lower() for theme in themes]
    assert all("mode" not in label for label in labels), labels
    assert "theme" in labels[0] or "night" in labels[0], labels
    # The keyword fallback on the same week does group by the word "mode": the reason for this.
    by_keyword = keyword_themes([(n, text) for n, text, _ in documents()])
    assert any({1, 2} <= set(theme.keys) for theme in by_keyword)


def test_average_linkage_does_not_chain_neighbours_into_one_theme() -> None:
    # a~b and b~c are close (cos 18 deg = 0.951), a~c is not (cos 36 deg = 0.809).
    groups = cluster_by_meaning([at(0), at(18), at(36)], min_cosine=0.905)
    assert groups == [[0, 1], [2]]
    assert cluster_by_meaning([at(0), at(18), at(36)], min_cosine=0.8) == [[0, 1, 2]]


def test_threshold_scale_and_degenerate_input() -> None:
    assert cluster_by_meaning([]) == []
    assert cluster_by_meaning([[0.0, 0.0], [1.0, 0.0]]) == [[0], [1]]  # a zero vector joins nothing
    # Length does not matter, only direction.
    assert cluster_by_meaning([[3.0, 0.0], [0.5, 0.01]]) == [[0, 1]]
    just_in = math.degrees(math.acos(THEME_MIN_COSINE)) - 0.1
    just_out = math.degrees(math.acos(THEME_MIN_COSINE)) + 0.1
    assert cluster_by_meaning([at(0), at(just_in)]) == [[0, 1]]
    assert cluster_by_meaning([at(0), at(just_out)]) == [[0], [1]]


def test_at_most_max_themes_of_at_least_min_size_largest_first() -> None:
    docs = [(n, f"word{n} shared", at(0 if n < 4 else 90 if n < 6 else 180)) for n in range(1, 8)]
    themes = meaning_themes(docs, max_themes=2)
    assert [theme.keys for theme in themes] == [(1, 2, 3), (4, 5)]
    assert meaning_themes(docs, min_size=3) == meaning_themes(docs, min_size=3, max_themes=1)
    assert meaning_themes(docs[:1]) == []
