"""ProgrammeService on a real SQLite database, with the real idea and vote services and event
bus; only Discord is replaced, by small recording implementations of the ports."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.community import guilds as guild_queries
from bot.core.errors import UserFacingError
from bot.core.ports import PostedCard
from bot.events.bus import EventBus
from bot.ideas.render import card_embed, idea_detail_embed
from bot.ideas.rules import Idea, IdeaDraft, IdeaRuleError, Status
from bot.ideas.service import IdeaService
from bot.programmes.rules import Stage
from bot.programmes.service import ChallengeResult, ProgrammeService
from bot.programmes.storage import Challenge
from bot.storage import Database
from bot.votes.service import ReactionEvent, VoteService

GUILD = 1
MOD = 900
ALICE, BOB = 101, 102
START = datetime(2026, 3, 1, 12, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Board:
    def __init__(self) -> None:
        self.posted = 0
        self.changed: list[int] = []

    async def post_card(self, idea: Idea, ideas_channel_id: int) -> PostedCard:
        self.posted += 1
        return PostedCard(ideas_channel_id, 10_000 + self.posted, 20_000 + self.posted)

    def card_changed(self, idea_id: int) -> None:
        self.changed.append(idea_id)

    def card_posted(self, idea_id: int) -> None:
        pass


@dataclass
class Announcer:
    said: list[tuple[str, Any]] = field(default_factory=list)

    async def stage_reached(self, idea: Idea, stage: Stage, upcoming: Stage | None) -> None:
        self.said.append(("stage", (idea.number, stage.number, upcoming.number if upcoming else None)))

    async def idea_expired(self, idea: Idea, missed: Stage) -> None:
        self.said.append(("expired", (idea.number, missed.number)))

    async def challenge_opened(self, challenge: Challenge, channel_id: int) -> None:
        self.said.append(("opened", challenge.number))

    async def challenge_closed(self, result: ChallengeResult, channel_id: int) -> None:
        self.said.append(("closed", [idea.number for _, idea in result.winners]))


@dataclass
class Reputation:
    awards: list[tuple[Any, ...]] = field(default_factory=list)

    async def award(
        self, guild_id: int, user_id: int, points: int, reason: str, *, source: str, idea_id: int | None = None
    ) -> None:
        self.awards.append((guild_id, user_id, points, source, idea_id))


@dataclass
class World:
    db: Database
    clock: Clock
    board: Board
    ideas: IdeaService
    votes: VoteService
    programmes: ProgrammeService
    announcer: Announcer
    reputation: Reputation
    voter_seq: int = 5000

    async def submit(self, author: int = ALICE, title: str = "Dark mode", **options: Any) -> Idea:
        idea = await self.ideas.submit(GUILD, author, title, "A dark theme for the dashboard", **options)
        self.clock.advance(minutes=5)
        return idea

    async def upvote(self, idea: Idea, count: int) -> None:
        events = []
        for _ in range(count):
            self.voter_seq += 1
            events.append(ReactionEvent(idea.message_id or 0, self.voter_seq, "👍", True))
        await self.votes.apply_batch(events)

    async def downvote(self, idea: Idea, count: int) -> None:
        events = []
        for _ in range(count):
            self.voter_seq += 1
            events.append(ReactionEvent(idea.message_id or 0, self.voter_seq, "👎", True))
        await self.votes.apply_batch(events)

    async def get(self, number: int) -> Idea:
        return await self.ideas.get(GUILD, number)


@pytest.fixture
async def world(database_target: str) -> AsyncIterator[World]:
    db = await Database.open(database_target)
    clock = Clock()
    board = Board()
    events = EventBus()
    ideas = IdeaService(db, board, events, clock)
    votes = VoteService(db, board, events, clock, batch_seconds=0)
    votes.bot_user_id = 1
    announcer = Announcer()
    reputation = Reputation()
    programmes = ProgrammeService(db, ideas, board, events, clock, announcer, reputation=reputation)
    programmes.subscribe()
    async with db.transaction() as conn:
        await guild_queries.save_channels(
            conn,
            GUILD,
            ideas_channel_id=11,
            digest_channel_id=12,
            log_channel_id=None,
            moderator_role_id=None,
            now=START,
        )
        await guild_queries.save_submission_limits(conn, GUILD, cooldown_seconds=0, daily_quota=100, now=START)
    try:
        yield World(db, clock, board, ideas, votes, programmes, announcer, reputation)
    finally:
        await db.close()


async def crossings(db: Database) -> list[tuple[int, int, int]]:
    async with db.conn.execute("SELECT idea_id, stage, votes FROM threshold_crossings ORDER BY at, stage") as cur:
        return [tuple(row) for row in await cur.fetchall()]  # type: ignore[misc]


# --- thresholds ------------------------------------------------------------------------------


async def test_reaching_stage_one_moves_the_idea_to_review_and_into_the_queue(world: World) -> None:
    idea = await world.submit()
    await world.upvote(idea, 9)
    assert (await world.get(1)).status is Status.OPEN
    assert await world.programmes.review_queue(GUILD) == []
    world.clock.advance(days=20)
    await world.upvote(idea, 1)
    idea = await world.get(1)
    assert idea.status is Status.UNDER_REVIEW
    history = await world.ideas.history(idea.id)
    assert history[-1]["moderator_id"] is None and "stage 1" in str(history[-1]["reason"])
    assert await crossings(world.db) == [(idea.id, 1, 10)]
    assert world.announcer.said == [("stage", (1, 1, 2))]
    queue = await world.programmes.review_queue(GUILD)
    assert [(e.idea.number, e.stage) for e in queue] == [(1, 1)]
    # More votes below the next stage change nothing; reaching it records stage 2.
    await world.upvote(idea, 5)
    assert len(await crossings(world.db)) == 1
    await world.upvote(idea, 10)
    assert [c[1] for c in await crossings(world.db)] == [1, 2]
    assert world.announcer.said[-1] == ("stage", (1, 2, None))
    assert (await world.get(1)).status is Status.UNDER_REVIEW
    since = START - timedelta(days=1)
    crossed = await world.programmes.crossings_between(GUILD, since, world.clock() + timedelta(days=1))
    assert [(c[0], c[1]) for c in crossed] == [(idea.id, 1), (idea.id, 2)]


async def test_votes_after_the_deadline_do_not_cross_and_the_idea_expires(world: World) -> None:
    idea = await world.submit()
    await world.upvote(idea, 5)
    world.clock.advance(days=31)
    await world.upvote(idea, 6)
    assert await crossings(world.db) == []
    report = await world.programmes.tick(world.clock())
    assert report.expired == [idea.id]
    expired = await world.get(1)
    assert expired.expired_at == world.clock() and expired.voting_closed
    assert world.announcer.said == [("expired", (1, 1))]
    assert "expired" in {f.name: f.value for f in card_embed(expired).fields}["Status"]
    assert (await world.programmes.tick(world.clock())).expired == []  # once only
    # Voting is closed while expired.
    await world.upvote(expired, 3)
    assert (await world.get(1)).upvotes == 11
    # A moderator revives it: the support window restarts now.
    revived = await world.programmes.revive(GUILD, MOD, 1)
    assert revived.expired_at is None and not revived.voting_closed
    await world.upvote(revived, 1)
    assert (await world.get(1)).status is Status.UNDER_REVIEW
    assert [c[1] for c in await crossings(world.db)] == [1]
    with pytest.raises(UserFacingError, match="nothing to revive"):
        await world.programmes.revive(GUILD, MOD, 1)


async def test_an_idea_under_review_expires_when_it_misses_stage_two(world: World) -> None:
    idea = await world.submit()
    await world.upvote(idea, 10)
    world.clock.advance(days=59)
    assert (await world.programmes.tick(world.clock())).expired == []
    world.clock.advance(days=2)
    assert (await world.programmes.tick(world.clock())).expired == [idea.id]
    assert await world.programmes.review_queue(GUILD) == []
    assert world.announcer.said[-1] == ("expired", (1, 2))


async def test_ideas_answered_by_moderators_never_expire(world: World) -> None:
    await world.submit()
    await world.ideas.set_status(GUILD, MOD, 1, Status.PLANNED, None)
    world.clock.advance(days=400)
    report = await world.programmes.tick(world.clock())
    assert report.expired == [] and report.archived == []


async def test_custom_stages_per_guild(world: World) -> None:
    stages = await world.programmes.set_stages(GUILD, MOD, "3/7 6/14")
    assert [(s.votes, s.days) for s in stages] == [(3, 7), (6, 14)]
    idea = await world.submit()
    await world.upvote(idea, 3)
    assert (await world.get(1)).status is Status.UNDER_REVIEW
    with pytest.raises(IdeaRuleError):
        await world.programmes.set_stages(GUILD, MOD, "lots")


async def test_tick_catches_a_crossing_the_vote_handler_missed(world: World) -> None:
    world.programmes.events = EventBus()  # nobody hears the votes
    votes = VoteService(world.db, world.board, EventBus(), world.clock, batch_seconds=0)
    idea = await world.submit()
    await votes.apply_batch([ReactionEvent(idea.message_id or 0, 7000 + i, "👍", True) for i in range(10)])
    assert (await world.get(1)).status is Status.OPEN
    report = await world.programmes.tick(world.clock())
    assert report.crossings == 1 and (await world.get(1)).status is Status.UNDER_REVIEW


# --- archiving ---------------------------------------------------------------------------------


async def test_quiet_ideas_are_archived_searchable_and_closed_to_votes(world: World) -> None:
    await world.programmes.set_stages(GUILD, MOD, "1/400")  # keep expiry out of the way
    quiet = await world.submit(title="Quiet idea")
    busy = await world.submit(title="Busy idea")
    world.clock.advance(days=100)
    await world.downvote(busy, 1)  # a vote is activity
    world.clock.advance(days=81)
    report = await world.programmes.tick(world.clock())
    assert report.archived == [quiet.id]
    archived = await world.get(1)
    assert archived.archived_at == world.clock() and archived.voting_closed
    assert "archived" in {f.name: f.value for f in card_embed(archived).fields}["Status"]
    assert [h.idea.number for h in (await world.ideas.search(GUILD, "quiet")).hits] == [1]
    await world.upvote(archived, 2)
    assert (await world.get(1)).upvotes == 0
    listed = await world.programmes.archived_between(GUILD, START, world.clock() + timedelta(seconds=1))
    assert [i.number for i in listed] == [1]
    # A moderator's status change brings it back.
    await world.ideas.set_status(GUILD, MOD, 1, Status.PLANNED, None)
    assert (await world.get(1)).archived_at is None
    world.clock.advance(days=100)
    assert (await world.programmes.tick(world.clock())).archived == [busy.id]


async def test_archive_days_are_configurable(world: World) -> None:
    await world.programmes.set_stages(GUILD, MOD, "1/400")
    await world.programmes.set_archive_days(GUILD, MOD, 30)
    await world.submit()
    world.clock.advance(days=31)
    assert len((await world.programmes.tick(world.clock())).archived) == 1


# --- challenges ------------------------------------------------------------------------------------


async def test_a_challenge_from_open_to_close_rewards_the_winners(world: World) -> None:
    challenge = await world.programmes.open_challenge(
        GUILD, MOD, "Greener office", "Ideas to cut our energy use", "2026-03-10", "A plant"
    )
    assert challenge.number == 1 and challenge.deadline == datetime(2026, 3, 10, 23, 59, tzinfo=UTC)
    assert world.announcer.said == [("opened", 1)]
    options = await world.programmes.submission_options(GUILD, 1, False)
    assert options == {"challenge_id": challenge.id}
    a = await world.submit(ALICE, "Solar panels", **options)
    b = await world.submit(BOB, "LED lights", **options)
    c = await world.submit(BOB, "Turn off screens", **options)
    outside = await world.submit(ALICE, "Not in the challenge")
    await world.upvote(a, 3)
    await world.upvote(b, 12)
    await world.downvote(b, 1)
    await world.downvote(c, 2)
    await world.upvote(outside, 50)
    with pytest.raises(UserFacingError, match="on or after its deadline"):
        await world.programmes.close_challenge(GUILD, MOD, 1)
    world.clock.now = challenge.deadline
    with pytest.raises(UserFacingError, match="closed"):
        await world.programmes.submission_options(GUILD, 1, False)
    result = await world.programmes.close_challenge(GUILD, MOD, 1)
    assert [(w.place, idea.number, w.points) for w, idea in result.winners] == [(1, b.number, 15), (2, a.number, 10)]
    assert result.entries == 3
    assert world.reputation.awards == [
        (GUILD, BOB, 15, "challenge_win", b.id),
        (GUILD, ALICE, 10, "challenge_win", a.id),
    ]
    assert [w.idea_id for w in await world.programmes.winners(challenge.id)] == [b.id, a.id]
    assert world.announcer.said[-1] == ("closed", [b.number, a.number])
    with pytest.raises(UserFacingError, match="already closed"):
        await world.programmes.close_challenge(GUILD, MOD, 1)
    assert (await world.programmes.tick(world.clock())).closed_challenges == []
    assert len(world.reputation.awards) == 2


async def test_challenges_close_themselves_at_the_deadline(world: World) -> None:
    await world.programmes.open_challenge(
        GUILD, MOD, "Faster builds", "Make CI faster for everyone", "2026-03-05 18:00"
    )
    idea = await world.submit(ALICE, "Cache deps", challenge_id=(await world.programmes.get_challenge(GUILD, 1)).id)
    await world.upvote(idea, 2)
    assert (await world.programmes.tick(world.clock())).closed_challenges == []
    world.clock.now = datetime(2026, 3, 5, 18, 0, tzinfo=UTC)
    report = await world.programmes.tick(world.clock())
    assert len(report.closed_challenges) == 1
    closed = await world.programmes.get_challenge(GUILD, 1)
    assert closed.closed_at == world.clock() and closed.closed_by is None
    assert world.reputation.awards == [(GUILD, ALICE, 15, "challenge_win", idea.id)]
    listed = await world.programmes.list_challenges(GUILD)
    assert [(c.number, c.entries, c.is_closed) for c in listed] == [(1, 1, True)]


async def test_challenge_input_errors_write_nothing(world: World) -> None:
    for args, message in [
        (("Greener office", "Ideas to cut our energy use", "soon"), "not a deadline"),
        (("Greener office", "Ideas to cut our energy use", "2020-01-01"), "future"),
        (("Go", "Ideas to cut our energy use", "2026-04-01"), "title"),
    ]:
        with pytest.raises(IdeaRuleError, match=message):
            await world.programmes.open_challenge(GUILD, MOD, *args)
    assert await world.programmes.list_challenges(GUILD) == []
    with pytest.raises(UserFacingError, match="no challenge #4"):
        await world.programmes.submission_options(GUILD, 4, False)
    with pytest.raises(UserFacingError, match="no challenge #4"):
        await world.programmes.close_challenge(GUILD, MOD, 4)


async def test_without_a_reputation_service_winners_are_still_recorded(world: World) -> None:
    world.programmes.reputation = None
    challenge = await world.programmes.open_challenge(GUILD, MOD, "Greener office", "Cut our energy use", "2026-03-02")
    idea = await world.submit(challenge_id=challenge.id)
    await world.upvote(idea, 1)
    world.clock.now = challenge.deadline
    await world.programmes.tick(world.clock())
    assert [w.idea_id for w in await world.programmes.winners(challenge.id)] == [idea.id]


# --- terms ------------------------------------------------------------------------------------------


async def test_terms_consent_per_version(world: World) -> None:
    assert await world.programmes.terms_to_accept(GUILD, ALICE) is None  # no terms: nothing to accept
    terms = await world.programmes.set_terms(GUILD, MOD, "Ideas you share are licensed CC-BY 4.0.", "1")
    assert await world.programmes.terms_to_accept(GUILD, ALICE) == terms
    draft_id = await world.programmes.hold_draft(GUILD, ALICE, "1", IdeaDraft("Dark mode", "A dark theme", "UX"), {})
    with pytest.raises(UserFacingError, match="Only the member"):
        await world.programmes.accept_held_draft(draft_id, BOB)
    draft = await world.programmes.accept_held_draft(draft_id, ALICE)
    assert (draft.title, draft.category, draft.options) == ("Dark mode", "UX", {})
    assert await world.programmes.terms_to_accept(GUILD, ALICE) is None
    assert await world.programmes.terms_to_accept(GUILD, BOB) == terms
    with pytest.raises(UserFacingError, match="no longer waiting"):
        await world.programmes.accept_held_draft(draft_id, ALICE)
    with pytest.raises(UserFacingError, match="new version"):
        await world.programmes.set_terms(GUILD, MOD, "Ideas you share are public domain.", "1")
    with pytest.raises(UserFacingError, match="already in force"):
        await world.programmes.set_terms(GUILD, MOD, "Ideas you share are licensed CC-BY 4.0.", "1")
    await world.programmes.set_terms(GUILD, MOD, "Ideas you share are public domain.", "2")
    assert (await world.programmes.terms_to_accept(GUILD, ALICE)) is not None
    idea = await world.submit(terms_version="2")
    assert idea.terms_version == "2"


async def test_waiting_drafts_are_purged_after_a_day(world: World) -> None:
    await world.programmes.set_terms(GUILD, MOD, "Ideas you share are licensed CC-BY 4.0.", "1")
    draft_id = await world.programmes.hold_draft(GUILD, ALICE, "1", IdeaDraft("Dark mode", "A dark theme"), {})
    world.clock.advance(days=2)
    await world.programmes.tick(world.clock())
    with pytest.raises(UserFacingError, match="no longer waiting"):
        await world.programmes.accept_held_draft(draft_id, ALICE)


# --- anonymity --------------------------------------------------------------------------------------


async def test_anonymous_ideas_only_where_allowed_and_hidden_on_the_card(world: World) -> None:
    with pytest.raises(UserFacingError, match="does not allow anonymous"):
        await world.programmes.submission_options(GUILD, None, True)
    assert await world.programmes.set_anonymous(GUILD, MOD, True)
    assert not await world.programmes.set_anonymous(GUILD, MOD, True)
    options = await world.programmes.submission_options(GUILD, None, True)
    idea = await world.submit(ALICE, **options)
    stored = await world.get(idea.number)
    assert stored.anonymous and stored.author_id == ALICE
    card = card_embed(stored)
    assert {f.name: f.value for f in card.fields}["Author"] == "Anonymous"
    assert str(ALICE) not in str(card.to_dict())
    revealed = idea_detail_embed(stored, [], reveal_author=True)
    assert str(ALICE) in str(revealed.to_dict())


async def test_votes_moved_by_a_merge_count_towards_the_next_stage(world: World) -> None:
    original = await world.submit(ALICE, "Dark mode")
    duplicate = await world.submit(BOB, "Night theme")
    await world.upvote(original, 6)
    await world.upvote(duplicate, 5)
    await world.ideas.merge(GUILD, MOD, duplicate.number, original.number)
    assert (await world.get(1)).upvotes == 11 and (await world.get(1)).status is Status.OPEN
    await world.upvote(original, 1)
    assert (await world.get(1)).status is Status.UNDER_REVIEW
