"""Start the bot for real: open the database, point discord.py at the configured servers, run.
SIGTERM and SIGINT (systemctl stop, docker stop, Ctrl-C) close the bot cleanly: pending votes,
role changes, card edits and notices are flushed and the database is closed."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal

from bot.app import build_bot
from bot.client import IdeaBot, point_discord_at
from bot.settings import Settings
from bot.storage import Database
from bot.storage.single_process import single_process_database

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

# A vote burst allocates millions of short-lived objects while tens of thousands of events wait
# in queues. At CPython's default thresholds (700, 10, 10) the full collections this triggers
# paused the event loop 0.2-0.3 s each: 2.0 s of garbage collection in a 60,000-event burst the
# bot ingests in about 4 s (bench/ingest_processes.py). Fewer, larger young collections still
# reclaim every cycle, for about 0.2 s in the same burst.
GC_THRESHOLDS = (10_000, 10, 10)


def tune_garbage_collection() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


async def freeze_start_up_objects(bot: IdeaBot) -> None:
    """Once connected, move what start-up built (modules, caches, the command tree) out of the
    collector's sight: full collections then walk only what the bot allocates while serving."""
    await bot.wait_until_ready()
    gc.collect()
    gc.freeze()


async def run_bot(settings: Settings) -> None:
    assert settings.token is not None
    with single_process_database(settings.database, settings.shards):
        await _run_bot(settings)


async def _run_bot(settings: Settings) -> None:
    assert settings.token is not None
    point_discord_at(settings)
    tune_garbage_collection()
    db = await Database.open(settings.database)
    log.info("serving %s", settings.shards.describe())
    loop = asyncio.get_running_loop()
    try:
        async with build_bot(settings, db) as bot:
            closing: list[asyncio.Task[None]] = []

            def stop(name: str) -> None:
                if closing:
                    return  # a second signal while closing changes nothing: the close is bounded
                log.warning("%s received: flushing pending work and shutting down", name)
                closing.append(asyncio.create_task(bot.close(), name="shutdown"))

            for sig in STOP_SIGNALS:
                loop.add_signal_handler(sig, stop, sig.name)
            freezing = asyncio.create_task(freeze_start_up_objects(bot), name="gc-freeze")
            try:
                await bot.start(settings.token.get_secret_value())
            finally:
                freezing.cancel()
                for sig in STOP_SIGNALS:
                    loop.remove_signal_handler(sig)
                if closing:
                    await closing[0]
    finally:
        await db.close()
    log.warning("stopped cleanly")
