"""Closing the loop: when an idea's status changes, its author and supporters are told, with
the reason. A DM first; people whose DMs are closed are pointed to the idea's thread. The
notices are an outbox (bot/notices/service.py): a crash delays them, never loses or repeats one.
Moderator actions also go to the guild's log channel when one is configured."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace

import discord

from bot.edge.channels import messageable
from bot.edge.embeds import NO_MENTIONS
from bot.events.types import IdeaStatusChanged
from bot.i18n import SOURCE, _, use
from bot.ideas.privacy import may_ping_in_public
from bot.ideas.render import mod_log_embed, status_update_embed
from bot.ideas.rules import Idea
from bot.ideas.service import IdeaService
from bot.notices.service import NoticeService, OwedNotice

log = logging.getLogger(__name__)


def notice_nonce(notice: OwedNotice, user_id: int, part: str) -> str:
    """One nonce per message of a notice (Discord's limit: 25 characters). Discord compares
    nonces per author across channels, so the recipient is part of it."""
    return "n" + hashlib.blake2b(f"{notice.history_id}:{user_id}:{part}".encode(), digest_size=12).hexdigest()


class Notifier:
    """Delivers the owed status-change notices (bot/notices/service.py) one after another in
    the background: woken by each IdeaStatusChanged, and at start-up for what a crash left."""

    def __init__(
        self,
        client: discord.Client,
        ideas: IdeaService,
        max_recipients: int,
        notices: NoticeService,
        *,
        public_language: Callable[[int], Awaitable[str]] | None = None,
        member_language: Callable[[int, int], Awaitable[str]] | None = None,
    ) -> None:
        self.client = client
        # The thread post is public (the server's language); each DM is in its reader's language.
        self.public_language = public_language or _source_language
        self.member_language = member_language or _source_language_of_member
        self.ideas = ideas
        self.notices = notices
        self.max_recipients = max_recipients
        self._worker: asyncio.Task[None] | None = None
        self._again = False
        self.sent_dms = 0
        self.failed_dms = 0
        self.thread_fallbacks = 0

    def on_status_changed(self, event: IdeaStatusChanged) -> Awaitable[None]:
        # Telling hundreds of people takes a while: never hold up the moderator's command.
        self.resume()
        return asyncio.sleep(0)

    def resume(self) -> None:
        """Deliver whatever is owed, in the background."""
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._deliver_owed(), name="notices")
        else:
            self._again = True

    async def start_up(self) -> None:
        self.resume()

    async def wait_sent(self) -> None:
        while self._worker is not None and not self._worker.done():
            await asyncio.gather(self._worker, return_exceptions=True)

    async def _deliver_owed(self) -> None:
        while True:
            self._again = False
            try:
                owed = await self.notices.owed()
                for notice in owed:
                    await self._tell_audience(notice)
            except Exception:
                log.exception("delivering status-change notices failed; they are retried at the next change or start")
                return
            if not owed and not self._again:
                return

    async def _channel(self, channel_id: int) -> discord.abc.Messageable | None:
        try:
            return await messageable(self.client, channel_id)
        except discord.HTTPException:
            return None

    async def _audience(self, notice: OwedNotice, idea: Idea) -> list[int]:
        if notice.moderator_id is None:
            # An automatic change (a support stage reached) is announced in the thread; only the
            # authors hear about it by DM. Decisions by moderators go to supporters too.
            return [idea.author_id, *idea.coauthor_ids]
        return await self.ideas.audience(idea, self.max_recipients, notice.new_status)

    async def _tell_audience(self, notice: OwedNotice) -> None:
        idea = await self.ideas.get_by_id(notice.idea_id)
        if idea is None:
            await self.notices.done(notice)
            return
        # The change being announced, even when a later one already followed it.
        announced = replace(idea, status=notice.new_status)
        with use(await self.public_language(idea.guild_id)):
            embed = status_update_embed(announced, notice.old_status, notice.reason)

        async def audience(idea: Idea) -> list[int]:
            return await self._audience(notice, idea)

        recipients = await self.notices.recipients(notice, idea, audience)
        for user_id, state in recipients.items():
            if state != "pending":
                continue
            try:
                user = self.client.get_user(user_id) or await self.client.fetch_user(user_id)
                with use(await self.member_language(user_id, idea.guild_id)):
                    dm = status_update_embed(announced, notice.old_status, notice.reason)
                await user.send(embed=dm, allowed_mentions=NO_MENTIONS, nonce=notice_nonce(notice, user_id, "dm"))
                self.sent_dms += 1
                state = "sent"
            except discord.HTTPException:
                self.failed_dms += 1
                state = "unreachable"
            await self.notices.mark(notice, user_id, state)
            recipients[user_id] = state
        # A ping next to the idea would name someone behind it anonymously: they miss it.
        unreachable = [
            user_id
            for user_id, state in recipients.items()
            if state == "unreachable" and may_ping_in_public(idea, user_id)
        ]
        await self._post_in_thread(notice, idea, embed, unreachable)
        await self.notices.done(notice)

    async def _post_in_thread(
        self, notice: OwedNotice, idea: Idea, embed: discord.Embed, unreachable: list[int]
    ) -> None:
        if idea.thread_id is None:
            return
        thread = await self._channel(idea.thread_id)
        if thread is None:
            return
        try:
            # The public record, in the idea's own discussion.
            await thread.send(embed=embed, allowed_mentions=NO_MENTIONS, nonce=notice_nonce(notice, 0, "thread"))
            if unreachable:
                # Only bot-written text here, and only the people we could not DM may be pinged.
                mentions = " ".join(f"<@{user_id}>" for user_id in unreachable)
                with use(await self.public_language(idea.guild_id)):
                    text = _("{mentions} there is an update on this idea (above).").format(mentions=mentions)
                await thread.send(
                    text,
                    allowed_mentions=discord.AllowedMentions(
                        everyone=False, roles=False, users=[discord.Object(u) for u in unreachable]
                    ),
                    nonce=notice_nonce(notice, 0, "ping"),
                )
                self.thread_fallbacks += len(unreachable)
        except discord.HTTPException as exc:
            log.warning("could not post the status update in thread %s: %r", idea.thread_id, exc)


async def _source_language(key: int) -> str:
    return SOURCE


async def _source_language_of_member(user_id: int, guild_id: int) -> str:
    return SOURCE


class ModLog:
    def __init__(
        self,
        client: discord.Client,
        log_channel_of: Callable[[int], Awaitable[int | None]],
        public_language: Callable[[int], Awaitable[str]] | None = None,
    ) -> None:
        self.client = client
        self._log_channel_of = log_channel_of
        self.public_language = public_language or _source_language

    async def record(
        self, guild_id: int, actor_id: int, action: str | Callable[[], str], details: str | Callable[[], str]
    ) -> None:
        """`action` and `details` given as functions are rendered in the server's language."""
        channel_id = await self._log_channel_of(guild_id)
        if channel_id is None:
            return
        try:
            channel = await messageable(self.client, channel_id)
            if channel is not None:
                with use(await self.public_language(guild_id)):
                    title = action() if callable(action) else action
                    embed = mod_log_embed(title, actor_id, details() if callable(details) else details)
                await channel.send(embed=embed, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:
            log.warning("could not write to the log channel %s: %r", channel_id, exc)
