"""The idea board in Discord: posting cards, and editing them as tallies change.

Edits are coalesced: a changed card is marked dirty and re-rendered from the database when
its turn comes. Each card is edited at most once per `card_interval`, and the bot keeps each
channel within its own edit budget (Discord allows about 5 edits per 5 s per channel), so the
order of edits is ours (oldest change first) and never decided by a 429."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord

from bot.core.ports import PostedCard
from bot.edge.channels import messageable
from bot.edge.embeds import NO_MENTIONS, clip
from bot.i18n import SOURCE, use
from bot.ideas.render import card_embed
from bot.ideas.rules import Idea
from bot.votes.rules import DOWNVOTE_EMOJI, UPVOTE_EMOJI

log = logging.getLogger(__name__)

THREAD_NAME_MAX = 100
CHANNEL_WINDOW_MARGIN = 0.02


@dataclass(slots=True)
class EditStats:
    edits: int = 0
    failures: int = 0


class CardEditScheduler:
    def __init__(
        self,
        load_idea: Callable[[int], Awaitable[Idea | None]],
        edit_card: Callable[[Idea], Awaitable[None]],
        *,
        card_interval: float,
        channel_budget: int,
        channel_window: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load_idea = load_idea
        self._edit_card = edit_card
        self.card_interval = card_interval
        self.channel_budget = channel_budget
        self.channel_window = channel_window
        self._now = monotonic
        self._dirty: dict[int, float] = {}  # idea id -> when it first changed since its last edit
        self._last_edit: dict[int, float] = {}
        self._channel_edits: dict[int, deque[float]] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.stats = EditStats()

    def mark_dirty(self, idea_id: int, *, first: bool = False) -> None:
        """`first`: the card's edit goes before every tally edit waiting (a new card's thread link)."""
        if first:
            self._dirty[idea_id] = -math.inf
        else:
            self._dirty.setdefault(idea_id, self._now())
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="card-edits")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def wait_idle(self) -> None:
        """Until no card is waiting for an edit (for tests, benchmarks and shutdown)."""
        await self._idle.wait()

    def _next_ready(self, now: float) -> tuple[int | None, float]:
        """The oldest dirty card allowed an edit now, or how long until one is."""
        best: int | None = None
        wait = float("inf")
        for idea_id, since in self._dirty.items():
            ready_at = self._last_edit.get(idea_id, -float("inf")) + self.card_interval
            if ready_at <= now:
                if best is None or since < self._dirty[best]:
                    best = idea_id
            else:
                wait = min(wait, ready_at - now)
        return best, wait

    def _channel_wait(self, channel_id: int, now: float) -> float:
        # Discord times the bucket from when each request arrives, a few milliseconds after we
        # send it: keep a small margin so the server never sees budget + 1 edits in a window.
        window = self.channel_window * (1 + CHANNEL_WINDOW_MARGIN)
        recent = self._channel_edits.setdefault(channel_id, deque())
        while recent and recent[0] <= now - window:
            recent.popleft()
        if len(recent) < self.channel_budget:
            return 0.0
        return recent[0] + window - now

    async def _sleep_or_wake(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=seconds)

    async def _run(self) -> None:
        while True:
            if not self._dirty:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                continue
            now = self._now()
            idea_id, wait = self._next_ready(now)
            if idea_id is None:
                await self._sleep_or_wake(wait)
                continue
            idea = await self._load_idea(idea_id)
            if idea is None or idea.channel_id is None or idea.message_id is None:
                self._dirty.pop(idea_id, None)
                continue
            channel_wait = self._channel_wait(idea.channel_id, now)
            if channel_wait > 0:
                await asyncio.sleep(channel_wait)
                continue
            since = self._dirty.pop(idea_id)
            self._last_edit[idea_id] = now
            self._channel_edits[idea.channel_id].append(now)
            try:
                # Re-read right before editing so the card shows the latest committed tally.
                fresh = await self._load_idea(idea_id) or idea
                await self._edit_card(fresh)
                self.stats.edits += 1
            except discord.NotFound:
                log.info("card of idea %s is gone; not editing it again", idea_id)
            except Exception as exc:
                self.stats.failures += 1
                log.warning("editing card of idea %s failed (%r); will retry", idea_id, exc)
                self._dirty.setdefault(idea_id, since)


class CardBoard:
    """Implements the services' IdeaBoard port on top of discord.py."""

    def __init__(
        self,
        client: discord.Client,
        load_idea: Callable[[int], Awaitable[Idea | None]],
        *,
        card_interval: float,
        channel_budget: int,
        channel_window: float,
        language_of: Callable[[int], Awaitable[str]] | None = None,
    ) -> None:
        self.client = client
        self._language_of = language_of or _source_language
        self.scheduler = CardEditScheduler(
            load_idea,
            self._edit_card,
            card_interval=card_interval,
            channel_budget=channel_budget,
            channel_window=channel_window,
        )

    async def _messageable(self, channel_id: int) -> discord.abc.Messageable:
        channel = await messageable(self.client, channel_id)
        if channel is None:
            raise TypeError(f"channel {channel_id} cannot hold messages")
        return channel

    async def _card_embed(self, idea: Idea) -> discord.Embed:
        """The card in the server's language: cards are public."""
        with use(await self._language_of(idea.guild_id)):
            return card_embed(idea)

    async def post_card(self, idea: Idea, ideas_channel_id: int) -> PostedCard:
        channel = await self._messageable(ideas_channel_id)
        message = await channel.send(embed=await self._card_embed(idea), allowed_mentions=NO_MENTIONS)
        try:
            await message.add_reaction(UPVOTE_EMOJI)
            await message.add_reaction(DOWNVOTE_EMOJI)
            thread = await message.create_thread(
                name=clip(f"#{idea.number} {idea.title}", THREAD_NAME_MAX), auto_archive_duration=10080
            )
        except Exception:
            # A card without its reactions or thread is half-made: take it down again.
            with contextlib.suppress(discord.HTTPException):
                await message.delete()
            raise
        return PostedCard(message.channel.id, message.id, thread.id)

    def card_changed(self, idea_id: int) -> None:
        self.scheduler.mark_dirty(idea_id)

    def card_posted(self, idea_id: int) -> None:
        # The thread link is added by the card's first edit, ahead of the channel's tally edits:
        # the member's answer does not wait on the channel's edit budget, busy in a vote burst.
        self.scheduler.mark_dirty(idea_id, first=True)

    async def _edit_card(self, idea: Idea) -> None:
        assert idea.channel_id is not None and idea.message_id is not None
        channel = await self._messageable(idea.channel_id)
        if not isinstance(channel, discord.abc.GuildChannel | discord.Thread | discord.DMChannel):
            raise TypeError("unexpected channel type")
        partial = discord.PartialMessage(channel=channel, id=idea.message_id)
        await partial.edit(embed=await self._card_embed(idea), allowed_mentions=NO_MENTIONS)


async def _source_language(guild_id: int) -> str:
    return SOURCE


class DiscordReactionReader:
    """Reads every user holding a reaction, 100 per page, as Discord paginates them."""

    PAGE = 100

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def users_with_reaction(self, channel_id: int, message_id: int, emoji: str) -> set[int]:
        users: set[int] = set()
        after: int | None = None
        while True:
            page = await self.client.http.get_reaction_users(channel_id, message_id, emoji, self.PAGE, after=after)
            users.update(int(user["id"]) for user in page)
            if len(page) < self.PAGE:
                return users
            after = int(page[-1]["id"])
