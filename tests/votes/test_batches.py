"""The batched vote writer is equivalent to writing each reaction event on its own: same rows
(values, joined-at, created/updated times), same tallies, same VoteChanged events in order."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.events.bus import EventBus
from bot.events.types import VoteChanged
from bot.storage import Database
from bot.testing import FakeClock
from bot.votes.service import ReactionEvent, VoteService

AUTHOR, BOT = 5, 6
MESSAGES = [1001, 1002, 1003]


class Board:
    def __init__(self) -> None:
        self.changed: set[int] = set()

    def card_changed(self, idea_id: int) -> None:
        self.changed.add(idea_id)

    def card_posted(self, idea_id: int) -> None:
        pass


async def open_service(target: str, clock: FakeClock) -> tuple[Database, VoteService, list[VoteChanged]]:
    db = await Database.open(target)
    async with db.transaction() as conn:
        for number, message_id in enumerate(MESSAGES, start=1):
            status = "declined" if message_id == 1003 else "open"  # voting closed on the third
            await conn.execute(
                "INSERT INTO ideas (guild_id, number, author_id, title, body, status, created_at, updated_at,"
                " last_activity_at, channel_id, message_id) VALUES (1, ?, ?, 'title', 'body', ?, 0, 0, 0, 9, ?)",
                (number, AUTHOR, status, message_id),
            )
    events = EventBus()
    published: list[VoteChanged] = []

    async def record(event: VoteChanged) -> None:
        published.append(event)

    events.subscribe(VoteChanged, record)
    service = VoteService(db, Board(), events, clock)  # type: ignore[arg-type]
    service.bot_user_id = BOT
    return db, service, published


async def state(db: Database) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    async with db.conn.execute("SELECT * FROM votes ORDER BY idea_id, voter_id") as cursor:
        votes = [tuple(row) for row in await cursor.fetchall()]
    async with db.conn.execute("SELECT id, upvotes, downvotes, last_activity_at FROM ideas ORDER BY id") as cursor:
        ideas = [tuple(row) for row in await cursor.fetchall()]
    return votes, ideas


def random_events(rng: random.Random, n: int, start: datetime) -> list[ReactionEvent]:
    voters = [10, 11, 12, 13, AUTHOR, BOT]
    emoji = ["👍", "👎", "👍", "👎", "🎉"]
    return [
        ReactionEvent(
            rng.choice([*MESSAGES, 4040]),  # 4040: not a card
            rng.choice(voters),
            rng.choice(emoji),
            rng.random() < 0.65,
            rng.choice([None, start - timedelta(days=rng.randint(1, 99))]),
        )
        for _ in range(n)
    ]


async def test_one_batch_equals_one_event_at_a_time(new_database_target: Callable[[], Awaitable[str]]) -> None:
    rng = random.Random(11)
    clock = FakeClock(datetime(2026, 1, 1, tzinfo=UTC))
    batched_db, batched, batched_events = await open_service(await new_database_target(), clock)
    single_db, single, single_events = await open_service(await new_database_target(), clock)
    try:
        for round_number in range(30):
            events = random_events(rng, rng.randint(1, 60), clock())
            batch_events = [event for event in events if batched.is_vote(event)]  # the same filter as ingest
            await batched.apply_batch(batch_events)
            for event in batch_events:
                await single.apply_batch([event])
            assert await state(batched_db) == await state(single_db), f"round {round_number}"
            assert batched_events == single_events, f"round {round_number}"
            clock.advance(seconds=rng.choice([0, 1, 30]))
        assert len(batched_events) > 100
    finally:
        await batched_db.close()
        await single_db.close()
