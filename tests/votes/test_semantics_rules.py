"""One vote semantics: whatever the reaction history, the votes counted live are what a recount
from the reactions actually held finds (real SQLite, the real vote writer and recount; the
reactions held are modelled as Discord keeps them)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.ports import PostedCard
from bot.events.bus import EventBus
from bot.ideas import storage as idea_queries
from bot.ideas.rules import Idea, IdeaDraft
from bot.search.duplicates import DuplicateService
from bot.storage import Database
from bot.testing import FakeClock
from bot.votes import storage as vote_queries
from bot.votes.rules import DOWNVOTE_EMOJI, UPVOTE_EMOJI, after_reaction, after_recount, held_bits
from bot.votes.service import ReactionEvent, VoteService

GUILD, AUTHOR, BOT, CHANNEL, MESSAGE = 1, 10, 99, 5, 500
MEMBERS = [AUTHOR, BOT, 21, 22, 23]
EMOJI = [UPVOTE_EMOJI, DOWNVOTE_EMOJI]


class Board:
    def __init__(self) -> None:
        self.changed: list[int] = []

    async def post_card(self, idea: Idea, ideas_channel_id: int) -> PostedCard:  # pragma: no cover - unused
        raise AssertionError("no cards are posted here")

    def card_changed(self, idea_id: int) -> None:
        self.changed.append(idea_id)

    def card_posted(self, idea_id: int) -> None:
        pass


class HeldReactions:
    """The reactions on the card, as Discord keeps them: a set of users per emoji."""

    def __init__(self) -> None:
        self.users: dict[str, set[int]] = {UPVOTE_EMOJI: {BOT}, DOWNVOTE_EMOJI: {BOT}}

    async def users_with_reaction(self, channel_id: int, message_id: int, emoji: str) -> set[int]:
        assert (channel_id, message_id) == (CHANNEL, MESSAGE)
        return set(self.users[emoji])


# One step of a history: a reaction toggled by a member (Discord sends an add for a reaction not
# held and a remove for one held), the "Support instead" button, or a batch boundary.
step = st.one_of(
    st.tuples(st.just("react"), st.sampled_from(MEMBERS), st.sampled_from(EMOJI)),
    st.tuples(st.just("support"), st.sampled_from(MEMBERS[2:]), st.just("")),
    st.tuples(st.just("commit"), st.just(0), st.just("")),
)


async def tallies(db: Database, idea_id: int) -> tuple[int, int, dict[int, int]]:
    idea = await idea_queries.get_idea(db.conn, idea_id)
    assert idea is not None
    async with db.conn.execute("SELECT voter_id, value FROM votes WHERE idea_id = ?", (idea_id,)) as cursor:
        votes = {row[0]: row[1] for row in await cursor.fetchall()}
    return idea.upvotes, idea.downvotes, votes


# A fresh database per example: SQLite in memory (the examples run on the SQLite backend).
@settings(max_examples=150, deadline=None)
@given(st.lists(step, max_size=40))
async def test_a_recount_after_live_events_changes_nothing(history: list[tuple[str, int, str]]) -> None:
    db = await Database.open(":memory:")
    clock = FakeClock()
    try:
        async with db.transaction() as conn:
            idea = await idea_queries.insert_idea(conn, GUILD, AUTHOR, IdeaDraft("First idea", "details here"), clock())
            await idea_queries.attach_card(conn, idea.id, channel_id=CHANNEL, message_id=MESSAGE, thread_id=None)
        events = EventBus()
        board = Board()
        # The writer runs as in the bot: events are accepted one by one and written in batches.
        votes = VoteService(db, board, events, clock, batch_seconds=0)
        votes.bot_user_id = BOT
        votes.start()
        duplicates = DuplicateService(db, board, events, clock)
        held = HeldReactions()
        expected: dict[int, tuple[int | None, int]] = {}  # the rule itself, replayed member by member
        for kind, member, emoji in history:
            if kind == "react":
                added = member not in held.users[emoji]
                (held.users[emoji].add if added else held.users[emoji].discard)(member)
                votes.accept(ReactionEvent(MESSAGE, member, emoji, added))
                if member not in (AUTHOR, BOT):
                    expected[member] = after_reaction(*expected.get(member, (None, 0)), emoji, added)
            else:
                await votes.flush()
                if kind == "support":
                    await duplicates.support(GUILD, member, idea.id)
                    _, bits = expected.get(member, (None, 0))
                    expected[member] = (1, bits)
        await votes.flush()

        live = await tallies(db, idea.id)
        assert live[2] == {m: v for m, (v, _) in expected.items() if v is not None}
        assert (live[0], live[1]) == (
            sum(v == 1 for v in live[2].values()),
            sum(v == -1 for v in live[2].values()),
        )
        clock.advance(seconds=1)
        fresh = await idea_queries.get_idea(db.conn, idea.id)
        assert fresh is not None
        assert await votes.recount([fresh], held) == 0
        assert await tallies(db, idea.id) == live
        await votes.stop()
    finally:
        await db.close()


@given(st.sampled_from([None, 1, -1]), st.integers(0, 3), st.booleans(), st.booleans())
def test_a_recount_of_unchanged_reactions_keeps_the_vote(vote: int | None, held: int, up: bool, down: bool) -> None:
    if held_bits(up, down) == held:
        assert after_recount(vote, held, up, down) == (vote, held)
    else:
        assert after_recount(vote, held, up, down)[1] == held_bits(up, down)


async def test_a_vote_cast_with_the_button_survives_a_recount_of_the_reaction_it_replaced(database_target: str) -> None:
    db = await Database.open(database_target)
    clock = FakeClock(datetime(2026, 1, 5, tzinfo=UTC))
    try:
        async with db.transaction() as conn:
            idea = await idea_queries.insert_idea(conn, GUILD, AUTHOR, IdeaDraft("First idea", "details here"), clock())
            await idea_queries.attach_card(conn, idea.id, channel_id=CHANNEL, message_id=MESSAGE, thread_id=None)
        events, board = EventBus(), Board()
        votes = VoteService(db, board, events, clock, batch_seconds=0)
        votes.bot_user_id = BOT
        votes.start()
        held = HeldReactions()
        held.users[DOWNVOTE_EMOJI].add(21)
        votes.accept(ReactionEvent(MESSAGE, 21, DOWNVOTE_EMOJI, True))
        await votes.flush()
        await DuplicateService(db, board, events, clock).support(GUILD, 21, idea.id)
        clock.advance(seconds=1)
        fresh = await idea_queries.get_idea(db.conn, idea.id)
        assert fresh is not None
        assert await votes.recount([fresh], held) == 0
        assert (await tallies(db, idea.id))[2] == {21: 1}
        # Taking the 👎 away while the bot was offline leaves the support standing, as it would live.
        held.users[DOWNVOTE_EMOJI].discard(21)
        clock.advance(seconds=1)
        assert await votes.recount([fresh], held) == 0
        assert (await tallies(db, idea.id))[2] == {21: 1}
        await votes.stop()
    finally:
        await db.close()


async def test_votes_stored_before_held_reactions_were_tracked_are_filled_in_by_a_recount(database_target: str) -> None:
    db = await Database.open(database_target)
    clock = FakeClock(datetime(2026, 1, 5, tzinfo=UTC))
    try:
        async with db.transaction() as conn:
            idea = await idea_queries.insert_idea(conn, GUILD, AUTHOR, IdeaDraft("First idea", "details here"), clock())
            await idea_queries.attach_card(conn, idea.id, channel_id=CHANNEL, message_id=MESSAGE, thread_id=None)
            await vote_queries.put_vote(conn, idea.id, 21, None, -1, None, clock())  # holds 👍 and 👎 (latest)
            await vote_queries.put_vote(conn, idea.id, 22, None, 1, None, clock(), reaction_backed=False)  # button
            await conn.execute("UPDATE votes SET reactions = NULL")  # as migration 0010 leaves them
        votes = VoteService(db, Board(), EventBus(), clock, batch_seconds=0)
        votes.bot_user_id = BOT
        votes.start()
        held = HeldReactions()
        held.users[UPVOTE_EMOJI] |= {21}
        held.users[DOWNVOTE_EMOJI] |= {21}
        clock.advance(seconds=1)
        fresh = await idea_queries.get_idea(db.conn, idea.id)
        assert fresh is not None
        assert await votes.recount([fresh], held) == 0  # the votes stand
        async with db.conn.execute("SELECT voter_id, value, reactions FROM votes ORDER BY voter_id") as cursor:
            assert [tuple(row) for row in await cursor.fetchall()] == [(21, -1, 3), (22, 1, 0)]
        # From here on the live rule applies: dropping 👎 falls back to the 👍 still held.
        held.users[DOWNVOTE_EMOJI].discard(21)
        votes.accept(ReactionEvent(MESSAGE, 21, DOWNVOTE_EMOJI, False))
        await votes.flush()
        assert (await tallies(db, idea.id))[2] == {21: 1, 22: 1}
        await votes.stop()
    finally:
        await db.close()
