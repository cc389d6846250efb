"""The coalesced card-edit scheduler, with real asyncio time on short intervals."""

import asyncio
import time
from collections import defaultdict
from datetime import UTC, datetime
from itertools import pairwise

from bot.ideas.cards import CardEditScheduler
from bot.ideas.rules import Idea, Status


def make_idea(idea_id: int, channel_id: int = 1) -> Idea:
    now = datetime.now(UTC)
    return Idea(
        idea_id,
        1,
        idea_id,
        1,
        "t",
        "b",
        None,
        Status.OPEN,
        None,
        channel_id,
        100 + idea_id,
        None,
        0,
        0,
        None,
        now,
        now,
        now,
    )


async def test_each_card_is_edited_at_most_once_per_interval_and_the_channel_stays_in_budget() -> None:
    edits: dict[int, list[float]] = defaultdict(list)
    channel_edits: list[float] = []

    async def load(idea_id: int) -> Idea:
        return make_idea(idea_id)

    async def edit(idea: Idea) -> None:
        now = time.monotonic()
        edits[idea.id].append(now)
        channel_edits.append(now)

    scheduler = CardEditScheduler(load, edit, card_interval=0.1, channel_budget=3, channel_window=0.1)
    scheduler.start()
    try:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:  # a storm of changes on 6 cards
            for idea_id in range(1, 7):
                scheduler.mark_dirty(idea_id)
            await asyncio.sleep(0.005)
        await asyncio.wait_for(scheduler.wait_idle(), timeout=2)
    finally:
        await scheduler.stop()
    assert set(edits) == set(range(1, 7)), "every changed card is edited"
    for times in edits.values():
        assert all(b - a >= 0.1 - 0.005 for a, b in pairwise(times))
    for i, start in enumerate(channel_edits):
        in_window = [t for t in channel_edits[i:] if t < start + 0.1 - 0.005]
        assert len(in_window) <= 3
    # Coalesced: far fewer edits than changes.
    assert sum(len(t) for t in edits.values()) < 40


async def test_a_failed_edit_is_retried_and_a_deleted_card_is_dropped() -> None:
    import discord

    attempts: dict[int, int] = defaultdict(int)

    class Gone(discord.NotFound):
        def __init__(self) -> None:
            Exception.__init__(self, "gone")

    async def load(idea_id: int) -> Idea:
        return make_idea(idea_id)

    async def edit(idea: Idea) -> None:
        attempts[idea.id] += 1
        if idea.id == 1 and attempts[1] == 1:
            raise RuntimeError("5xx")
        if idea.id == 2:
            raise Gone()

    scheduler = CardEditScheduler(load, edit, card_interval=0.02, channel_budget=5, channel_window=0.02)
    scheduler.start()
    try:
        scheduler.mark_dirty(1)
        scheduler.mark_dirty(2)
        await asyncio.wait_for(scheduler.wait_idle(), timeout=2)
    finally:
        await scheduler.stop()
    assert attempts == {1: 2, 2: 1}
    assert scheduler.stats.failures == 1


async def test_a_new_card_s_first_edit_goes_before_the_tally_edits_waiting() -> None:
    done: list[int] = []

    async def load(idea_id: int) -> Idea:
        return make_idea(idea_id)

    async def edit(idea: Idea) -> None:
        done.append(idea.id)

    scheduler = CardEditScheduler(load, edit, card_interval=0.01, channel_budget=2, channel_window=0.2)
    scheduler.start()
    try:
        for idea_id in range(1, 9):  # a backlog of tally edits fills the channel's budget
            scheduler.mark_dirty(idea_id)
        await asyncio.sleep(0.05)
        assert len(done) == 2
        scheduler.mark_dirty(99, first=True)  # a card just posted
        await asyncio.wait_for(scheduler.wait_idle(), timeout=3)
    finally:
        await scheduler.stop()
    assert done[2] == 99, "it went before the six tally edits still waiting"
    assert sorted(done) == [*range(1, 9), 99]
