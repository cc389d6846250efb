"""Status-change notices as an outbox: the status change's own status_history row says a
notice is owed (written in the change's transaction), the recipients are fixed when delivery
starts, and each delivery is recorded as it happens. Whatever a crash interrupts is resumed
at start-up; the Discord side (bot/notices/sender.py) sends with a nonce per message, which
Discord uses to drop a repeat of a send it already took."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.core.shards import EVERY_GUILD
from bot.events.bus import Clock, system_clock
from bot.ideas.rules import Idea
from bot.notices import storage as queries
from bot.notices.storage import OwedNotice
from bot.storage import Database

__all__ = ["NoticeService", "OwedNotice"]


class NoticeService:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock
        self.shards = EVERY_GUILD  # whose notices this process delivers (bot/app.py sets it)

    async def owed(self) -> list[OwedNotice]:
        return await queries.owed(self.db.conn, shards=self.shards)

    async def recipients(
        self, notice: OwedNotice, idea: Idea, audience: Callable[[Idea], Awaitable[list[int]]]
    ) -> dict[int, str]:
        """user id -> delivery state. Fixed the first time (supporters may change while a
        notice waits), so a resumed delivery reaches exactly the people the first one would."""
        found = await queries.recipients(self.db.conn, notice.history_id)
        if found:
            return found
        people = list(dict.fromkeys(await audience(idea)))
        async with self.db.transaction() as conn:
            await queries.fix_recipients(conn, notice.history_id, people)
        return await queries.recipients(self.db.conn, notice.history_id)

    async def mark(self, notice: OwedNotice, user_id: int, state: str) -> None:
        async with self.db.transaction() as conn:
            await queries.mark(conn, notice.history_id, user_id, state)

    async def done(self, notice: OwedNotice) -> None:
        async with self.db.transaction() as conn:
            await queries.done(conn, notice.history_id, self.clock())
