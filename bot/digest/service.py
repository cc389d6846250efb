"""The weekly digest use cases: build it from the database, post it exactly once per guild and
ISO week, and decide (purely, from a given time) whether it is due.

Themes come from shared keywords, or from the ideas' embeddings (grouped by meaning) when an
embedding model is configured; a chat model adds its own themes and a summary, within a time
budget. On any failure the step before is kept and the digest says so in one line. Nothing
here builds an embed: posting goes through a `DigestPublisher` the Discord layer provides."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol

from bot.community import guilds as guild_queries
from bot.community import names_storage as name_queries
from bot.community.names import NameBook
from bot.core.errors import UserFacingError
from bot.core.shards import EVERY_GUILD
from bot.digest import storage as queries
from bot.digest.rules import (
    LIST_LIMIT,
    Digest,
    DigestSchedule,
    IsoWeek,
    Period,
    Theme,
    crossing_line,
    dated_note,
    default_week,
    digest_due,
    fill_days,
    parse_schedule,
    parse_week_choice,
    top_new_ideas,
    trending_ideas,
    waiting_note,
)
from bot.digest.themes import meaning_themes
from bot.events.bus import Clock, EventBus, system_clock
from bot.events.types import DigestPosted
from bot.i18n import SOURCE, _, use
from bot.llm.client import LLMBadOutput, LLMClient, LLMError
from bot.llm.synthesis import IdeaForPrompt, from_stored, ideas_key, synthesise, to_stored
from bot.programmes.rules import Stage, stored_stages
from bot.search import storage as search_queries
from bot.search.dense import normalised
from bot.search.duplicates import text_hash
from bot.search.similarity import idea_text, keyword_themes
from bot.storage import Database

log = logging.getLogger(__name__)

THEME_IDEAS_MAX = 200


def fallback_note(why: str, by_meaning: bool) -> str:
    groups = _("groups by meaning") if by_meaning else _("keyword groups")
    return _("AI themes were unavailable this week ({why}); themes below are {groups}.").format(why=why, groups=groups)


def unusable() -> str:
    return _("the AI answer was unusable")


Progress = Callable[[str], None]


# A claim still 'posting' after this long belongs to a run that died (a post takes seconds):
# the hourly sweep takes it over. At start-up every such claim is taken over at once.
CLAIM_LEASE = timedelta(minutes=5)


class DigestPublisher(Protocol):
    async def publish(self, digest: Digest, channel_id: int) -> int:
        """Send the digest to the channel; returns the id of the first message. Messages of
        this digest already in the channel (sent by a run that died before recording them)
        are not sent again."""
        ...


@dataclass(frozen=True, slots=True)
class PostResult:
    guild_id: int
    week: IsoWeek
    status: str  # posted | already | no_channel | preview (the week so far, not recorded)
    message_id: int | None = None
    channel_id: int | None = None
    digest: Digest | None = None


class DigestService:
    def __init__(
        self,
        db: Database,
        clock: Clock = system_clock,
        llm: LLMClient | None = None,
        publisher: DigestPublisher | None = None,
        *,
        llm_budget_seconds: float = 45.0,
        events: EventBus | None = None,
        language_of: Callable[[int], Awaitable[str]] | None = None,
    ) -> None:
        self.db = db
        # A posted digest is public: built and rendered in the guild's language.
        self.language_of = language_of
        self.clock = clock
        self.llm = llm
        self.shards = EVERY_GUILD  # the guilds whose digests this process posts (bot/app.py sets it)
        self.publisher = publisher
        self.llm_budget_seconds = llm_budget_seconds
        self._post_lock = asyncio.Lock()
        self.events = events
        self.names = NameBook(db, clock)

    # --- settings ----------------------------------------------------------------------------------

    async def schedule(self, guild_id: int) -> DigestSchedule:
        return await queries.get_schedule(self.db.conn, guild_id)

    async def set_schedule(self, guild_id: int, weekday: str | int, hour: int, timezone: str) -> DigestSchedule:
        day, hour, tz = parse_schedule(weekday, hour, timezone)
        async with self.db.transaction() as conn:
            await queries.save_schedule(conn, guild_id, day, hour, tz, self.clock())
        return await self.schedule(guild_id)

    async def set_waiting_days(self, guild_id: int, waiting_days: int) -> DigestSchedule:
        """How long an idea may wait for an answer before the digest lists it. (Support thresholds
        are the programme's stages: `/ideamod thresholds`, bot/programmes/service.py.)"""
        if not 1 <= waiting_days <= 365:
            raise UserFacingError(_("Waiting days must be 1-365."))
        async with self.db.transaction() as conn:
            await queries.save_waiting_days(conn, guild_id, waiting_days, self.clock())
        return await self.schedule(guild_id)

    async def _stages(self, guild_id: int) -> tuple[Stage, ...]:
        text = await queries.programme_stages(self.db.conn, guild_id)
        stages, readable = stored_stages(text)
        if not readable:
            log.warning("guild %s has unreadable stages %r; describing the defaults", guild_id, text)
        return stages

    async def guilds(self) -> list[tuple[int, int, DigestSchedule]]:
        """(guild, digest channel, schedule) of the guilds with a digest channel that this process owns."""
        return [row for row in await queries.digest_guilds(self.db.conn) if self.shards.owns(row[0])]

    async def choose_week(self, guild_id: int, choice: str | None) -> tuple[IsoWeek, bool]:
        """`/digest ... week` in the guild's time zone: (week, whether it is still running)."""
        schedule = await self.schedule(guild_id)
        return parse_week_choice(choice, self.clock(), schedule.timezone)

    # --- building ------------------------------------------------------------------------------------

    async def build(
        self, guild_id: int, week: IsoWeek | None = None, *, use_llm: bool = True, progress: Progress | None = None
    ) -> Digest:
        """The digest of `week` (default: the last complete week in the guild's time zone)."""
        step = progress or (lambda _: None)
        schedule = await self.schedule(guild_id)
        now = self.clock()
        week = week or default_week(now, schedule.timezone)
        period = Period.of(week, schedule.timezone)
        partial = period.start <= now < period.end
        before = Period.of(week.previous(), schedule.timezone)
        conn = self.db.conn

        step("counts")
        current = await queries.counts(conn, guild_id, period.start, period.end)
        previous = await queries.counts(conn, guild_id, before.start, before.end)
        ideas_by_day, votes_by_day = await queries.per_day(conn, guild_id, period.day_starts(schedule.timezone))

        step("ideas")
        fresh = await queries.new_ideas(conn, guild_id, period.start, period.end)
        top_new = top_new_ideas(fresh)
        activity = await queries.vote_activity(conn, guild_id, period.start, period.end)
        trending = trending_ideas(activity, period, exclude={i.id for i in fresh})

        step("statuses")
        changes = await queries.status_changes(conn, guild_id, period.start, period.end, LIST_LIMIT * 3)
        as_of = min(now, period.end)
        waiting_rows, waiting_total = await queries.waiting(
            conn, guild_id, as_of - timedelta(days=schedule.waiting_days), LIST_LIMIT
        )
        waiting = [waiting_note(idea, since, as_of) for idea, since in waiting_rows]

        step("programmes")
        stages = await self._stages(guild_id)
        crossing_rows, crossed_total = await queries.crossings(conn, guild_id, period.start, period.end, LIST_LIMIT)
        crossed = [crossing_line(idea, stage, votes, at, stages) for idea, stage, votes, at in crossing_rows]
        archived_rows, archived_total = await queries.marked_between(
            conn, guild_id, "archived", period.start, period.end, LIST_LIMIT
        )
        expired_rows, expired_total = await queries.marked_between(
            conn, guild_id, "expired", period.start, period.end, LIST_LIMIT
        )
        challenges = await queries.closed_challenges(conn, guild_id, period.start, period.end, LIST_LIMIT)

        step("people")
        contributors = await queries.top_contributors(conn, guild_id, period.start, period.end, LIST_LIMIT)
        promotions = await queries.promotions(conn, guild_id, period.start, period.end, LIST_LIMIT * 2)
        await self.names.flush()
        people = await name_queries.member_names(
            conn, guild_id, [c.user_id for c in contributors] + [p.user_id for p in promotions]
        )
        roles = await name_queries.role_names(conn, guild_id, [p.role_id for p in promotions])
        contributors = [replace(c, name=people.get(c.user_id, "")) for c in contributors]
        promotions = [
            replace(p, name=people.get(p.user_id, ""), role_name=roles.get(p.role_id, "")) for p in promotions
        ]

        digest = Digest(
            guild_id=guild_id,
            period=period,
            timezone=schedule.timezone,
            counts=current,
            previous=previous,
            top_new=top_new,
            trending=trending,
            status_changes=changes,
            waiting=waiting,
            waiting_total=waiting_total,
            waiting_days=schedule.waiting_days,
            contributors=contributors,
            promotions=promotions,
            days=fill_days(period, schedule.timezone, ideas_by_day, votes_by_day),
            crossed=crossed,
            crossed_total=crossed_total,
            archived=[dated_note(idea, _("archived"), at, schedule.timezone) for idea, at in archived_rows],
            archived_total=archived_total,
            expired=[dated_note(idea, _("expired"), at, schedule.timezone) for idea, at in expired_rows],
            expired_total=expired_total,
            challenges=challenges,
            generated_at=now,
            partial=partial,
        )
        step("themes")
        ideas = await queries.theme_texts(conn, guild_id, period.start, period.end, THEME_IDEAS_MAX)
        await self._add_themes(digest, week, ideas, use_llm)
        return digest

    async def _add_themes(self, digest: Digest, week: IsoWeek, ideas: list[queries.ThemeIdea], use_llm: bool) -> None:
        """Keyword themes, replaced by themes by meaning when embeddings are configured, and by
        the LLM's synthesis when a chat model is: each step within what is left of the budget,
        and each failure leaves the step before it in place, saying so. A synthesis is made once
        per guild, week and set of ideas and stored: every post, preview, export and email of
        the week shows the same one."""
        documents = [(idea.number, idea_text(idea.title, idea.body)) for idea in ideas]
        digest.themes = [Theme(theme.label, theme.keys) for theme in keyword_themes(documents)]
        digest.themes_from = "keywords"
        if not use_llm or self.llm is None or not ideas:
            return
        deadline = asyncio.get_running_loop().time() + self.llm_budget_seconds
        if self.llm.embeddings_enabled:
            await self._add_meaning_themes(digest, ideas, deadline)
        if not self.llm.chat_enabled:
            return
        prompt = [IdeaForPrompt(idea.number, idea.title, idea.body, idea.upvotes) for idea in ideas]
        key = ideas_key(self.llm.model, prompt)
        by_meaning = digest.themes_from == "meaning"
        stored = await queries.synthesis(self.db.conn, digest.guild_id, str(week), key)
        if stored is not None:
            outcome, summary, themes = stored
            if outcome == "unusable":
                digest.fallback_note = fallback_note(unusable(), by_meaning)
                return
            kept = from_stored(summary, themes)
            digest.themes, digest.summary, digest.themes_from = kept.themes, kept.summary or None, "llm"
            return
        instead = "themes by meaning" if digest.themes_from == "meaning" else "keyword themes"
        try:
            remaining = max(0.0, deadline - asyncio.get_running_loop().time())
            result = await asyncio.wait_for(synthesise(self.llm, prompt), timeout=remaining)
        except TimeoutError:
            log.warning(
                "digest for guild %s: the LLM used its %g s budget (digest_llm_budget_seconds); %s instead",
                digest.guild_id,
                self.llm_budget_seconds,
                instead,
            )
            why = _("the AI took too long")
        except LLMBadOutput as exc:
            log.warning("digest for guild %s: LLM answer unusable, %s instead: %s", digest.guild_id, instead, exc)
            why = unusable()
            async with self.db.transaction() as conn:  # the same question would cost the budget again
                await queries.save_synthesis(conn, digest.guild_id, str(week), key, "unusable", "", [], self.clock())
        except LLMError as exc:
            log.warning("digest for guild %s: LLM fell back to %s: %s", digest.guild_id, instead, exc)
            why = _("the AI service failed")
        except Exception:
            log.exception("digest for guild %s: unexpected LLM failure", digest.guild_id)
            why = _("the AI service failed")
        else:
            digest.themes = result.themes
            digest.summary = result.summary or None
            digest.themes_from = "llm"
            async with self.db.transaction() as conn:
                await queries.save_synthesis(
                    conn, digest.guild_id, str(week), key, "themes", result.summary, to_stored(result), self.clock()
                )
            return
        digest.fallback_note = fallback_note(why, by_meaning)

    async def _add_meaning_themes(self, digest: Digest, ideas: list[queries.ThemeIdea], deadline: float) -> None:
        """Themes from the ideas' embeddings: the stored ones (saved when each idea was posted),
        the missing or outdated ones asked for now and stored. Keyword themes stay when any
        idea is left without a vector."""
        assert self.llm is not None and self.llm.embedding_model is not None
        model = self.llm.embedding_model
        texts = {idea.id: idea_text(idea.title, idea.body) for idea in ideas}
        stored = await search_queries.embeddings_for(self.db.conn, list(texts), model)
        vectors = {
            key: normalised(vector) for key, (hashed, vector) in stored.items() if hashed == text_hash(texts[key])
        }
        missing = [key for key in texts if key not in vectors]
        if missing:
            try:
                remaining = max(0.0, deadline - asyncio.get_running_loop().time())
                fresh = await asyncio.wait_for(self.llm.embed([texts[key] for key in missing]), timeout=remaining)
            except (TimeoutError, LLMError) as exc:
                log.warning(
                    "digest for guild %s: no embeddings for %d ideas (%s); keyword themes instead",
                    digest.guild_id,
                    len(missing),
                    "the budget ran out" if isinstance(exc, TimeoutError) else exc,
                )
                return
            now = self.clock()
            async with self.db.transaction() as conn:
                for key, vector in zip(missing, fresh, strict=True):
                    vectors[key] = normalised(vector)
                    packed = vectors[key].tobytes()
                    await search_queries.save_embedding(
                        conn, key, model, text_hash(texts[key]), len(vector), packed, now
                    )
        if len({len(vector) for vector in vectors.values()}) != 1:
            log.warning("digest for guild %s: embeddings of different sizes; keyword themes instead", digest.guild_id)
            return
        documents = [(idea.number, idea.title, vectors[idea.id].tolist()) for idea in ideas]
        digest.themes = [Theme(theme.label, theme.keys) for theme in await asyncio.to_thread(meaning_themes, documents)]
        digest.themes_from = "meaning"

    # --- posting -------------------------------------------------------------------------------------

    async def post(
        self,
        guild_id: int,
        week: IsoWeek | None = None,
        *,
        trigger: str = "manual",
        stale_before: datetime | None = None,
    ) -> PostResult:
        """Post the digest of `week` to the guild's digest channel, at most once per (guild, week).
        A claim left 'posting' since `stale_before` (default: the lease ago) is taken over."""
        language = await self.language_of(guild_id) if self.language_of is not None else SOURCE
        with use(language):
            return await self._post(guild_id, week, trigger=trigger, stale_before=stale_before)

    async def _post(
        self, guild_id: int, week: IsoWeek | None, *, trigger: str, stale_before: datetime | None
    ) -> PostResult:
        if self.publisher is None:
            raise RuntimeError("no publisher: the digest cog is not loaded")
        schedule = await self.schedule(guild_id)
        week = week or default_week(self.clock(), schedule.timezone)
        settings = await guild_queries.get_guild_settings(self.db.conn, guild_id)
        if settings.digest_channel_id is None:
            return PostResult(guild_id, week, "no_channel")
        if self.clock() < Period.of(week, schedule.timezone).end:
            # The week so far is a preview shown in the channel: the exactly-once claim is for
            # complete weeks, so the week's own digest still goes out when it is due.
            so_far = await self.build(guild_id, week)
            shown_id = await self.publisher.publish(so_far, settings.digest_channel_id)
            return PostResult(guild_id, week, "preview", shown_id, settings.digest_channel_id, so_far)
        async with self._post_lock:
            async with self.db.transaction() as conn:
                now = self.clock()
                stale_before = stale_before or now - CLAIM_LEASE
                claimed = await queries.claim(conn, guild_id, week, trigger, now, stale_before=stale_before)
            if not claimed:
                record = await queries.get_record(self.db.conn, guild_id, week)
                message_id = record.message_id if record else None
                return PostResult(guild_id, week, "already", message_id, record.channel_id if record else None)
            try:
                digest = await self.build(guild_id, week)
                message_id = await self.publisher.publish(digest, settings.digest_channel_id)
            except BaseException:
                async with self.db.transaction() as conn:
                    await queries.release(conn, guild_id, week)
                raise
            async with self.db.transaction() as conn:
                await queries.complete(
                    conn,
                    guild_id,
                    week,
                    channel_id=settings.digest_channel_id,
                    message_id=message_id,
                    themes_from=digest.themes_from,
                    now=self.clock(),
                )
        log.info("digest %s for guild %s posted (%s)", week, guild_id, trigger)
        if self.events is not None:
            await self.events.publish(
                DigestPosted(guild_id, str(week), settings.digest_channel_id, message_id, digest, self.clock())
            )
        return PostResult(guild_id, week, "posted", message_id, settings.digest_channel_id, digest)

    async def due_week(self, guild_id: int, now: datetime | None = None) -> IsoWeek | None:
        schedule = await self.schedule(guild_id)
        recorded = await queries.recorded_weeks(self.db.conn, guild_id)
        set_up_at = await guild_queries.set_up_at(self.db.conn, guild_id)
        return digest_due(now or self.clock(), schedule, recorded, set_up_at)

    async def run_due(
        self, guild_id: int, now: datetime | None = None, *, trigger: str = "schedule"
    ) -> PostResult | None:
        """What the scheduler calls: post the digest if one is due at `now` (default: the clock)."""
        week = await self.due_week(guild_id, now)
        if week is None:
            return None
        return await self.post(guild_id, week, trigger=trigger)

    async def resume_stale(self, guild_id: int, stale_before: datetime, *, trigger: str) -> list[PostResult]:
        """Finish posts whose claim outlived the run that made it (killed mid-post)."""
        results = []
        for week in await queries.stale_claims(self.db.conn, guild_id, stale_before):
            log.warning("digest %s for guild %s was left unfinished; posting it now", week, guild_id)
            results.append(await self.post(guild_id, week, trigger=trigger, stale_before=stale_before))
        return results

    async def run_all_due(
        self, now: datetime | None = None, *, trigger: str = "schedule", stale_before: datetime | None = None
    ) -> list[PostResult]:
        """Every guild with a digest channel; one guild's failure never stops the others.
        Claims left 'posting' since `stale_before` (default: the lease ago) are finished first."""
        results = []
        for guild_id, __, ___ in await self.guilds():
            try:
                stale = stale_before or self.clock() - CLAIM_LEASE
                resumed = await self.resume_stale(guild_id, stale, trigger=trigger)
                results += [result for result in resumed if result.status == "posted"]
                result = await self.run_due(guild_id, now, trigger=trigger)
            except Exception:
                log.exception("digest run for guild %s failed; the next run retries", guild_id)
                continue
            if result is not None:
                results.append(result)
        return results
