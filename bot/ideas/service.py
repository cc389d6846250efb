"""Idea use cases: submit, read, rank, search, edit, withdraw, and the moderator's lifecycle
actions (status, merge, block). Every write is one transaction; events follow the commit."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot.community import blocks as moderation_queries
from bot.community import guilds as guild_queries
from bot.community.guilds import GuildSettings
from bot.core.errors import Forbidden, NotFound, UserFacingError
from bot.core.ports import IdeaBoard
from bot.events.bus import Clock, EventBus, system_clock
from bot.events.types import IdeasMerged, IdeaStatusChanged, IdeaSubmitted, IdeaWithdrawn, MovedVote
from bot.i18n import _
from bot.ideas import storage as idea_queries
from bot.ideas.privacy import coauthor_link_is_anonymous
from bot.ideas.ranking import Period, Rankable, Sort, rank
from bot.ideas.rules import QUERY_MAX, Idea, IdeaDraft, Status, merged_reason, validate_draft, validate_reason
from bot.reputation import storage as rep_queries
from bot.search import storage as search_queries
from bot.search.rules import PAGE_SIZE, SearchFilters, SearchPage, search_terms
from bot.storage import Conn, Database
from bot.votes import storage as vote_queries

log = logging.getLogger(__name__)

NO_FILTERS = SearchFilters()


@dataclass(frozen=True, slots=True)
class StatusChange:
    idea: Idea
    old_status: Status
    reason: str | None


class IdeaService:
    def __init__(self, db: Database, board: IdeaBoard, events: EventBus, clock: Clock = system_clock) -> None:
        self.db = db
        self.board = board
        self.events = events
        self.clock = clock

    # --- reading -----------------------------------------------------------------------

    async def settings(self, guild_id: int) -> GuildSettings:
        return await guild_queries.get_guild_settings(self.db.conn, guild_id)

    async def get(self, guild_id: int, number: int) -> Idea:
        idea = await idea_queries.get_idea_by_number(self.db.conn, guild_id, number)
        if idea is None:
            raise NotFound(_("There is no idea #{number} in this server.").format(number=number))
        return idea

    async def get_by_id(self, idea_id: int) -> Idea | None:
        return await idea_queries.get_idea(self.db.conn, idea_id)

    async def top(self, guild_id: int, sort: Sort, period: Period, limit: int = 10) -> list[Idea]:
        since = None if period.days is None else self.clock() - timedelta(days=period.days)
        ideas = await idea_queries.list_posted_ideas(
            self.db.conn, guild_id, since=since, exclude_statuses=(Status.WITHDRAWN, Status.DUPLICATE)
        )
        by_id = {idea.id: idea for idea in ideas}
        ranked = rank([Rankable(i.id, i.upvotes, i.downvotes, i.created_at) for i in ideas], sort)
        return [by_id[item.key] for item in ranked[:limit]]

    async def search(
        self, guild_id: int, query: str, filters: SearchFilters = NO_FILTERS, page: int = 1, page_size: int = PAGE_SIZE
    ) -> SearchPage:
        if len(query) > QUERY_MAX:
            raise UserFacingError(
                _("The search is too long: the limit is {query_max} characters.").format(query_max=QUERY_MAX)
            )
        terms = search_terms(query)
        if not terms:
            raise UserFacingError(_("Type a word or two to search for: letters or numbers, e.g. `dark mode`."))
        return await search_queries.search_ideas(self.db.conn, guild_id, terms, filters, max(1, page), page_size)

    async def mine(self, guild_id: int, author_id: int, limit: int = 25) -> list[Idea]:
        return await idea_queries.list_posted_ideas(self.db.conn, guild_id, author_id=author_id, limit=limit)

    async def history(self, idea_id: int) -> list[dict[str, object]]:
        return [dict(row) for row in await idea_queries.status_history(self.db.conn, idea_id)]

    # --- submitting --------------------------------------------------------------------

    async def check_can_submit(self, guild_id: int, author_id: int) -> GuildSettings:
        """Everything that refuses a submission before the member spends time writing it."""
        settings = await guild_queries.get_guild_settings(self.db.conn, guild_id)
        if not settings.is_set_up or settings.ideas_channel_id is None:
            raise UserFacingError(_("Ideas are not set up here yet: a moderator needs to run /ideamod setup."))
        await self._check_author_limits(self.db.conn, settings, guild_id, author_id)
        return settings

    async def _check_author_limits(self, conn: Conn, settings: GuildSettings, guild_id: int, author_id: int) -> None:
        """Blocked, cooldown and daily quota, read through `conn`: inside the submission's write
        transaction this is the check that counts."""
        if await moderation_queries.is_blocked(conn, guild_id, author_id):
            raise Forbidden(_("You are blocked from submitting ideas in this server."))
        now = self.clock()
        last = await idea_queries.last_submission_at(conn, guild_id, author_id)
        if last is not None and settings.submit_cooldown_seconds > 0:
            wait = last + settings.submit_cooldown_seconds - now.timestamp()
            if wait > 0:
                raise UserFacingError(
                    _("Slow down a little: you can submit another idea in {seconds} s.").format(seconds=int(wait) + 1)
                )
        today = await idea_queries.count_submissions_since(conn, guild_id, author_id, now - timedelta(days=1))
        if settings.daily_submission_quota > 0 and today >= settings.daily_submission_quota:
            raise UserFacingError(
                _("You have reached today's limit of {daily_submission_quota} ideas. Try again tomorrow.").format(
                    daily_submission_quota=settings.daily_submission_quota
                )
            )

    async def submit(
        self,
        guild_id: int,
        author_id: int,
        title: str,
        details: str,
        category: str | None = None,
        *,
        challenge_id: int | None = None,
        anonymous: bool = False,
        terms_version: str | None = None,
    ) -> Idea:
        """`challenge_id`, `anonymous` and `terms_version` are checked by the programme service
        before this call (see cogs/ideas.py); they are stored as given."""
        draft = validate_draft(title, details, category)
        settings = await self.check_can_submit(guild_id, author_id)
        assert settings.ideas_channel_id is not None
        async with self.db.transaction() as conn:
            # Checked again in the transaction that inserts, so simultaneous submissions are
            # counted against each other (the check above only answers early).
            await self._check_author_limits(conn, settings, guild_id, author_id)
            idea = await idea_queries.insert_idea(
                conn,
                guild_id,
                author_id,
                draft,
                self.clock(),
                challenge_id=challenge_id,
                terms_version=terms_version,
                anonymous=anonymous,
            )
        try:
            card = await self.board.post_card(idea, settings.ideas_channel_id)
        except Exception as exc:
            # Never leave a half-written idea: without its card nobody can vote on it.
            async with self.db.transaction() as conn:
                await idea_queries.delete_unposted_idea(conn, idea.id)
            log.warning("posting the card for idea %s failed: %r", idea.id, exc)
            raise UserFacingError(
                _("Your idea could not be posted (Discord refused the card). Nothing was saved; please try again.")
            ) from exc
        submitted = IdeaSubmitted(guild_id, idea.id, author_id, idea.created_at)
        async with self.db.transaction() as conn:
            await idea_queries.attach_card(
                conn, idea.id, channel_id=card.channel_id, message_id=card.message_id, thread_id=card.thread_id
            )
            await self.events.record(conn, submitted)  # the idea counts as submitted once its card is attached
        idea.channel_id, idea.message_id, idea.thread_id = card.channel_id, card.message_id, card.thread_id
        self.board.card_posted(idea.id)
        await self.events.publish(submitted)
        return idea

    # --- the author's changes ------------------------------------------------------------

    async def _get_in(self, conn: Conn, guild_id: int, number: int) -> Idea:
        idea = await idea_queries.get_idea_by_number(conn, guild_id, number)
        if idea is None:
            raise NotFound(_("There is no idea #{number} in this server.").format(number=number))
        return idea

    async def _own_open_idea(
        self, guild_id: int, user_id: int, number: int, verb: str, conn: Conn | None = None
    ) -> Idea:
        idea = await self._get_in(conn or self.db.conn, guild_id, number)
        if idea.author_id != user_id:
            only = (
                _("Only the author of #{number} can edit it.")
                if verb == "edit"
                else _("Only the author of #{number} can withdraw it.")
            )
            raise Forbidden(only.format(number=number))
        if idea.status.closes_voting:
            raise UserFacingError(
                _("#{number} is {status} and can no longer be changed.").format(
                    number=number, status=idea.status.label.lower()
                )
            )
        return idea

    async def check_can_edit(self, guild_id: int, user_id: int, number: int) -> Idea:
        return await self._own_open_idea(guild_id, user_id, number, "edit")

    async def edit(self, guild_id: int, user_id: int, number: int, title: str, details: str) -> Idea:
        draft = validate_draft(title, details)
        async with self.db.transaction() as conn:
            # Checked where it is written, so an edit cannot land after a status that closed it.
            idea = await self._own_open_idea(guild_id, user_id, number, "edit", conn)
            if not await idea_queries.update_text(conn, idea, IdeaDraft(draft.title, draft.details), self.clock()):
                raise UserFacingError(
                    _("#{number} changed at the same moment: please try again.").format(number=number)
                )
        self.board.card_changed(idea.id)
        return await self.get(guild_id, number)

    async def withdraw(self, guild_id: int, user_id: int, number: int) -> Idea:
        now = self.clock()
        async with self.db.transaction() as conn:
            idea = await self._own_open_idea(guild_id, user_id, number, "withdraw", conn)
            if not await idea_queries.set_status(conn, idea, Status.WITHDRAWN, None, None, now):
                raise UserFacingError(
                    _("#{number} changed at the same moment: please look at it and try again.").format(number=number)
                )
        self.board.card_changed(idea.id)
        await self.events.publish(IdeaWithdrawn(guild_id, idea.id, idea.author_id, now))
        return await self.get(guild_id, number)

    # --- moderators --------------------------------------------------------------------

    async def setup(
        self,
        guild_id: int,
        moderator_id: int,
        *,
        ideas_channel_id: int,
        digest_channel_id: int,
        log_channel_id: int | None,
        moderator_role_id: int | None,
        language: str | None = None,
    ) -> GuildSettings:
        now = self.clock()
        async with self.db.transaction() as conn:
            await guild_queries.save_channels(
                conn,
                guild_id,
                ideas_channel_id=ideas_channel_id,
                digest_channel_id=digest_channel_id,
                log_channel_id=log_channel_id,
                moderator_role_id=moderator_role_id,
                language=language,
                now=now,
            )
            await moderation_queries.record_action(conn, guild_id, moderator_id, "setup", now)
        return await self.settings(guild_id)

    async def set_submission_limits(
        self, guild_id: int, moderator_id: int, cooldown_seconds: int, daily_quota: int
    ) -> GuildSettings:
        if cooldown_seconds < 0 or daily_quota < 0:
            raise UserFacingError(_("Limits cannot be negative."))
        now = self.clock()
        async with self.db.transaction() as conn:
            await guild_queries.save_submission_limits(
                conn, guild_id, cooldown_seconds=cooldown_seconds, daily_quota=daily_quota, now=now
            )
            details = f"cooldown {cooldown_seconds}s, quota {daily_quota}/day"
            await moderation_queries.record_action(conn, guild_id, moderator_id, "limits", now, None, details)
        return await self.settings(guild_id)

    async def set_status(
        self, guild_id: int, moderator_id: int | None, number: int, status: Status, reason: str | None
    ) -> StatusChange:
        reason = validate_reason(status, reason)
        now = self.clock()
        # The checks read the idea inside the write transaction, and the write is a
        # compare-and-set on what they read: of two identical commands at once, one changes
        # the idea and the other is told it already has that status.
        async with self.db.transaction() as conn:
            idea = await self._get_in(conn, guild_id, number)
            if idea.status is Status.WITHDRAWN:
                raise UserFacingError(_("#{number} was withdrawn by its author.").format(number=number))
            if idea.status is status and idea.status_reason == reason:
                raise UserFacingError(
                    _("#{number} is already {status}.").format(number=number, status=status.label.lower())
                )
            if status is Status.DUPLICATE:
                raise UserFacingError(_("To mark a duplicate, use /ideamod merge so votes move to the original."))
            if not await idea_queries.set_status(conn, idea, status, reason, moderator_id, now):
                raise UserFacingError(
                    _("#{number} changed at the same moment: please look at it and try again.").format(number=number)
                )
            if moderator_id is not None:
                await moderation_queries.record_action(
                    conn, guild_id, moderator_id, f"status:{status.value}", now, idea.id, reason
                )
            changed = IdeaStatusChanged(
                guild_id, idea.id, idea.author_id, idea.status, status, reason, moderator_id, now
            )
            await self.events.record(conn, changed)
        self.board.card_changed(idea.id)
        await self.events.publish(changed)
        return StatusChange(await self.get(guild_id, number), idea.status, reason)

    async def merge(
        self, guild_id: int, moderator_id: int, source_number: int, target_number: int
    ) -> tuple[Idea, Idea]:
        """Mark `source` a duplicate of `target` and move its votes without double counting."""
        if source_number == target_number:
            raise UserFacingError(_("An idea cannot be merged into itself."))
        now = self.clock()
        moved: list[MovedVote] = []
        reason = merged_reason(target_number)
        async with self.db.transaction() as conn:
            # Both ideas are read and checked in the write transaction, and both writes are
            # compare-and-set on what was read: two merges at once cannot chain into a cycle or
            # move one idea's votes twice.
            source = await self._get_in(conn, guild_id, source_number)
            target = await self._get_in(conn, guild_id, target_number)
            for idea in (source, target):
                if idea.status is Status.DUPLICATE:
                    raise UserFacingError(
                        _("#{number} is already merged into another idea and cannot be merged.").format(
                            number=idea.number
                        )
                    )
                if idea.status is Status.WITHDRAWN:
                    raise UserFacingError(_("#{number} is withdrawn and cannot be merged.").format(number=idea.number))
            if not await idea_queries.confirm_status(conn, target):
                raise UserFacingError(
                    _("#{number} changed at the same moment: please try again.").format(number=target.number)
                )
            source_votes = await vote_queries.votes_on(conn, source.id)
            target_votes = await vote_queries.votes_on(conn, target.id)
            for voter_id, (value, joined_at) in sorted(source_votes.items()):
                await vote_queries.put_vote(conn, source.id, voter_id, value, None, joined_at, now)
                # A target closed to votes takes none, from any path.
                keep = voter_id not in target_votes and voter_id != target.author_id and not target.voting_closed
                if keep:
                    await vote_queries.put_vote(
                        conn, target.id, voter_id, None, value, joined_at, now, reaction_backed=False
                    )
                moved.append(MovedVote(voter_id, value, keep, joined_at))
            if not await idea_queries.set_status(conn, source, Status.DUPLICATE, reason, moderator_id, now, target.id):
                raise UserFacingError(
                    _("#{number} changed at the same moment: please try again.").format(number=source.number)
                )
            # Both authors are credited on the surviving idea; an anonymous one stays anonymous there.
            for author in (source.author_id, *source.coauthor_ids):
                if author != target.author_id:
                    await idea_queries.add_coauthor(
                        conn, target.id, author, anonymous=coauthor_link_is_anonymous(source, author)
                    )
            await moderation_queries.record_action(
                conn, guild_id, moderator_id, "merge", now, source.id, f"into #{target.number}"
            )
            merged = IdeasMerged(
                guild_id, source.id, target.id, source.author_id, target.author_id, tuple(moved), moderator_id, now
            )
            await rep_queries.owe_merge_credit(conn, merged)  # the moved votes' credit, owed from this commit
            duplicate = IdeaStatusChanged(
                guild_id, source.id, source.author_id, source.status, Status.DUPLICATE, reason, moderator_id, now
            )
            await self.events.record(conn, duplicate)
            await self.events.record(conn, merged)
        self.board.card_changed(source.id)
        self.board.card_changed(target.id)
        await self.events.publish(duplicate)
        await self.events.publish(merged)
        return await self.get(guild_id, source_number), await self.get(guild_id, target_number)

    async def set_blocked(self, guild_id: int, moderator_id: int, member_id: int, blocked: bool) -> bool:
        """Returns False when nothing changed (already blocked / not blocked)."""
        now = self.clock()
        async with self.db.transaction() as conn:
            if blocked:
                changed = await moderation_queries.block(conn, guild_id, member_id, moderator_id, now)
            else:
                changed = await moderation_queries.unblock(conn, guild_id, member_id)
            if changed:
                action = "block" if blocked else "unblock"
                await moderation_queries.record_action(conn, guild_id, moderator_id, action, now, None, str(member_id))
        return changed

    async def audience(self, idea: Idea, limit: int, status: Status | None = None) -> list[int]:
        """Who hears about a decision: the author, co-authors, then supporters. Supporters hear
        about each status of an idea once: flipping it back and forth must not turn the bot into
        a mass-DM channel for whoever holds the moderator role (the thread still shows it)."""
        people = [idea.author_id, *idea.coauthor_ids]
        if status is not None:
            reached = await idea_queries.times_set_to(self.db.conn, idea.id, status)
            if reached > 1 or (status is Status.OPEN and reached > 0):  # ideas start open
                return people[:limit] if limit else people
        for voter in await vote_queries.supporters(self.db.conn, idea.id, limit):
            if voter not in people:
                people.append(voter)
        return people[:limit] if limit else people
