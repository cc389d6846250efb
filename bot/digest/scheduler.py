"""APScheduler (3.x) jobs for the weekly digest.

One cron job per guild at its weekday and hour in its own time zone, plus an hourly sweep
that catches guilds set up since start-up and retries a run whose post failed. Every job calls
`DigestService.run_due`, whose decision is the pure `digest_due` on the injected clock: the
database record (UNIQUE guild + week) makes a second call for the same week a no-op."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from bot.digest.rules import DigestSchedule, zone
from bot.digest.service import DigestService, PostResult

log = logging.getLogger(__name__)

SWEEP_JOB = "digest:sweep"


def job_id(guild_id: int) -> str:
    return f"digest:{guild_id}"


def cron_trigger(schedule: DigestSchedule) -> CronTrigger:
    return CronTrigger(day_of_week=schedule.weekday, hour=schedule.hour, minute=0, timezone=zone(schedule.timezone))


class DigestScheduler:
    def __init__(self, service: DigestService, *, sweep_minutes: float = 60.0) -> None:
        self.service = service
        self.sweep_minutes = sweep_minutes
        self.scheduler = AsyncIOScheduler(timezone=UTC)

    async def start(self) -> None:
        for guild_id, _, schedule in await self.service.guilds():
            self.schedule_guild(guild_id, schedule)
        self.scheduler.add_job(
            self.sweep,
            IntervalTrigger(minutes=self.sweep_minutes, timezone=UTC),
            id=SWEEP_JOB,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
        )
        if not self.scheduler.running:
            self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def schedule_guild(self, guild_id: int, schedule: DigestSchedule) -> None:
        self.scheduler.add_job(
            self.fire,
            cron_trigger(schedule),
            args=[guild_id],
            id=job_id(guild_id),
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=3600,
        )

    def next_run(self, guild_id: int) -> datetime | None:
        job = self.scheduler.get_job(job_id(guild_id))
        if job is None:
            return None
        when: datetime | None = getattr(job, "next_run_time", None)
        if when is None:  # not started yet: ask the trigger
            when = job.trigger.get_next_fire_time(None, datetime.now(UTC))
        return when

    async def fire(self, guild_id: int) -> PostResult | None:
        """The cron job: post this guild's digest if it is due by the bot's clock."""
        try:
            return await self.service.run_due(guild_id, trigger="schedule")
        except Exception:
            log.exception("scheduled digest for guild %s failed; the hourly sweep retries", guild_id)
            return None

    async def sweep(self) -> list[PostResult]:
        return await self.service.run_all_due(trigger="sweep")

    async def catch_up(self) -> list[PostResult]:
        """At start-up: post, once, a digest whose scheduled time passed while the bot was down."""
        # Nothing else posts for this process's guilds yet: any unfinished claim is a dead run's.
        results = await self.service.run_all_due(trigger="catch-up", stale_before=self.service.clock())
        for result in results:
            log.info("caught up the missed digest %s for guild %s", result.week, result.guild_id)
        return results
