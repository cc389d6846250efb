"""ReputationService on a real SQLite database: the ledger fed by domain events, trust, serial
voting, merges, withdrawals, reward roles and leaderboards. Discord is a recording outlet."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.errors import UserFacingError
from bot.events.types import IdeasMerged, IdeaStatusChanged, IdeaSubmitted, IdeaWithdrawn, MovedVote, VoteChanged
from bot.ideas import storage as idea_queries
from bot.ideas.ranking import Period
from bot.ideas.rules import Idea, IdeaDraft, Status
from bot.reputation.rules import DISCORD_EPOCH_MS
from bot.reputation.service import MemberGone, ReputationService, RoleRefused
from bot.storage import Database
from bot.votes import storage as vote_queries

GUILD = 1
START = datetime(2026, 11, 2, 9, tzinfo=UTC)


def snowflake(age: timedelta, n: int) -> int:
    created = START - age
    return ((int(created.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22) + n


ALICE, BOB, CAROL = (snowflake(timedelta(days=400), n) for n in (1, 2, 3))
VOTERS = [snowflake(timedelta(days=300), 100 + n) for n in range(12)]
NEWBIE = snowflake(timedelta(days=2), 50)


@dataclass
class RecordingOutlet:
    refused: set[int] = field(default_factory=set)
    gone: set[int] = field(default_factory=set)
    calls: list[tuple[str, int, int]] = field(default_factory=list)
    reports: list[tuple[str, object]] = field(default_factory=list)
    thanks: list[tuple[int, Status, list[int]]] = field(default_factory=list)

    def _check(self, user_id: int, role_id: int) -> None:
        if role_id in self.refused:
            raise RoleRefused("Missing Permissions")
        if user_id in self.gone:
            raise MemberGone("Unknown Member")

    async def add_role(self, guild_id: int, user_id: int, role_id: int) -> None:
        self._check(user_id, role_id)
        self.calls.append(("add", user_id, role_id))

    async def remove_role(self, guild_id: int, user_id: int, role_id: int) -> None:
        self._check(user_id, role_id)
        self.calls.append(("remove", user_id, role_id))

    async def report_serial_voting(self, guild_id: int, voter_id: int, author_id: int, votes: int) -> None:
        self.reports.append(("serial", (voter_id, author_id, votes)))

    async def report_role_refused(self, guild_id: int, role_id: int, user_id: int, adding: bool, detail: str) -> None:
        self.reports.append(("refused", (role_id, user_id, adding, detail)))

    async def report_role_unsafe(self, guild_id: int, role_id: int, permissions: str) -> None:
        self.reports.append(("unsafe", (role_id, permissions)))

    async def thank(self, idea: Idea, status: Status, people: list[int]) -> None:
        self.thanks.append((idea.number, status, people))


class World:
    """Ideas and votes written the way the idea and vote services write them, then the event."""

    def __init__(self, db: Database, outlet: RecordingOutlet) -> None:
        self.db = db
        self.outlet = outlet
        self.now = START
        self.svc = ReputationService(db, outlet, lambda: self.now, role_delay=0)
        self.votes: dict[tuple[int, int], int] = {}
        self._message = 1000

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)

    async def idea(self, author: int, title: str = "An idea") -> Idea:
        self._message += 1
        async with self.db.transaction() as conn:
            idea = await idea_queries.insert_idea(conn, GUILD, author, IdeaDraft(title, "some details"), self.now)
            await idea_queries.attach_card(
                conn, idea.id, channel_id=5, message_id=self._message, thread_id=self._message + 10_000
            )
        await self.svc.on_idea_submitted(IdeaSubmitted(GUILD, idea.id, author, self.now))
        found = await idea_queries.get_idea(self.db.conn, idea.id)
        assert found is not None
        return found

    async def vote(self, idea: Idea, voter: int, new: int | None, joined_at: datetime | None = None) -> None:
        old = self.votes.get((idea.id, voter))
        if old == new:
            return
        async with self.db.transaction() as conn:
            await vote_queries.put_vote(conn, idea.id, voter, old, new, joined_at, self.now)
        if new is None:
            self.votes.pop((idea.id, voter), None)
        else:
            self.votes[(idea.id, voter)] = new
        await self.svc.on_votes_changed(
            [VoteChanged(GUILD, idea.id, idea.author_id, voter, old, new, joined_at, self.now)]
        )

    async def status(self, idea: Idea, new: Status) -> None:
        current = await idea_queries.get_idea(self.db.conn, idea.id)
        assert current is not None
        async with self.db.transaction() as conn:
            await idea_queries.set_status(conn, current, new, None, 9, self.now)
        await self.svc.on_status_changed(
            IdeaStatusChanged(GUILD, idea.id, idea.author_id, current.status, new, None, 9, self.now)
        )

    async def withdraw(self, idea: Idea) -> None:
        current = await idea_queries.get_idea(self.db.conn, idea.id)
        assert current is not None
        async with self.db.transaction() as conn:
            await idea_queries.set_status(conn, current, Status.WITHDRAWN, None, None, self.now)
        await self.svc.on_idea_withdrawn(IdeaWithdrawn(GUILD, idea.id, idea.author_id, self.now))

    async def vote_points(self, user: int) -> int:
        return sum(r.delta for r in await self.svc.ledger(GUILD) if r.user_id == user and r.voter_id is not None)

    async def settle(self) -> None:
        await self.svc.wait_idle()


@pytest.fixture
async def world(database_target: str) -> World:
    db = await Database.open(database_target)
    w = World(db, RecordingOutlet())
    yield w  # type: ignore[misc]
    await w.svc.stop()
    await db.close()


async def test_submissions_earn_two_points_three_times_a_day(world: World) -> None:
    for _ in range(4):
        await world.idea(ALICE)
        world.advance(minutes=10)
    assert await world.svc.total(GUILD, ALICE) == 6
    world.advance(hours=24)
    await world.idea(ALICE)
    assert await world.svc.total(GUILD, ALICE) == 8
    reasons = [r.reason for r in await world.svc.ledger(GUILD)]
    assert reasons[0] == "Submitted idea #1" and len(reasons) == 4


async def test_upvotes_credit_and_withdrawals_and_switches_move_back(world: World) -> None:
    idea = await world.idea(ALICE)
    for voter in VOTERS[:3]:
        await world.vote(idea, voter, 1)
    assert await world.vote_points(ALICE) == 3
    await world.vote(idea, VOTERS[0], None)  # withdrawn
    await world.vote(idea, VOTERS[1], -1)  # switched
    assert await world.vote_points(ALICE) == 1
    await world.vote(idea, VOTERS[1], 1)  # and back
    assert await world.vote_points(ALICE) == 2
    await world.vote(idea, VOTERS[3], -1)  # a downvote never costs points
    assert await world.svc.total(GUILD, ALICE) == 2 + 2
    sources = [r.source for r in await world.svc.ledger(GUILD)]
    assert sources.count("reversal") == 2


async def test_new_accounts_and_new_members_earn_nothing(world: World) -> None:
    idea = await world.idea(ALICE)
    await world.vote(idea, NEWBIE, 1)
    await world.vote(idea, VOTERS[0], 1, joined_at=world.now - timedelta(hours=3))
    await world.vote(idea, VOTERS[1], 1, joined_at=None)  # unknown: trusted by join time
    await world.vote(idea, VOTERS[2], 1, joined_at=world.now - timedelta(days=30))
    assert await world.vote_points(ALICE) == 2
    # The untrusted voter withdrawing later moves nothing back (nothing was earned).
    await world.vote(idea, NEWBIE, None)
    assert await world.vote_points(ALICE) == 2
    idea_row = await idea_queries.get_idea(world.db.conn, idea.id)
    assert idea_row is not None and idea_row.upvotes == 3  # still recorded and shown


async def test_daily_cap_on_vote_points(world: World) -> None:
    await world.svc.set_rules(GUILD, vote_points_per_day=3)
    idea = await world.idea(ALICE)
    for voter in VOTERS[:5]:
        await world.vote(idea, voter, 1)
    assert await world.vote_points(ALICE) == 3
    await world.vote(idea, VOTERS[0], None)  # one credited vote withdrawn: room for one more
    await world.vote(idea, VOTERS[5], 1)
    assert await world.vote_points(ALICE) == 3
    world.advance(hours=25)
    await world.vote(idea, VOTERS[6], 1)
    assert await world.vote_points(ALICE) == 4
    with pytest.raises(UserFacingError):
        await world.svc.set_rules(GUILD, vote_points_per_day=-1)
    with pytest.raises(UserFacingError):
        await world.svc.set_rules(GUILD, nonsense=1)


async def test_serial_voting_earns_nothing_and_is_reported_once(world: World) -> None:
    ideas = []
    for i in range(5):
        ideas.append(await world.idea(ALICE, f"Idea {i}"))
    world.advance(hours=1)
    ring = VOTERS[0]
    for idea in ideas:
        await world.vote(idea, ring, 1)
        world.advance(minutes=1)
    await world.vote(ideas[0], VOTERS[1], 1)  # an honest voter still counts
    await world.settle()
    assert await world.vote_points(ALICE) == 1
    assert [kind for kind, _ in world.outlet.reports] == ["serial"]
    assert world.outlet.reports[0][1] == (ring, ALICE, 5)
    # More from the same voter stays worthless and is not reported again.
    sixth = await world.idea(ALICE, "Idea 6")
    await world.vote(sixth, ring, 1)
    await world.settle()
    assert await world.vote_points(ALICE) == 1
    assert len(world.outlet.reports) == 1
    # Withdrawing the ring's votes moves nothing (the reversal already happened).
    for idea in ideas:
        await world.vote(idea, ring, None)
    assert await world.vote_points(ALICE) == 1


async def test_upvotes_spread_over_time_are_not_serial(world: World) -> None:
    ideas = [await world.idea(ALICE, f"Idea {i}") for i in range(5)]
    for idea in ideas:
        await world.vote(idea, VOTERS[0], 1)
        world.advance(minutes=4)
    assert await world.vote_points(ALICE) == 5
    assert world.outlet.reports == []


async def test_planned_and_implemented_bonuses_once_with_coauthors_and_thanks(world: World) -> None:
    idea = await world.idea(ALICE)
    async with world.db.transaction() as conn:
        await idea_queries.add_coauthor(conn, idea.id, BOB)
    await world.status(idea, Status.PLANNED)
    await world.status(idea, Status.OPEN)
    await world.status(idea, Status.PLANNED)  # pays once
    await world.status(idea, Status.IMPLEMENTED)
    await world.settle()
    assert await world.svc.total(GUILD, ALICE) == 2 + 10 + 25
    assert await world.svc.total(GUILD, BOB) == 10 + 25
    assert world.outlet.thanks == [(1, Status.PLANNED, [ALICE, BOB]), (1, Status.IMPLEMENTED, [ALICE, BOB])]


async def test_withdrawing_an_idea_moves_every_point_back(world: World) -> None:
    idea = await world.idea(ALICE)
    for voter in VOTERS[:4]:
        await world.vote(idea, voter, 1)
    await world.status(idea, Status.PLANNED)
    assert await world.svc.total(GUILD, ALICE) == 2 + 4 + 10
    await world.withdraw(idea)
    assert await world.svc.total(GUILD, ALICE) == 0
    assert len(await world.svc.ledger(GUILD)) == 11  # nothing deleted: 6 rows, 5 reversals (by voter)


async def test_merge_moves_vote_credit_to_the_target_author(world: World) -> None:
    source = await world.idea(ALICE, "Duplicate")
    target = await world.idea(BOB, "Original")
    for voter in VOTERS[:3]:
        await world.vote(source, voter, 1)
    await world.vote(target, VOTERS[0], 1)  # already on the target: dropped in the merge
    await world.vote(source, VOTERS[3], -1)
    assert (await world.vote_points(ALICE), await world.vote_points(BOB)) == (3, 1)
    moved = (
        MovedVote(VOTERS[0], 1, False, None),
        MovedVote(VOTERS[1], 1, True, None),
        MovedVote(VOTERS[2], 1, True, None),
        MovedVote(VOTERS[3], -1, True, None),
    )
    async with world.db.transaction() as conn:  # what IdeaService.merge writes
        for vote in moved:
            await vote_queries.put_vote(conn, source.id, vote.voter_id, vote.value, None, None, world.now)
            world.votes.pop((source.id, vote.voter_id))
            if vote.kept:
                await vote_queries.put_vote(conn, target.id, vote.voter_id, None, vote.value, None, world.now)
                world.votes[(target.id, vote.voter_id)] = vote.value
    await world.svc.on_ideas_merged(IdeasMerged(GUILD, source.id, target.id, ALICE, BOB, moved, 9, world.now))
    assert (await world.vote_points(ALICE), await world.vote_points(BOB)) == (0, 3)
    # Later withdrawals on the target move the credit back from the target's author.
    await world.vote(target, VOTERS[1], None)
    assert await world.vote_points(BOB) == 2


async def test_reward_roles_follow_the_total_coalesced_and_idempotent(world: World) -> None:
    world.svc.role_delay = 0.05
    idea = await world.idea(ALICE)  # 2 points
    await world.svc.add_reward_role(GUILD, 9, 77, 5)
    await world.svc.add_reward_role(GUILD, 9, 78, 100)
    for voter in VOTERS[:6]:  # a burst: 8 points
        await world.vote(idea, voter, 1)
    await world.settle()
    assert world.outlet.calls == [("add", ALICE, 77)]
    before = world.svc.reconciliations
    await world.svc.reconcile(GUILD, ALICE)  # idempotent: nothing to change, no call
    assert world.outlet.calls == [("add", ALICE, 77)] and world.svc.reconciliations == before + 1
    for voter in VOTERS[:4]:
        await world.vote(idea, voter, None)
    await world.settle()
    assert world.outlet.calls[-1] == ("remove", ALICE, 77)
    awards = [(user, role, action) for user, role, action, _ in await world.svc.role_awards(GUILD)]
    assert awards == [(ALICE, 77, "added"), (ALICE, 77, "removed")]
    profile = await world.svc.profile(GUILD, ALICE)
    assert (profile.total, profile.next_role and profile.next_role.role_id, profile.to_go) == (4, 77, 1)


async def test_lowering_a_threshold_reconciles_existing_members(world: World) -> None:
    await world.idea(ALICE)
    await world.svc.add_reward_role(GUILD, 9, 77, 10)
    await world.settle()
    assert world.outlet.calls == []
    await world.svc.add_reward_role(GUILD, 9, 77, 2)
    await world.settle()
    assert world.outlet.calls == [("add", ALICE, 77)]
    await world.svc.remove_reward_role(GUILD, 77)
    with pytest.raises(UserFacingError):
        await world.svc.remove_reward_role(GUILD, 77)


async def test_refused_role_changes_are_reported_and_left_members_break_nothing(world: World) -> None:
    world.outlet.refused.add(77)
    world.outlet.gone.add(BOB)
    await world.svc.add_reward_role(GUILD, 9, 77, 1)
    await world.svc.add_reward_role(GUILD, 9, 78, 1)
    await world.idea(ALICE)
    await world.idea(CAROL)
    await world.idea(BOB)
    await world.settle()
    refused = [details for kind, details in world.outlet.reports if kind == "refused"]
    assert len(refused) == 1  # once per role, not once per member
    assert ("add", ALICE, 78) in world.outlet.calls and ("add", CAROL, 78) in world.outlet.calls
    held = {(user, role) for user, role, action, _ in await world.svc.role_awards(GUILD) if action == "added"}
    assert held == {(ALICE, 78), (CAROL, 78)}


async def test_award_api_profile_and_leaderboards(world: World) -> None:
    await world.idea(ALICE)
    await world.svc.award(GUILD, BOB, 30, "Won challenge #1", "challenge_win")
    world.advance(days=10)
    await world.idea(CAROL)
    await world.svc.award(GUILD, CAROL, 0, "nothing", "challenge_win")  # no row
    assert await world.svc.leaderboard(GUILD, Period.ALL) == [(BOB, 30), (ALICE, 2), (CAROL, 2)]
    assert await world.svc.leaderboard(GUILD, Period.WEEK) == [(CAROL, 2)]
    profile = await world.svc.profile(GUILD, ALICE)
    assert (profile.total, profile.rank, profile.ranked_members) == (2, 2, 3)
    assert (await world.svc.profile(GUILD, VOTERS[0])).rank is None


# --- properties ----------------------------------------------------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(st.just("vote"), st.integers(0, 2), st.integers(0, 7), st.sampled_from([1, -1, None])),
        st.tuples(st.just("wait"), st.integers(0, 30)),
        st.tuples(st.just("award"), st.integers(0, 2), st.integers(-5, 40)),
        st.tuples(st.just("status"), st.integers(0, 2), st.sampled_from([Status.PLANNED, Status.IMPLEMENTED])),
    ),
    max_size=40,
)


async def _run_property(steps: list[tuple[object, ...]], cap: int) -> None:
    db = await Database.open(":memory:")
    world = World(db, RecordingOutlet())
    try:
        await world.svc.set_rules(GUILD, vote_points_per_day=cap, serial_min_votes=3)
        await world.svc.add_reward_role(GUILD, 9, 77, 4)
        authors = [ALICE, BOB, ALICE]
        ideas = [await world.idea(author) for author in authors]
        voters = [*VOTERS[:7], NEWBIE]
        for step in steps:
            if step[0] == "vote":
                _, i, v, value = step
                assert isinstance(i, int) and isinstance(v, int)
                await world.vote(ideas[i], voters[v], value if isinstance(value, int) else None)
            elif step[0] == "wait":
                assert isinstance(step[1], int)
                world.advance(minutes=step[1] * 10)
            elif step[0] == "award":
                _, who, points = step
                assert isinstance(who, int) and isinstance(points, int)
                await world.svc.award(GUILD, [ALICE, BOB, CAROL][who], points, "bonus", "challenge_win")
            else:
                _, i, status = step
                assert isinstance(i, int) and isinstance(status, Status)
                await world.status(ideas[i], status)
            # The total always equals the sum of the ledger, for everyone.
            ledger = await world.svc.ledger(GUILD)
            for user in (ALICE, BOB, CAROL):
                assert await world.svc.total(GUILD, user) == sum(r.delta for r in ledger if r.user_id == user)
        # Every vote withdrawn: the authors' vote points are back to zero.
        for idea_id, voter in list(world.votes):
            idea = next(i for i in ideas if i.id == idea_id)
            await world.vote(idea, voter, None)
        assert await world.vote_points(ALICE) == 0
        assert await world.vote_points(BOB) == 0
        await world.settle()
        # Roles match the final totals.
        for user in (ALICE, BOB, CAROL):
            latest = {r: a for u, r, a, _ in await world.svc.role_awards(GUILD) if u == user}
            assert (latest.get(77) == "added") == (await world.svc.total(GUILD, user) >= 4), user
        board = dict(await world.svc.leaderboard(GUILD, Period.ALL, limit=100))
        for user in (ALICE, BOB, CAROL):
            total = await world.svc.total(GUILD, user)
            assert board.get(user, 0) == max(total, 0) if total > 0 else user not in board
    finally:
        await world.svc.stop()
        await db.close()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=ops, cap=st.integers(0, 6))
def test_property_ledger_sums_and_votes_return_to_zero(steps: list[tuple[object, ...]], cap: int) -> None:
    asyncio.run(_run_property(steps, cap))
