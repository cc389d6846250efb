"""Themes by meaning, the pure part: clustering fixed vectors and naming the groups."""

from __future__ import annotations

import math

from bot.digest.themes import THEME_MIN_COSINE, central_member, cluster_by_meaning, meaning_themes
from bot.search.similarity import idea_text, keyword_themes


def at(degrees: float, lift: float = 0.0) -> list[float]:
    """A unit vector at `degrees` in the first plane, tilted by `lift` degrees into a third axis."""
    r, z = math.radians(degrees), math.radians(lift)
    return [math.cos(r) * math.cos(z), math.sin(r) * math.cos(z), math.sin(z)]


def offset(vector: list[float], common: float = 3.0) -> list[float]:
    """The vector plus a large shared component, as embedding models give every text of a kind."""
    return [*vector, common]


WEEK = [
    (1, "Dark mode", "A dark theme for the dashboard, easier on the eyes at night.", at(0)),
    (2, "Offline mode", "Keep working on the train and sync when the connection is back.", at(90)),
    (3, "Night theme", "Please add a night theme to the dashboard for late work.", at(10)),
    (4, "Export reports to CSV", "Download every report as a CSV file.", at(180)),
    (5, "Work without a connection", "The app should work offline on planes.", at(95)),
    (6, "Mode for beginners", "A simpler mode for new users.", at(0, lift=-90)),
]


def test_ideas_group_by_meaning_not_by_a_shared_word() -> None:
    documents = [(number, title, offset(vector)) for number, title, _, vector in WEEK]
    themes = meaning_themes(documents)
    assert [theme.keys for theme in themes] == [(1, 3), (2, 5)]
    assert [theme.label for theme in themes] == ["Dark mode", "Offline mode"]  # each named after a member
    # The keyword fallback on the same week does group by the word "mode": the reason for this.
    by_keyword = keyword_themes([(n, idea_text(title, body)) for n, title, body, _ in WEEK])
    assert any({1, 2} <= set(theme.keys) for theme in by_keyword)


def test_a_shared_component_is_subtracted_from_five_ideas_on() -> None:
    # Raw cosines of these are all above 0.9 (the shared component dominates): without centring
    # every idea would be one theme.
    vectors = [offset(v) for _, _, _, v in WEEK]
    raw = [[sum(x * y for x, y in zip(a, b, strict=True)) for b in vectors] for a in vectors]
    norms = [math.sqrt(raw[i][i]) for i in range(len(vectors))]
    assert min(raw[i][j] / norms[i] / norms[j] for i in range(6) for j in range(6)) > 0.7
    assert cluster_by_meaning(vectors) == [[0, 2], [1, 4], [3], [5]]
    # Too few to centre: the raw cosine, where the shared component lumps different ideas together.
    assert cluster_by_meaning(vectors[:4]) == [[0, 1, 2], [3]]


def test_average_linkage_does_not_chain_neighbours_into_one_theme() -> None:
    # a~b and b~c are close (cos 18 deg = 0.951), a~c is not (cos 36 deg = 0.809).
    groups = cluster_by_meaning([at(0), at(18), at(36)], min_cosine=0.905)
    assert groups == [[0, 1], [2]]
    assert cluster_by_meaning([at(0), at(18), at(36)], min_cosine=0.8) == [[0, 1, 2]]


def test_threshold_scale_and_degenerate_input() -> None:
    assert cluster_by_meaning([]) == []
    assert cluster_by_meaning([[0.0, 0.0], [1.0, 0.0]]) == [[0], [1]]  # a zero vector joins nothing
    assert cluster_by_meaning([[3.0, 0.0], [0.5, 0.01]]) == [[0, 1]]  # only direction counts
    just_in = math.degrees(math.acos(THEME_MIN_COSINE)) - 0.1
    just_out = math.degrees(math.acos(THEME_MIN_COSINE)) + 0.1
    assert cluster_by_meaning([at(0), at(just_in)]) == [[0, 1]]
    assert cluster_by_meaning([at(0), at(just_out)]) == [[0], [1]]


def test_at_most_max_themes_of_at_least_min_size_largest_first_named_by_the_central_idea() -> None:
    angles = {1: -8, 2: 0, 3: 8, 4: 90, 5: 92, 6: 180, 7: 240}
    documents = [(n, f"Idea {n}", offset(at(angle))) for n, angle in angles.items()]
    themes = meaning_themes(documents, max_themes=2)
    assert [(theme.label, theme.keys) for theme in themes] == [("Idea 2", (1, 2, 3)), ("Idea 4", (4, 5))]
    assert meaning_themes(documents, min_size=3) == meaning_themes(documents, min_size=3, max_themes=1)
    assert meaning_themes(documents[:1]) == []
    assert central_member([at(-8), at(0), at(8)], [0, 1, 2]) == 1
    long = [(1, "x" * 100, at(0)), (2, "y", at(1))]
    assert meaning_themes(long)[0].label == "x" * 59 + "…"
