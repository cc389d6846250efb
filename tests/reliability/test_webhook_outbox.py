"""A change and its webhook deliveries commit together (an outbox): the bot dies right after an
idea's change is committed, before any post-commit handler runs, and the firm's receiver still
gets the event once after a restart. Each case makes the event bus's post-commit step fail the
way a kill would leave it, then restarts the bot on the same database. (A support stage was
already owed at restart through its recorded crossing; its case checks it is sent once.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.events.types import IdeasMerged, IdeaStatusChanged, IdeaSubmitted, StageReached
from bot.testing import running_bot
from discord_emulator import DiscordEmulator
from tests.delivery.test_delivery_e2e import add_webhook, deliver, firm_community, receiver


class Killed(Exception):
    """Stands in for the process dying at this step."""


KILLED_AFTER = {
    "idea.created": IdeaSubmitted,
    "idea.status_changed": IdeaStatusChanged,
    "idea.merged": IdeasMerged,
    "idea.stage_reached": StageReached,
}


@pytest.mark.parametrize("event", list(KILLED_AFTER))
async def test_a_change_committed_just_before_a_crash_keeps_its_webhook(
    emulator: DiscordEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, event: str
) -> None:
    async with receiver() as r, firm_community(emulator, tmp_path) as c:
        await add_webhook(c, r.url)
        await c.mod.run("/ideamod thresholds", stages="2/30", archive_days=90, channel=c.general)
        first = None
        if event != "idea.created":
            first = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
            await c.submit(c.bob, title="Night theme", details="A darker look for the evenings")
            await deliver(c)
        before = [(b["event"], b["data"]["idea"]["number"]) for b in r.delivered()]

        killed = KILLED_AFTER[event]
        publish = c.bot.events.publish

        async def dies_after_the_commit(fact: object) -> None:
            if isinstance(fact, killed):
                raise Killed(f"the bot died after committing {type(fact).__name__}, before its handlers ran")
            await publish(fact)

        monkeypatch.setattr(c.bot.events, "publish", dies_after_the_commit)
        if event == "idea.created":
            await c.alice.run("/idea submit", title="Dark mode", details="A dark theme for late-night work")
        elif event == "idea.status_changed":
            await c.mod.run("/ideamod status", id=1, status="planned", reason="Shipping in Q1", channel=c.general)
        elif event == "idea.merged":
            await c.mod.run("/ideamod merge", source=2, target=1, channel=c.general)
        else:
            assert first is not None
            await c.carol.react(first, "👍")
            await c.dave.react(first, "👍")  # stage 1: 2 upvotes
        await c.settle()
        monkeypatch.undo()
        assert (await c.bot.ideas.get(c.guild.id, 1)).number == 1  # the change itself is durable

        for _ in range(2):  # a second restart sends nothing more
            await c.bot.close()
            async with running_bot(c.settings, c.db, c.clock) as restarted:
                c.bot = restarted
                await deliver(c)
        after = [(b["event"], b["data"]["idea"]["number"]) for b in r.delivered()]
        new = after[len(before) :]
        assert after[: len(before)] == before
        assert new.count((event, 1)) == 1, new
        keys = [b["id"] for b in r.delivered()]
        assert len(keys) == len(set(keys))
