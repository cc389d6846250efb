from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from bot.ideas.ranking import Rankable, Sort, controversy, hot_score, rank, wilson_lower_bound

counts = st.integers(min_value=0, max_value=10_000)


def test_wilson_known_values() -> None:
    assert wilson_lower_bound(0, 0) == 0.0
    # 1 of 1 is less certain than 90 of 100.
    assert wilson_lower_bound(1, 0) < wilson_lower_bound(90, 10)
    assert abs(wilson_lower_bound(90, 10) - 0.8256) < 1e-3


@given(counts, counts)
def test_wilson_is_a_probability_below_the_observed_share(ups: int, downs: int) -> None:
    score = wilson_lower_bound(ups, downs)
    assert 0.0 <= score <= 1.0
    if ups + downs:
        assert score <= ups / (ups + downs) + 1e-12


@given(counts, counts)
def test_wilson_grows_with_an_extra_upvote_and_shrinks_with_a_downvote(ups: int, downs: int) -> None:
    assert wilson_lower_bound(ups + 1, downs) >= wilson_lower_bound(ups, downs) - 1e-12
    assert wilson_lower_bound(ups, downs + 1) <= wilson_lower_bound(ups, downs) + 1e-12


@given(counts, counts)
def test_controversy_is_symmetric_and_zero_without_disagreement(ups: int, downs: int) -> None:
    assert controversy(ups, downs) == controversy(downs, ups)
    assert controversy(ups, 0) == 0.0


def test_hot_prefers_newer_at_equal_score() -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    assert hot_score(10, 0, now) > hot_score(10, 0, now - timedelta(days=1))


items = st.lists(
    st.builds(
        Rankable,
        key=st.integers(min_value=1, max_value=10**6),
        ups=counts,
        downs=counts,
        created_at=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 1, 1), timezones=st.just(UTC)),
    ),
    max_size=40,
    unique_by=lambda item: item.key,
)


@given(items, st.sampled_from(list(Sort)))
def test_rank_is_a_permutation_and_deterministic(batch: list[Rankable], sort: Sort) -> None:
    ranked = rank(batch, sort)
    assert sorted(ranked, key=lambda i: i.key) == sorted(batch, key=lambda i: i.key)
    assert rank(list(reversed(batch)), sort) == ranked


@given(items)
def test_best_orders_by_wilson(batch: list[Rankable]) -> None:
    scores = [wilson_lower_bound(i.ups, i.downs) for i in rank(batch, Sort.BEST)]
    assert scores == sorted(scores, reverse=True)
