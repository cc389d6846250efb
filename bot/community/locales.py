"""Each member's Discord locale as last seen on an interaction, for the DMs sent to them later.

Interactions are frequent and a locale rarely changes: `seen` only touches memory and writes
when the locale differs from the one known."""

from __future__ import annotations

import asyncio
import logging

from bot.community import names_storage as queries
from bot.events.bus import Clock, system_clock
from bot.storage import Database

log = logging.getLogger(__name__)

LOCALE_MAX = 16


class MemberLocales:
    def __init__(self, db: Database, clock: Clock = system_clock) -> None:
        self.db = db
        self.clock = clock
        self._known: dict[int, str] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def seen(self, user_id: int, locale: str) -> None:
        locale = locale[:LOCALE_MAX]
        if not locale or self._known.get(user_id) == locale:
            return
        self._known[user_id] = locale
        try:
            task = asyncio.get_running_loop().create_task(self._save(user_id, locale), name="member-locale")
        except RuntimeError:  # no loop: remembered in memory only
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _save(self, user_id: int, locale: str) -> None:
        try:
            async with self.db.transaction() as conn:
                await queries.save_member_locale(conn, user_id, locale, self.clock())
        except Exception:
            self._known.pop(user_id, None)  # written at the member's next interaction
            log.exception("saving a member's locale failed")

    async def of(self, user_id: int) -> str | None:
        known = self._known.get(user_id)
        if known is not None:
            return known
        return await queries.member_locale(self.db.conn, user_id)

    async def flush(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
