"""Text similarity without a model: tokenising, stemming, TF-IDF cosine, and keyword themes
(the digest's fallback when no LLM is configured)."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import Stemmer

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_MARKUP = re.compile(r"<[@#][!&]?\d+>|https?://\S+|\*\*[^*\n]{1,40}\*\*\n")

_STOPWORD_TEXT = (
    "a able about above add added adding after again against all allow allows also am an and any are as "
    "at be because been before being below benefits between both but by can cannot could currently did do "
    "does doing done down during each either else etc even ever every feature few for from further get "
    "gets getting give go going got had has have having he her here hers him his how i idea ideas if in "
    "instead into is it its itself just let lets like make makes making may maybe me more most much must "
    "my need needs new no nor not now of off often on once one only or other our ours out over own please "
    "problem proposal really same see should so some someone something such than that the their them then "
    "there these they thing things this those through to today too under until up upon us use used using "
    "very via want wants was way we well were what when where which while who whom why will with without "
    "would yet you your yours "
)
STOPWORDS = frozenset(_STOPWORD_TEXT.split(" ")) - {""}

# The Porter stemmer (Snowball's implementation), the same algorithm as SQLite FTS5's `porter`
# tokenizer, so a term here is the term the search index holds.
_STEMMER = Stemmer.Stemmer("porter", 1 << 16)


def stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


def _without_accents(text: str) -> str:
    # As the search index folds them (remove_diacritics), so "café" and "cafe" are one term.
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """Lower-cased words (letters and digits, any script) without mentions, links or the
    modal's section headings."""
    text = _without_accents(_MARKUP.sub(" ", text.lower().replace("’", "'")))
    found = []
    for word in _WORD.findall(text):
        word = word.split("'")[0]
        if word and word not in STOPWORDS and not (word.isdigit() and len(word) > 4):
            found.append(word)
    return found


def tokens(text: str) -> list[str]:
    """The terms TF-IDF works on: stemmed words."""
    return [stem(word) for word in words(text)]


def idea_text(title: str, body: str) -> str:
    """The text of an idea for matching: the title counts twice (it names the idea)."""
    return f"{title}\n{title}\n{body}"


SparseVector = dict[str, float]


def _normalise(vector: SparseVector) -> SparseVector:
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {k: v / norm for k, v in vector.items()} if norm else {}


def sparse_cosine(a: SparseVector, b: SparseVector) -> float:
    """Cosine of two unit-length sparse vectors."""
    if len(a) > len(b):
        a, b = b, a
    return sum(value * b.get(key, 0.0) for key, value in a.items())


def dense_cosine(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) != len(b) or not a:
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


class TfidfIndex:
    """TF-IDF (sublinear tf, smoothed idf) over a corpus of documents keyed by anything hashable."""

    def __init__(self, documents: Iterable[tuple[int, str]]) -> None:
        self.terms: dict[int, Counter[str]] = {key: Counter(tokens(text)) for key, text in documents}
        df: Counter[str] = Counter()
        for counts in self.terms.values():
            df.update(counts.keys())
        self.df = df
        self.n = len(self.terms)
        self.vectors: dict[int, SparseVector] = {key: self.vector_of(counts) for key, counts in self.terms.items()}

    def idf(self, term: str) -> float:
        return math.log((1 + self.n) / (1 + self.df.get(term, 0))) + 1.0

    def vector_of(self, counts: Counter[str]) -> SparseVector:
        return _normalise({term: (1 + math.log(tf)) * self.idf(term) for term, tf in counts.items()})

    def query(self, text: str) -> SparseVector:
        return self.vector_of(Counter(tokens(text)))

    def similar(self, text: str, *, limit: int = 5, threshold: float = 0.0) -> list[tuple[int, float]]:
        """Documents most similar to `text`, best first, at or above `threshold`."""
        query = self.query(text)
        scored = [(key, sparse_cosine(query, vector)) for key, vector in self.vectors.items()]
        scored = [(key, score) for key, score in scored if score >= threshold and score > 0]
        scored.sort(key=lambda item: (-item[1], item[0]))
        return scored[:limit]


def tfidf_cosines(query_text: str, documents: dict[int, str], df: Mapping[str, int], n: int) -> dict[int, float]:
    """TF-IDF cosine of `query_text` with each document, the idf taken from the whole board's
    document frequencies (`df`, over `n` documents) rather than from these few documents. The
    query counts as one more document of the board, so that its own words are not rated rarer
    than the words it shares with the board (on a small board that would inflate every score)."""
    query_counts = Counter(tokens(query_text))

    def idf(term: str) -> float:
        return math.log((2 + n) / (1 + df.get(term, 0) + (term in query_counts))) + 1.0

    def vector(counts: Counter[str]) -> SparseVector:
        return _normalise({term: (1 + math.log(tf)) * idf(term) for term, tf in counts.items()})

    query = vector(query_counts)
    return {key: sparse_cosine(query, vector(Counter(tokens(text)))) for key, text in documents.items()}


def informative_words(text: str, df: Mapping[str, int], budget: int, most: int) -> list[tuple[str, int]]:
    """The words of `text` that best find its duplicates on a board, each with the number of
    ideas holding it: the rarest first (one per stem), as many as fit in `budget` board postings,
    at most `most`. Words the board has not seen yet cost nothing and come first."""
    by_stem: dict[str, str] = {}
    for word in words(text):
        by_stem.setdefault(stem(word), word)
    chosen: list[tuple[str, int]] = []
    spent = 0
    for term, word in sorted(by_stem.items(), key=lambda item: (df.get(item[0], 0), item[0])):
        cost = df.get(term, 0)
        if chosen and (spent + cost > budget or len(chosen) >= most):
            break
        chosen.append((word, cost))
        spent += cost
    return chosen


def lexical_similarity(a: str, b: str, corpus: Iterable[str] = ()) -> float:
    """TF-IDF cosine of two texts, with idf taken from `corpus` plus the two texts."""
    docs = [(0, a), (1, b), *((i + 2, text) for i, text in enumerate(corpus))]
    index = TfidfIndex(docs)
    return sparse_cosine(index.vectors[0], index.vectors[1])


# --- keyword themes ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeywordTheme:
    label: str
    keys: tuple[int, ...]


def keyword_themes(
    documents: Sequence[tuple[int, str]], *, max_themes: int = 5, min_size: int = 2
) -> list[KeywordTheme]:
    """Group documents by their strongest shared keyword (greedy, largest weight first).

    Each document joins at most one theme; a theme needs `min_size` documents. The label is the
    keyword as members wrote it, plus its most frequent companion keyword when there is one."""
    if len(documents) < min_size:
        return []
    index = TfidfIndex(documents)
    surface: dict[str, Counter[str]] = {}
    for _, text in documents:
        for word in words(text):
            surface.setdefault(stem(word), Counter())[word] += 1
    unassigned = set(index.vectors)
    themes: list[KeywordTheme] = []
    while len(themes) < max_themes and len(unassigned) >= min_size:
        weight: dict[str, float] = {}
        for key in unassigned:
            for term, value in index.vectors[key].items():
                weight[term] = weight.get(term, 0.0) + value
        best = None
        for term, total in sorted(weight.items(), key=lambda item: (-item[1], item[0])):
            members = [key for key in unassigned if term in index.vectors[key]]
            if len(members) >= min_size and not term.isdigit():
                best = (term, total, members)
                break
        if best is None:
            break
        term, _, members = best
        companions: Counter[str] = Counter()
        for key in members:
            companions.update(t for t in index.terms[key] if t != term)
        label = _surface(surface, term)
        if companions:
            partner, count = companions.most_common(1)[0]
            if count >= max(2, len(members) // 2):
                label = f"{label} / {_surface(surface, partner)}"
        members.sort()
        themes.append(KeywordTheme(label, tuple(members)))
        unassigned -= set(members)
    return themes


def _surface(surface: dict[str, Counter[str]], term: str) -> str:
    forms = surface.get(term)
    return forms.most_common(1)[0][0] if forms else term
