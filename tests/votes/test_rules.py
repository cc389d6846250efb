from hypothesis import given
from hypothesis import strategies as st

from bot.votes.rules import DOWNVOTE_EMOJI, UPVOTE_EMOJI, vote_after_reaction, vote_counts, vote_from_reactions

emoji = st.sampled_from([UPVOTE_EMOJI, DOWNVOTE_EMOJI, "🎉"])
event = st.tuples(emoji, st.booleans())


def test_latest_reaction_wins() -> None:
    vote = vote_after_reaction(None, UPVOTE_EMOJI, True)
    assert vote == 1
    vote = vote_after_reaction(vote, DOWNVOTE_EMOJI, True)
    assert vote == -1
    # Removing the superseded 👍 keeps the 👎.
    assert vote_after_reaction(vote, UPVOTE_EMOJI, False) == -1
    assert vote_after_reaction(vote, DOWNVOTE_EMOJI, False) is None


def test_other_emoji_are_ignored() -> None:
    assert vote_after_reaction(1, "🎉", True) == 1
    assert vote_after_reaction(None, "🎉", False) is None


def test_author_and_bot_never_count() -> None:
    assert not vote_counts(1, author_id=1, bot_id=2)
    assert not vote_counts(2, author_id=1, bot_id=2)
    assert vote_counts(3, author_id=1, bot_id=2)


@given(st.lists(event, max_size=30))
def test_vote_is_always_one_value_or_none_and_the_last_added_wins(events: list[tuple[str, bool]]) -> None:
    vote = None
    for name, added in events:
        vote = vote_after_reaction(vote, name, added)
        assert vote in (None, 1, -1)
        if added and name != "🎉":
            assert vote == (1 if name == UPVOTE_EMOJI else -1)


@given(st.lists(event, max_size=30))
def test_a_member_who_holds_no_reaction_has_no_vote(events: list[tuple[str, bool]]) -> None:
    """Replaying reaction add/remove like Discord does: once both reactions are gone, no vote."""
    held: set[str] = set()
    vote = None
    for name, added in events:
        if added == (name in held):
            continue  # Discord sends no event for adding a held reaction or removing a missing one
        held = held | {name} if added else held - {name}
        vote = vote_after_reaction(vote, name, added)
    if not held & {UPVOTE_EMOJI, DOWNVOTE_EMOJI}:
        assert vote is None
    if vote is not None:
        assert (UPVOTE_EMOJI if vote == 1 else DOWNVOTE_EMOJI) in held


@given(st.booleans(), st.booleans(), st.sampled_from([None, 1, -1]))
def test_recount_keeps_a_vote_that_is_still_held(up: bool, down: bool, previous: int | None) -> None:
    result = vote_from_reactions(up, down, previous)
    if not up and not down:
        assert result is None
    if (previous == 1 and up) or (previous == -1 and down):
        assert result == previous
    if result == 1:
        assert up
    if result == -1:
        assert down
