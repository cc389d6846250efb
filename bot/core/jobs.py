"""The process's one job scheduler (APScheduler 3): every periodic or timed job of every feature
runs here, so there is one place to see what runs when, and one shutdown."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger(__name__)

Job = Callable[..., Awaitable[Any]]


class Jobs:
    def __init__(self) -> None:
        self.scheduler = AsyncIOScheduler(timezone=UTC)

    def start(self) -> None:
        if not self.scheduler.running:
            self.scheduler.start()

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def every(self, job_id: str, seconds: float, job: Job, *, now: bool = False) -> None:
        """Run `job` every `seconds` (and once at once when `now`); a failure is logged and the
        next run tries again. Runs never overlap, and missed runs collapse into one."""

        async def logged() -> None:
            try:
                await job()
            except Exception:
                log.exception("job %s failed; it runs again in %s s", job_id, seconds)

        self.scheduler.add_job(
            logged,
            IntervalTrigger(seconds=seconds, timezone=UTC),
            id=job_id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            next_run_time=datetime.now(UTC) if now else None,
        )

    def at(self, job_id: str, trigger: BaseTrigger, job: Job, *args: Any, misfire_grace_seconds: int = 3600) -> None:
        """Run `job(*args)` whenever `trigger` fires (a cron time, say)."""
        self.scheduler.add_job(
            job,
            trigger,
            args=list(args),
            id=job_id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=misfire_grace_seconds,
        )

    def remove(self, job_id: str) -> None:
        if self.scheduler.get_job(job_id) is not None:
            self.scheduler.remove_job(job_id)

    def next_run(self, job_id: str) -> datetime | None:
        job = self.scheduler.get_job(job_id)
        if job is None:
            return None
        when: datetime | None = getattr(job, "next_run_time", None)
        if when is None:  # not started yet: ask the trigger
            when = job.trigger.get_next_fire_time(None, datetime.now(UTC))
        return when
