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


# --- one semantics for live events and recounts ------------------------------------------------
#
# A member's state on a card is their vote and the voting reactions they hold (as bits). Live
# events move it with `after_reaction`; a recount sees only the reactions held now, and applies
# what changed since the bot last saw them as if those events had arrived (`after_recount`).
# Both therefore agree: a recount after the live events changes nothing.
#
# A vote cast with the "Support instead" button (or moved by a merge) replaces the member's
# reaction vote without touching their reactions: it stands until they add a voting reaction
# (the latest wins) or remove the reaction that is their vote. A recount keeps it while the
# reactions are as the bot last saw them.

UP_HELD = 1
DOWN_HELD = 2
_HELD_BIT = {1: UP_HELD, -1: DOWN_HELD}


def held_bits(has_up: bool, has_down: bool) -> int:
    return (UP_HELD if has_up else 0) | (DOWN_HELD if has_down else 0)


def after_reaction(vote: int | None, held: int, emoji: str, added: bool) -> tuple[int | None, int]:
    """(vote, held reactions) after one reaction event. Adding a voting reaction makes it the
    vote; removing the reaction that is the vote falls back to the other one if it is still
    held (it was the member's earlier vote), else withdraws the vote."""
    value = VOTE_EMOJI.get(emoji)
    if value is None:
        return vote, held
    bit = _HELD_BIT[value]
    if added:
        return value, held | bit
    held &= ~bit
    if vote != value:
        return vote, held
    return (-value if held & _HELD_BIT[-value] else None), held


def after_recount(vote: int | None, held: int, has_up: bool, has_down: bool) -> tuple[int | None, int]:
    """(vote, held reactions) given the reactions held now, from the state the bot last saw:
    reactions that went away are removed first, then the new ones added (both new: 👍 last,
    as the order is unknown and 👍 was always the tie-break)."""
    now = held_bits(has_up, has_down)
    for value in (-1, 1):
        bit = _HELD_BIT[value]
        if held & bit and not now & bit:
            vote, held = after_reaction(vote, held, DOWNVOTE_EMOJI if value == -1 else UPVOTE_EMOJI, False)
    for value in (-1, 1):
        bit = _HELD_BIT[value]
        if now & bit and not held & bit:
            vote, held = after_reaction(vote, held, DOWNVOTE_EMOJI if value == -1 else UPVOTE_EMOJI, True)
    return vote, held
