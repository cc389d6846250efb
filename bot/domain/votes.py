"""Reaction voting rules: one vote per member per idea, the latest reaction wins."""

from __future__ import annotations

UPVOTE_EMOJI = "👍"
DOWNVOTE_EMOJI = "👎"
VOTE_EMOJI = {UPVOTE_EMOJI: 1, DOWNVOTE_EMOJI: -1}


def vote_value(emoji: str) -> int | None:
    """+1 / -1 for the voting emoji, None for any other reaction."""
    return VOTE_EMOJI.get(emoji)


def vote_after_reaction(current: int | None, emoji: str, added: bool) -> int | None:
    """The member's vote after one reaction event.

    Adding a voting reaction makes it the vote (latest wins). Removing the reaction that is
    the current vote withdraws it; removing the other one (e.g. the bot cleaning up the
    superseded reaction) changes nothing.
    """
    value = vote_value(emoji)
    if value is None:
        return current
    if added:
        return value
    return None if current == value else current


def vote_counts(voter_id: int, *, author_id: int, bot_id: int) -> bool:
    """The bot's reactions and the author's own vote never count."""
    return voter_id not in (author_id, bot_id)


def vote_from_reactions(has_up: bool, has_down: bool, previous: int | None) -> int | None:
    """A recount sees who holds which reaction but not their order: keep the stored vote when
    it is still held, otherwise take the reaction that is there (👍 when both are)."""
    if (previous == 1 and has_up) or (previous == -1 and has_down):
        return previous
    if has_up:
        return 1
    if has_down:
        return -1
    return None
