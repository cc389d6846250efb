"""A batch of vote changes credited at once leaves exactly the ledger that the same events
leave handled one at a time: same rows (ids, amounts, reasons, times), same serial-voting
flags and reports, same members marked for a role check. Real SQLite, random batches with
withdrawals, switches, untrusted voters, a binding daily cap and serial voting."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.events.types import VoteChanged
from bot.ideas import storage as idea_queries
from bot.ideas.rules import IdeaDraft
from bot.reputation.rules import DISCORD_EPOCH_MS
from bot.reputation.service import ReputationService
from bot.storage import Database
from bot.votes import storage as vote_queries
from tests.reputation.test_service import RecordingOutlet

GUILD = 1
START = datetime(2026, 11, 2, 9, 0, 0, 123457, tzinfo=UTC)
CAP = 6


def snowflake(age: timedelta, n: int) -> int:
    created = START - age
    return ((int(created.timestamp() * 1000) - DISCORD_EPOCH_MS) << 22) + n


ALICE, BOB, CAROL = (snowflake(timedelta(days=400), n) for n in (1, 2, 3))
TRUSTED = [snowflake(timedelta(days=300), 100 + n) for n in range(6)]
NEWBIE = snowflake(timedelta(days=2), 50)  # a new account never earns
VOTERS = [*TRUSTED, NEWBIE]


class Side:
    """One database with its own service; both sides see the same ideas and votes."""

    def __init__(self, db: Database, now: list[datetime]) -> None:
        self.db = db
        self.outlet = RecordingOutlet()
        self.svc = ReputationService(db, self.outlet, lambda: now[0], role_delay=0)
        self.marked: list[tuple[int, int]] = []
        self.svc.mark_dirty = lambda guild_id, user_id: self.marked.append((guild_id, user_id))  # type: ignore[method-assign]

    async def state(self) -> tuple[list[tuple[Any, ...]], ...]:
        tables = []
        for sql in ("SELECT * FROM reputation_events ORDER BY id", "SELECT * FROM serial_voting_flags ORDER BY id"):
            async with self.db.conn.execute(sql) as cursor:
                tables.append([tuple(row) for row in await cursor.fetchall()])
        return tuple(tables)


async def open_side(target: str, now: list[datetime]) -> Side:
    db = await Database.open(target)
    side = Side(db, now)
    await side.svc.set_rules(GUILD, vote_points_per_day=CAP, serial_min_votes=3, serial_share_percent=40)
    return side


async def add_idea(side: Side, author: int, at: datetime) -> int:
    async with side.db.transaction() as conn:
        idea = await idea_queries.insert_idea(conn, GUILD, author, IdeaDraft("An idea", "some details"), at)
        await idea_queries.attach_card(conn, idea.id, channel_id=5, message_id=1000 + idea.id, thread_id=9000 + idea.id)
    return idea.id


def random_batch(
    rng: random.Random, ideas: list[tuple[int, int]], votes: dict[tuple[int, int], int], at: datetime
) -> list[VoteChanged]:
    """Vote changes as the vote writer publishes them: in order, each from the vote before it."""
    batch = []
    for _ in range(rng.randint(1, 40)):
        idea_id, author_id = rng.choice(ideas)
        voter = rng.choice(VOTERS)
        old = votes.get((idea_id, voter))
        new = rng.choice([1, 1, 1, -1, None])
        if new == old:
            continue
        if new is None:
            del votes[(idea_id, voter)]
        else:
            votes[(idea_id, voter)] = new
        joined_at = rng.choice([None, at - timedelta(days=90), at - timedelta(hours=2)])  # the last: too new
        batch.append(VoteChanged(GUILD, idea_id, author_id, voter, old, new, joined_at, at))
    return batch


@pytest.mark.parametrize("seed", range(6))
async def test_a_batch_credits_exactly_what_its_events_credit_one_at_a_time(
    seed: int, new_database_target: Callable[[], Awaitable[str]]
) -> None:
    rng = random.Random(seed)
    now = [START]
    batched = await open_side(await new_database_target(), now)
    single = await open_side(await new_database_target(), now)
    try:
        ideas: list[tuple[int, int]] = []
        votes: dict[tuple[int, int], int] = {}
        capped_rounds = 0
        for round_number in range(60):
            # Alice starts with enough ideas for one voter to up-vote most of them in minutes.
            new_authors = [ALICE] * 5 + [BOB] * 3 + [CAROL] if round_number == 0 else []
            if rng.random() < 0.1:
                new_authors.append(rng.choice([ALICE, BOB, CAROL]))
            for author in new_authors:
                ideas.append((await add_idea(batched, author, now[0]), author))
                await add_idea(single, author, now[0])
            before = dict(votes)
            batch = random_batch(rng, ideas, votes, now[0])
            for side in (batched, single):  # the votes table is the batch's end state when handlers run
                async with side.db.transaction() as conn:
                    for key in before.keys() | votes.keys():
                        if before.get(key) != votes.get(key):
                            await vote_queries.put_vote(conn, *key, before.get(key), votes.get(key), None, now[0])
            await batched.svc.on_votes_changed(batch)
            for event in batch:
                await single.svc.on_votes_changed([event])
            await batched.svc.wait_idle()
            await single.svc.wait_idle()
            assert await batched.state() == await single.state(), f"seed {seed}, round {round_number}"
            assert set(batched.marked) == set(single.marked), f"seed {seed}, round {round_number}"
            assert batched.outlet.reports == single.outlet.reports, f"seed {seed}, round {round_number}"
            for author in (ALICE, BOB, CAROL):
                assert await batched.svc.total(GUILD, author) == await single.svc.total(GUILD, author)
                day_start = now[0] - timedelta(days=1)
                ledger = await batched.svc.ledger(GUILD)
                vote_points = sum(r.delta for r in ledger if r.user_id == author and r.voter_id and r.at > day_start)
                capped_rounds += vote_points == CAP
            now[0] += rng.choice([timedelta(0), timedelta(seconds=1), timedelta(minutes=4), timedelta(hours=7)])
        # The scenario reached what it is about: serial voting found, the cap binding, reversals.
        assert batched.outlet.reports, "no serial voting"
        assert capped_rounds > 0, "the daily cap never bound"
        ledger = await batched.svc.ledger(GUILD)
        assert any(row.reason.endswith("withdrawn") for row in ledger)
        assert any("switched" in row.reason for row in ledger)
    finally:
        for side in (batched, single):
            await side.svc.stop()
            await side.db.close()
