"""The weekly digest's jobs, on the process's job scheduler (bot/core/jobs.py).

One cron job per guild at its weekday and hour in its own time zone, plus an hourly sweep
that catches guilds set up since start-up and retries a run whose post failed. Every job calls
`DigestService.run_due`, whose decision is the pure `digest_due` on the injected clock: the
database record (UNIQUE guild + week) makes a second call for the same week a no-op."""

from __future__ import annotations

import logging
from datetime import datetime

from apscheduler.triggers.cron import CronTrigger

from bot.core.jobs import Jobs
from bot.digest.rules import DigestSchedule, zone
from bot.digest.service import DigestService, PostResult

log = logging.getLogger(__name__)

SWEEP_JOB = "digest:sweep"


def job_id(guild_id: int) -> str:
    return f"digest:{guild_id}"


def cron_trigger(schedule: DigestSchedule) -> CronTrigger:
    return CronTrigger(day_of_week=schedule.weekday, hour=schedule.hour, minute=0, timezone=zone(schedule.timezone))


class DigestScheduler:
    def __init__(self, service: DigestService, jobs: Jobs, *, sweep_minutes: float = 60.0) -> None:
        self.service = service
        self.jobs = jobs
        self.sweep_minutes = sweep_minutes
        self.guild_ids: set[int] = set()

    async def start(self) -> None:
        for guild_id, _, schedule in await self.service.guilds():
            self.schedule_guild(guild_id, schedule)
        self.jobs.every(SWEEP_JOB, self.sweep_minutes * 60, self.sweep)

    def shutdown(self) -> None:
        self.jobs.remove(SWEEP_JOB)
        for guild_id in self.guild_ids:
            self.jobs.remove(job_id(guild_id))
        self.guild_ids.clear()

    def schedule_guild(self, guild_id: int, schedule: DigestSchedule) -> None:
        self.jobs.at(job_id(guild_id), cron_trigger(schedule), self.fire, guild_id)
        self.guild_ids.add(guild_id)

    def next_run(self, guild_id: int) -> datetime | None:
        return self.jobs.next_run(job_id(guild_id))

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
