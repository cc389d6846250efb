"""Innovation programmes: support thresholds (escalation to review, expiry), challenges with
deadlines and winners, contribution terms and consent, archiving, anonymous submission.

Time comes in from the caller (`tick(now)`) or the injected clock, so tests drive it."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bot.community import blocks as moderation_queries
from bot.community import guilds as guild_queries
from bot.core.errors import NotFound, UserFacingError
from bot.core.ports import IdeaBoard
from bot.core.shards import EVERY_GUILD
from bot.events.bus import Clock, EventBus, system_clock
from bot.events.types import IdeasMerged, IdeaStatusChanged, StageReached, VoteChanged
from bot.i18n import _
from bot.ideas import storage as idea_queries
from bot.ideas.ranking import Rankable
from bot.ideas.rules import Idea, IdeaDraft, Status
from bot.ideas.service import IdeaService
from bot.ideas.storage import HeldDraft
from bot.programmes import storage as queries
from bot.programmes.rules import (
    DEFAULT_ARCHIVE_DAYS,
    DEFAULT_STAGES,
    TRACKED_STATUSES,
    Stage,
    format_stages,
    has_expired,
    next_stage,
    parse_stages,
    pick_winners,
    should_archive,
    stages_reached,
    stored_stages,
    validate_archive_days,
    validate_challenge,
    validate_terms,
    win_points,
)
from bot.programmes.storage import Challenge, TrackedIdea, Winner
from bot.storage import Database

log = logging.getLogger(__name__)

# Entries that can never win a challenge.
NOT_COMPETING = (Status.WITHDRAWN, Status.DUPLICATE, Status.DECLINED)
QUEUE_LIMIT = 20
PENDING_DRAFT_TTL = timedelta(days=1)
DRAFT_GATE = "terms"


@dataclass(frozen=True, slots=True)
class ProgrammeSettings:
    guild_id: int
    stages: tuple[Stage, ...] = DEFAULT_STAGES
    archive_days: int = DEFAULT_ARCHIVE_DAYS
    allow_anonymous: bool = False
    terms_text: str | None = None
    terms_version: str | None = None


@dataclass(frozen=True, slots=True)
class Terms:
    text: str
    version: str


@dataclass(frozen=True, slots=True)
class QueueEntry:
    idea: Idea
    stage: int


@dataclass(frozen=True, slots=True)
class ChallengeResult:
    challenge: Challenge
    winners: list[tuple[Winner, Idea]]
    entries: int


@dataclass(slots=True)
class TickReport:
    crossings: int = 0
    expired: list[int] = field(default_factory=list)  # idea ids
    archived: list[int] = field(default_factory=list)
    closed_challenges: list[int] = field(default_factory=list)  # challenge ids


class ProgrammeAnnouncer(Protocol):
    """What the programme says in Discord (implemented in cogs/programmes.py)."""

    async def stage_reached(self, idea: Idea, stage: Stage, upcoming: Stage | None) -> None: ...

    async def idea_expired(self, idea: Idea, missed: Stage) -> None: ...

    async def challenge_opened(self, challenge: Challenge, channel_id: int) -> None: ...

    async def challenge_closed(self, result: ChallengeResult, channel_id: int) -> None: ...


class SilentAnnouncer:
    """For services used without Discord (service tests, exports)."""

    async def stage_reached(self, idea: Idea, stage: Stage, upcoming: Stage | None) -> None:
        return None

    async def idea_expired(self, idea: Idea, missed: Stage) -> None:
        return None

    async def challenge_opened(self, challenge: Challenge, channel_id: int) -> None:
        return None

    async def challenge_closed(self, result: ChallengeResult, channel_id: int) -> None:
        return None


class Awarder(Protocol):
    """Where challenge winners get their points (the reputation service)."""

    async def award(
        self, guild_id: int, user_id: int, points: int, reason: str, *, source: str, idea_id: int | None = None
    ) -> None: ...


class ProgrammeService:
    def __init__(
        self,
        db: Database,
        ideas: IdeaService,
        board: IdeaBoard,
        events: EventBus,
        clock: Clock = system_clock,
        announcer: ProgrammeAnnouncer | None = None,
        reputation: Awarder | None = None,
    ) -> None:
        self.db = db
        self.ideas = ideas
        self.board = board
        self.events = events
        self.clock = clock
        self.announcer: ProgrammeAnnouncer = announcer or SilentAnnouncer()
        self.reputation = reputation
        self.shards = EVERY_GUILD  # the guilds whose jobs this process runs (bot/app.py sets it)
        self._tick_lock = asyncio.Lock()
        # Support stages per guild: cached, replaced when a moderator changes them.
        self._stages: dict[int, tuple[Stage, ...]] = {}
        # Ideas seen voting since the last tick: [upvotes, as followed from the vote events; the
        # upvotes its next stage needs, 0 when it is off the track]. Votes below the next stage
        # cost no query; reaching it triggers the authoritative check against the database. Any
        # drift (e.g. a merge moved votes) is corrected by the tick, which also empties this.
        self._watch: dict[int, list[int]] = {}

    def subscribe(self) -> None:
        self.events.subscribe_batch(VoteChanged, self.on_votes_changed)
        self.events.subscribe(IdeaStatusChanged, self.on_status_changed)
        self.events.subscribe(IdeasMerged, self.on_merged)

    # --- settings --------------------------------------------------------------------------

    async def settings(self, guild_id: int) -> ProgrammeSettings:
        row = await queries.get_settings(self.db.conn, guild_id)
        stages, readable = stored_stages(row.stages)
        if not readable:
            log.warning("guild %s has unreadable stages %r; using the defaults", guild_id, row.stages)
        return ProgrammeSettings(
            guild_id,
            stages,
            row.archive_days or DEFAULT_ARCHIVE_DAYS,
            row.allow_anonymous,
            row.terms_text,
            row.terms_version,
        )

    async def set_stages(self, guild_id: int, moderator_id: int, text: str) -> tuple[Stage, ...]:
        stages = parse_stages(text)
        now = self.clock()
        async with self.db.transaction() as conn:
            await queries.save_stages(conn, guild_id, format_stages(stages), now)
            await moderation_queries.record_action(
                conn, guild_id, moderator_id, "thresholds", now, None, format_stages(stages)
            )
        self._stages[guild_id] = stages
        self._watch.clear()
        return stages

    async def set_archive_days(self, guild_id: int, moderator_id: int, days: int) -> int:
        days = validate_archive_days(days)
        now = self.clock()
        async with self.db.transaction() as conn:
            await queries.save_archive_days(conn, guild_id, days, now)
            await moderation_queries.record_action(conn, guild_id, moderator_id, "archive_days", now, None, str(days))
        return days

    async def set_anonymous(self, guild_id: int, moderator_id: int, allow: bool) -> bool:
        """Returns False when nothing changed."""
        now = self.clock()
        async with self.db.transaction() as conn:
            # Read where it is written: of two identical commands at once, one changes it.
            if (await queries.get_settings(conn, guild_id)).allow_anonymous == allow:
                return False
            await queries.save_allow_anonymous(conn, guild_id, allow, now)
            await moderation_queries.record_action(
                conn, guild_id, moderator_id, "anonymous", now, None, "allowed" if allow else "not allowed"
            )
        return True

    # --- contribution terms -----------------------------------------------------------------

    async def terms(self, guild_id: int) -> Terms | None:
        settings = await self.settings(guild_id)
        if settings.terms_text is None or settings.terms_version is None:
            return None
        return Terms(settings.terms_text, settings.terms_version)

    async def set_terms(self, guild_id: int, moderator_id: int, text: str, version: str) -> Terms:
        text, version = validate_terms(text, version)
        now = self.clock()
        async with self.db.transaction() as conn:
            # Checked where it is written, so two texts sent at once under one version cannot
            # both be saved (members would have accepted a text that was then replaced).
            current = await queries.get_settings(conn, guild_id)
            if current.terms_version == version:
                if current.terms_text == text:
                    raise UserFacingError(
                        _("These terms are already in force as version {version}.").format(version=version)
                    )
                raise UserFacingError(
                    _(
                        "Members accepted version {version} as it was. Changed terms need a new version, so members "
                        "accept them again."
                    ).format(version=version)
                )
            await queries.save_terms(conn, guild_id, text, version, now)
            await moderation_queries.record_action(conn, guild_id, moderator_id, "terms", now, None, version)
        return Terms(text, version)

    async def terms_to_accept(self, guild_id: int, user_id: int) -> Terms | None:
        """The terms the member still has to accept before submitting, or None."""
        terms = await self.terms(guild_id)
        if terms is None or await queries.has_consented(self.db.conn, guild_id, user_id, terms.version):
            return None
        return terms

    async def hold_draft(
        self, guild_id: int, user_id: int, version: str, draft: IdeaDraft, options: dict[str, Any]
    ) -> str:
        """Keep a submission waiting for consent (survives a restart); returns its id. A newer
        submission of the same member replaces the one waiting."""
        async with self.db.transaction() as conn:
            return await idea_queries.hold_draft(
                conn,
                DRAFT_GATE,
                guild_id,
                user_id,
                draft,
                options,
                self.clock(),
                terms_version=version,
                replace_authors_earlier=True,
            )

    async def accept_held_draft(self, draft_id: str, user_id: int) -> HeldDraft:
        """The member clicked "I accept": record consent to the draft's version, hand the draft back.
        The draft is taken in the same transaction that checks it, so of two clicks at once only
        one gets it (and posts the idea)."""
        async with self.db.transaction() as conn:
            draft = await idea_queries.held_draft(conn, draft_id, DRAFT_GATE)
            if draft is not None and draft.author_id != user_id:
                raise UserFacingError(_("Only the member who submitted this idea can accept the terms for it."))
            released = draft is not None and await idea_queries.release_held_draft(conn, draft_id)
            if draft is None or draft.terms_version is None or not released:
                raise UserFacingError(
                    _(
                        "This submission is no longer waiting: it was already accepted (or replaced by a newer "
                        "one). Run /idea submit to send another idea."
                    )
                )
            await queries.record_consent(conn, draft.guild_id, user_id, draft.terms_version, self.clock())
        return draft

    # --- submission options ---------------------------------------------------------------------

    async def open_challenge_id(self, guild_id: int, number: int) -> int:
        """The challenge an idea may be submitted to: it exists and is still open."""
        challenge = await queries.get_challenge(self.db.conn, guild_id, number)
        if challenge is None:
            raise NotFound(
                _("There is no challenge #{number} in this server. See /challenge list.").format(number=number)
            )
        self._check_open(challenge)
        return challenge.id

    async def check_challenge_open(self, challenge_id: int) -> None:
        challenge = await queries.get_challenge_by_id(self.db.conn, challenge_id)
        if challenge is None:
            raise NotFound(_("That challenge no longer exists."))
        self._check_open(challenge)

    def _check_open(self, challenge: Challenge) -> None:
        if challenge.is_closed or self.clock() >= challenge.deadline:
            raise UserFacingError(
                _("Challenge #{number} is closed: it no longer takes ideas.").format(number=challenge.number)
            )

    async def check_anonymous_allowed(self, guild_id: int) -> None:
        if not (await self.settings(guild_id)).allow_anonymous:
            raise UserFacingError(_("This server does not allow anonymous ideas."))

    async def submission_options(self, guild_id: int, challenge: int | None, anonymous: bool) -> dict[str, Any]:
        """Validate the programme options of /idea submit; the result goes into PendingSubmission.options."""
        options: dict[str, Any] = {}
        if challenge is not None:
            options["challenge_id"] = await self.open_challenge_id(guild_id, challenge)
        if anonymous:
            await self.check_anonymous_allowed(guild_id)
            options["anonymous"] = True
        return options

    # --- support thresholds ------------------------------------------------------------------

    async def on_votes_changed(self, events: list[VoteChanged]) -> None:
        """Check each idea whose votes may have reached a stage once per batch. The check reads
        the idea's upvotes from the database, which already count the whole batch, so checking
        again after a later event of the same batch could find nothing more."""
        due: dict[int, datetime] = {}  # idea -> the moment of the first event that calls for a check
        for event in events:
            if event.idea_id in due:
                continue
            watched = self._watch.get(event.idea_id)
            if watched is not None:
                watched[0] += (event.new_value == 1) - (event.old_value == 1)
                if watched[1] == 0 or watched[0] < watched[1]:
                    continue
            elif event.new_value != 1:
                continue  # only a new upvote can reach a stage
            due[event.idea_id] = event.at
        for idea_id, at in due.items():
            try:
                await self.check_support(idea_id, at)
            except Exception:
                log.exception("checking the support stages of idea %s failed; the tick tries again", idea_id)

    async def on_merged(self, event: IdeasMerged) -> None:
        # Votes moved without vote events: look at both again.
        self._watch.pop(event.source_id, None)
        self._watch.pop(event.target_id, None)

    async def on_status_changed(self, event: IdeaStatusChanged) -> None:
        """A moderator's decision is activity: an expired or archived idea comes back."""
        self._watch.pop(event.idea_id, None)
        if event.moderator_id is None:
            return
        idea = await self.ideas.get_by_id(event.idea_id)
        if idea is None or (idea.expired_at is None and idea.archived_at is None):
            return
        async with self.db.transaction() as conn:
            await queries.reopen(conn, idea.id, event.at, restart_window=True)
        self.board.card_changed(idea.id)

    async def check_support(self, idea_id: int, at: datetime) -> list[Stage]:
        """Record the stages the idea's upvotes reach at `at`; the first moves it to review."""
        tracked = await queries.tracked_idea(self.db.conn, idea_id)
        if tracked is None:
            return []
        guild_id = tracked.idea.guild_id
        if guild_id not in self._stages:
            self._stages[guild_id] = (await self.settings(guild_id)).stages
        stages = self._stages[guild_id]
        crossed = await self._climb(tracked, stages, at) if self._on_track(tracked) else []
        upcoming = next_stage(stages, crossed[-1].number if crossed else tracked.stage)
        on_track = self._on_track(tracked) and upcoming is not None
        self._watch[idea_id] = [tracked.idea.upvotes, upcoming.votes if on_track and upcoming else 0]
        return crossed

    @staticmethod
    def _on_track(tracked: TrackedIdea) -> bool:
        idea = tracked.idea
        return idea.status in TRACKED_STATUSES and idea.archived_at is None and idea.expired_at is None

    async def _climb(self, tracked: TrackedIdea, stages: tuple[Stage, ...], at: datetime) -> list[Stage]:
        idea = tracked.idea
        reached = stages_reached(stages, tracked.stage, idea.upvotes, tracked.window_start, at)
        if not reached:
            return []
        async with self.db.transaction() as conn:
            new = [
                s
                for s in reached
                if await queries.record_crossing(conn, idea.guild_id, idea.id, s.number, idea.upvotes, at)
            ]
            if new:
                top = new[-1]
                await self.events.record(
                    conn, StageReached(idea.guild_id, idea.id, top.number, top.votes, top.days, at)
                )
        if not new:
            return []
        await self._act_on_crossing(idea, new[-1], stages)
        return new

    async def _act_on_crossing(self, idea: Idea, top: Stage, stages: tuple[Stage, ...]) -> None:
        """Move an open idea to review and announce the stage, then mark the crossing done
        (finish_crossings repeats whatever a crash cut short: both steps are idempotent)."""
        if idea.status is Status.OPEN:
            reason = f"Reached {top.votes} 👍 within {top.days} days: stage {top.number} of the support thresholds."
            try:
                await self.ideas.set_status(idea.guild_id, None, idea.number, Status.UNDER_REVIEW, reason)
            except UserFacingError as exc:
                log.info("idea %s reached stage %s but its status stays: %s", idea.id, top.number, exc)
        fresh = await self.ideas.get_by_id(idea.id) or idea
        try:
            await self.announcer.stage_reached(fresh, top, next_stage(stages, top.number))
        except Exception:
            log.exception("announcing stage %s of idea %s failed", top.number, idea.id)
        await self.events.publish(StageReached(idea.guild_id, idea.id, top.number, top.votes, top.days, self.clock()))
        async with self.db.transaction() as conn:
            await queries.mark_announced(conn, idea.id, self.clock())

    async def finish_crossings(self) -> None:
        """Start-up repair: crossings recorded before a crash but not acted on and announced."""
        for idea_id, number in await queries.unannounced_crossings(self.db.conn):
            idea = await self.ideas.get_by_id(idea_id)
            if idea is not None and not self.shards.owns(idea.guild_id):
                continue
            stages = (await self.settings(idea.guild_id)).stages if idea is not None else ()
            top = next((stage for stage in stages if stage.number == number), None)
            if idea is not None and top is not None:
                await self._act_on_crossing(idea, top, stages)
            else:
                async with self.db.transaction() as conn:
                    await queries.mark_announced(conn, idea_id, self.clock())

    async def review_queue(self, guild_id: int, limit: int = QUEUE_LIMIT) -> list[QueueEntry]:
        return [QueueEntry(t.idea, t.stage) for t in await queries.review_queue(self.db.conn, guild_id, limit)]

    async def revive(self, guild_id: int, moderator_id: int, number: int) -> Idea:
        """Undo expiry or archiving; the support deadlines count again from now."""
        idea = await self.ideas.get(guild_id, number)
        nothing = _("#{number} is neither expired nor archived: there is nothing to revive.").format(number=number)
        if idea.expired_at is None and idea.archived_at is None:
            raise UserFacingError(nothing)
        now = self.clock()
        async with self.db.transaction() as conn:
            # Compare-and-set: of two revives at once, the second finds nothing to reopen.
            if not await queries.reopen(conn, idea.id, now, restart_window=True):
                raise UserFacingError(nothing)
            await moderation_queries.record_action(conn, guild_id, moderator_id, "revive", now, idea.id, None)
        self._watch.pop(idea.id, None)
        self.board.card_changed(idea.id)
        return await self.ideas.get(guild_id, number)

    # --- the periodic job ------------------------------------------------------------------------

    async def tick(self, now: datetime | None = None) -> TickReport:
        """Everything time-driven: late crossings, expiry, archiving, challenge deadlines."""
        async with self._tick_lock:
            return await self._tick(now or self.clock())

    async def _tick(self, now: datetime) -> TickReport:
        report = TickReport()
        for guild_id in await queries.guilds_with_ideas(self.db.conn):
            if not self.shards.owns(guild_id):
                continue
            try:
                await self._tick_guild(guild_id, now, report)
            except Exception:
                log.exception("programme job failed for guild %s", guild_id)
        for challenge in await queries.due_challenges(self.db.conn, now):
            if not self.shards.owns(challenge.guild_id):
                continue
            try:
                result = await self._close(challenge, None, now)
            except Exception:
                log.exception("closing challenge %s failed", challenge.id)
                continue
            if result is not None:
                report.closed_challenges.append(challenge.id)
        async with self.db.transaction() as conn:
            await idea_queries.purge_held_drafts(conn, DRAFT_GATE, now - PENDING_DRAFT_TTL)
        self._watch.clear()
        return report

    async def _tick_guild(self, guild_id: int, now: datetime, report: TickReport) -> None:
        settings = await self.settings(guild_id)
        for tracked in await queries.ideas_on_the_track(self.db.conn, guild_id, tuple(TRACKED_STATUSES)):
            # A crossing the vote handler missed (e.g. it failed) is caught here while still in time.
            crossed = await self._climb(tracked, settings.stages, now)
            report.crossings += len(crossed)
            stage = crossed[-1].number if crossed else tracked.stage
            if has_expired(settings.stages, stage, tracked.window_start, now):
                missed = next_stage(settings.stages, stage)
                assert missed is not None
                async with self.db.transaction() as conn:
                    # Judged again where it is written: a decision, a revive or a stage reached
                    # since the list was read keeps the idea.
                    fresh = await queries.tracked_idea(conn, tracked.idea.id)
                    expire = (
                        fresh is not None
                        and self._on_track(fresh)
                        and has_expired(settings.stages, fresh.stage, fresh.window_start, now)
                        and await queries.mark_expired(conn, fresh, tuple(TRACKED_STATUSES), now)
                    )
                if not expire:
                    continue
                self.board.card_changed(tracked.idea.id)
                report.expired.append(tracked.idea.id)
                idea = await self.ideas.get_by_id(tracked.idea.id) or tracked.idea
                try:
                    await self.announcer.idea_expired(idea, missed)
                except Exception:
                    log.exception("announcing the expiry of idea %s failed", idea.id)
        inactive_since = now - timedelta(days=settings.archive_days)
        for idea in await queries.archive_candidates(self.db.conn, guild_id, tuple(TRACKED_STATUSES), inactive_since):
            if not should_archive(idea.last_activity_at, now, settings.archive_days):
                continue
            async with self.db.transaction() as conn:
                archived = await queries.mark_archived(conn, idea.id, tuple(TRACKED_STATUSES), inactive_since, now)
            if not archived:
                continue
            self.board.card_changed(idea.id)
            report.archived.append(idea.id)

    async def archived_between(self, guild_id: int, since: datetime, until: datetime) -> list[Idea]:
        return await queries.archived_between(self.db.conn, guild_id, since, until)

    async def crossings_between(
        self, guild_id: int, since: datetime, until: datetime
    ) -> list[tuple[int, int, int, datetime]]:
        return await queries.crossings_between(self.db.conn, guild_id, since, until)

    # --- challenges ------------------------------------------------------------------------------

    async def open_challenge(
        self, guild_id: int, moderator_id: int, title: str, brief: str, deadline: str, award: str | None = None
    ) -> Challenge:
        now = self.clock()
        draft = validate_challenge(title, brief, award, deadline, now)
        guild = await guild_queries.get_guild_settings(self.db.conn, guild_id)
        if guild.ideas_channel_id is None:
            raise UserFacingError(_("Ideas are not set up here yet: a moderator needs to run /ideamod setup."))
        async with self.db.transaction() as conn:
            challenge = await queries.insert_challenge(
                conn, guild_id, draft.title, draft.brief, draft.award, draft.deadline, moderator_id, now
            )
            await moderation_queries.record_action(
                conn, guild_id, moderator_id, "challenge:open", now, None, f"#{challenge.number}"
            )
        try:
            await self.announcer.challenge_opened(challenge, guild.ideas_channel_id)
        except Exception:
            log.exception("announcing challenge %s failed", challenge.id)
        return challenge

    async def list_challenges(self, guild_id: int) -> list[Challenge]:
        return await queries.list_challenges(self.db.conn, guild_id)

    async def get_challenge(self, guild_id: int, number: int) -> Challenge:
        challenge = await queries.get_challenge(self.db.conn, guild_id, number)
        if challenge is None:
            raise NotFound(
                _("There is no challenge #{number} in this server. See /challenge list.").format(number=number)
            )
        return challenge

    async def close_challenge(self, guild_id: int, moderator_id: int, number: int) -> ChallengeResult:
        challenge = await self.get_challenge(guild_id, number)
        if challenge.is_closed:
            raise UserFacingError(_("Challenge #{number} is already closed.").format(number=number))
        now = self.clock()
        if now < challenge.deadline:
            when = challenge.deadline.strftime("%Y-%m-%d %H:%M UTC")
            raise UserFacingError(
                _(
                    "Challenge #{number} runs until {when}: it can be closed on or after its deadline (it also "
                    "closes by itself then)."
                ).format(number=number, when=when)
            )
        result = await self._close(challenge, moderator_id, now)
        if result is None:
            raise UserFacingError(_("Challenge #{number} is already closed.").format(number=number))
        return result

    async def _close(self, challenge: Challenge, closed_by: int | None, now: datetime) -> ChallengeResult | None:
        """Close once, pick the winners by the Wilson lower bound, reward and announce them."""
        entries = await queries.challenge_entries(self.db.conn, challenge.id, NOT_COMPETING)
        by_id = {idea.id: idea for idea in entries}
        picked = pick_winners([Rankable(i.id, i.upvotes, i.downvotes, i.created_at) for i in entries])
        winners = [
            Winner(challenge.id, place, item.key, by_id[item.key].author_id, win_points(place))
            for place, item in enumerate(picked, start=1)
        ]
        async with self.db.transaction() as conn:
            if not await queries.close_challenge(conn, challenge.id, closed_by, now):
                return None
            for winner in winners:
                await queries.record_winner(conn, winner, now)
            if closed_by is not None:
                await moderation_queries.record_action(
                    conn, challenge.guild_id, closed_by, "challenge:close", now, None, f"#{challenge.number}"
                )
        closed = await queries.get_challenge_by_id(self.db.conn, challenge.id) or challenge
        result = ChallengeResult(closed, [(w, by_id[w.idea_id]) for w in winners], len(entries))
        await self._reward(result)
        guild = await guild_queries.get_guild_settings(self.db.conn, challenge.guild_id)
        if guild.ideas_channel_id is not None:
            try:
                await self.announcer.challenge_closed(result, guild.ideas_channel_id)
            except Exception:
                log.exception("announcing the close of challenge %s failed", challenge.id)
        return result

    async def _reward(self, result: ChallengeResult) -> None:
        reputation = self.reputation
        if reputation is None:
            log.info("no reputation service: challenge %s winners recorded without points", result.challenge.id)
            return
        for winner, idea in result.winners:
            reason = f"Place {winner.place} in challenge #{result.challenge.number}: {result.challenge.title}"
            # The real author is credited even when the idea was submitted anonymously.
            for user_id in dict.fromkeys([idea.author_id, *idea.coauthor_ids]):
                try:
                    await reputation.award(
                        idea.guild_id, user_id, winner.points, reason, source="challenge_win", idea_id=idea.id
                    )
                except Exception:
                    log.exception(
                        "awarding %s points to %s for challenge %s failed", winner.points, user_id, winner.challenge_id
                    )

    async def winners(self, challenge_id: int) -> list[Winner]:
        return await queries.winners_of(self.db.conn, challenge_id)
