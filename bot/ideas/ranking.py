"""Ranking functions for /idea top and the digest. Pure and total: any counts give a number."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

Z_95 = 1.96
# Reddit's hot: 45000 s (12.5 h) of age is worth one order of magnitude of score.
HOT_SECONDS_PER_DECADE = 45000.0
HOT_EPOCH = datetime(2024, 1, 1).timestamp()


class Sort(StrEnum):
    BEST = "best"
    HOT = "hot"
    NEW = "new"
    CONTROVERSIAL = "controversial"


class Period(StrEnum):
    WEEK = "week"
    MONTH = "month"
    ALL = "all"

    @property
    def days(self) -> int | None:
        return {Period.WEEK: 7, Period.MONTH: 30, Period.ALL: None}[self]


def wilson_lower_bound(ups: int, downs: int, z: float = Z_95) -> float:
    """Lower bound of the Wilson score interval for the share of upvotes; 0 with no votes."""
    n = ups + downs
    if n <= 0:
        return 0.0
    p = ups / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    margin = z * math.sqrt((p * (1 - p) + z2 / (4 * n)) / n)
    return max(0.0, (centre - margin) / (1 + z2 / n))


def hot_score(ups: int, downs: int, created_at: datetime) -> float:
    score = ups - downs
    order = math.log10(max(abs(score), 1))
    sign = (score > 0) - (score < 0)
    return sign * order + (created_at.timestamp() - HOT_EPOCH) / HOT_SECONDS_PER_DECADE


def controversy(ups: int, downs: int) -> float:
    """Many votes, evenly split. Zero when nobody disagrees at all."""
    if ups == 0 or downs == 0:
        return 0.0
    return (ups + downs) / max(abs(ups - downs), 1)


@dataclass(frozen=True, slots=True)
class Rankable:
    key: int
    ups: int
    downs: int
    created_at: datetime


def rank(items: Sequence[Rankable], sort: Sort) -> list[Rankable]:
    """Best first; ties go to the newer idea, then the lower key, so the order is total."""

    def tiebreak(item: Rankable) -> tuple[float, int]:
        return (-item.created_at.timestamp(), item.key)

    if sort is Sort.NEW:
        return sorted(items, key=tiebreak)
    score = {
        Sort.BEST: lambda i: wilson_lower_bound(i.ups, i.downs),
        Sort.HOT: lambda i: hot_score(i.ups, i.downs, i.created_at),
        Sort.CONTROVERSIAL: lambda i: controversy(i.ups, i.downs),
    }[sort]
    return sorted(items, key=lambda i: (-score(i), *tiebreak(i)))
