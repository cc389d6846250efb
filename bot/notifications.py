"""Closing the loop: when an idea's status changes, its author and supporters are told, with
the reason. A DM first; people whose DMs are closed are pointed to the idea's thread.
Moderator actions also go to the guild's log channel when one is configured."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import discord

from bot.domain.events import IdeaStatusChanged
from bot.domain.privacy import may_ping_in_public
from bot.render import NO_MENTIONS, mod_log_embed, status_update_embed
from bot.services.ideas import IdeaService

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, client: discord.Client, ideas: IdeaService, max_recipients: int) -> None:
        self.client = client
        self.ideas = ideas
        self.max_recipients = max_recipients
        self._tasks: set[asyncio.Task[None]] = set()
        self.sent_dms = 0
        self.thread_fallbacks = 0

    def on_status_changed(self, event: IdeaStatusChanged) -> Awaitable[None]:
        # Telling hundreds of people takes a while: never hold up the moderator's command.
        task = asyncio.create_task(self._tell_audience(event), name=f"notify-{event.idea_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return asyncio.sleep(0)

    async def wait_sent(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _channel(self, channel_id: int) -> discord.abc.Messageable | None:
        try:
            channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)
        except discord.HTTPException:
            return None
        return channel if isinstance(channel, discord.abc.Messageable) else None

    async def _tell_audience(self, event: IdeaStatusChanged) -> None:
        idea = await self.ideas.get_by_id(event.idea_id)
        if idea is None:
            return
        embed = status_update_embed(idea, event.old_status, event.reason)
        unreachable: list[int] = []
        if event.moderator_id is None:
            # An automatic change (a support stage reached) is announced in the thread; only the
            # authors hear about it by DM. Decisions by moderators go to supporters too.
            audience = [idea.author_id, *idea.coauthor_ids]
        else:
            audience = await self.ideas.audience(idea, self.max_recipients, event.new_status)
        for user_id in audience:
            try:
                user = self.client.get_user(user_id) or await self.client.fetch_user(user_id)
                await user.send(embed=embed, allowed_mentions=NO_MENTIONS)
                self.sent_dms += 1
            except discord.HTTPException:
                # A ping next to the idea would name someone behind it anonymously: they miss it.
                if may_ping_in_public(idea, user_id):
                    unreachable.append(user_id)
        if idea.thread_id is None:
            return
        thread = await self._channel(idea.thread_id)
        if thread is None:
            return
        try:
            # The public record, in the idea's own discussion.
            await thread.send(embed=embed, allowed_mentions=NO_MENTIONS)
            if unreachable:
                # Only bot-written text here, and only the people we could not DM may be pinged.
                mentions = " ".join(f"<@{user_id}>" for user_id in unreachable)
                await thread.send(
                    f"{mentions} there is an update on this idea (above).",
                    allowed_mentions=discord.AllowedMentions(
                        everyone=False, roles=False, users=[discord.Object(u) for u in unreachable]
                    ),
                )
                self.thread_fallbacks += len(unreachable)
        except discord.HTTPException as exc:
            log.warning("could not post the status update in thread %s: %r", idea.thread_id, exc)


class ModLog:
    def __init__(self, client: discord.Client, log_channel_of: Callable[[int], Awaitable[int | None]]) -> None:
        self.client = client
        self._log_channel_of = log_channel_of

    async def record(self, guild_id: int, actor_id: int, action: str, details: str) -> None:
        channel_id = await self._log_channel_of(guild_id)
        if channel_id is None:
            return
        try:
            channel = self.client.get_channel(channel_id) or await self.client.fetch_channel(channel_id)
            if isinstance(channel, discord.abc.Messageable):
                await channel.send(embed=mod_log_embed(action, actor_id, details), allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("could not write to the log channel %s: %r", channel_id, exc)
