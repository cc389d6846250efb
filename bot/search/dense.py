"""Nearest neighbours by cosine over stored embeddings, with numpy: the board's vectors as one
normalised float32 matrix, grown in place as ideas get vectors, searched with one product."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]


def normalised(values: Iterable[float] | bytes) -> Vector:
    vector = np.frombuffer(values, dtype=np.float32) if isinstance(values, bytes) else np.asarray(values, np.float32)
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm else vector.astype(np.float32)


class DenseIndex:
    def __init__(self) -> None:
        self._reset(0)

    def _reset(self, dims: int) -> None:
        self.dims = dims
        self._matrix: Vector = np.zeros((64, dims), np.float32)
        self._ids: npt.NDArray[np.int64] = np.zeros(64, np.int64)
        self._row_of: dict[int, int] = {}
        self.size = 0
        self.watermark = float("-inf")  # the latest `at` seen: refreshes read from there on

    def put(self, key: int, vector: Vector, at: float) -> None:
        """Add or replace `key`'s vector (normalised); vectors of another size reset the index
        (the model changed)."""
        if vector.shape[0] != self.dims:
            self._reset(vector.shape[0])
        row = self._row_of.get(key)
        if row is None:
            if self.size == self._matrix.shape[0]:  # double the capacity: amortised O(1) appends
                self._matrix = np.concatenate([self._matrix, np.zeros_like(self._matrix)])
                self._ids = np.concatenate([self._ids, np.zeros_like(self._ids)])
            row, self.size = self.size, self.size + 1
            self._row_of[key] = row
            self._ids[row] = key
        self._matrix[row] = vector
        self.watermark = max(self.watermark, at)

    def vector(self, key: int) -> Vector | None:
        row = self._row_of.get(key)
        return None if row is None else self._matrix[row]

    def nearest(self, query: Vector, count: int) -> list[tuple[int, float]]:
        """The `count` keys most similar to `query` (normalised), best first."""
        if self.size == 0 or query.shape[0] != self.dims:
            return []
        scores = self._matrix[: self.size] @ query
        count = min(count, self.size)
        top = np.argpartition(-scores, count - 1)[:count]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(self._ids[i]), float(scores[i])) for i in top]


def fused_score(lexical: float, dense: float | None, *, dense_floor: float, dense_weight: float) -> float:
    """Lexical and dense similarity in one score, so that neither alone decides: the dense cosine
    is first spread over [0, 1] above `dense_floor` (embedding models rate unrelated texts well
    above 0), then weighed with the lexical cosine. Without a vector, the lexical score."""
    if dense is None:
        return lexical
    spread = max(0.0, (dense - dense_floor) / (1.0 - dense_floor))
    return dense_weight * spread + (1.0 - dense_weight) * lexical
