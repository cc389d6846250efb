"""Members' and roles' display names as the bot sees them, kept for the digest and its exports.

Names arrive with interactions and reaction events (no privileged intent needed). Reactions are
the hot path, so a name is written at most once per member per hour unless it changed, and
writes are batched: `seen` only touches memory; a short-lived task (or `flush`) writes them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from bot.community import names_storage as queries
from bot.events.bus import Clock, system_clock
from bot.storage import Database

log = logging.getLogger(__name__)

REFRESH = timedelta(hours=1)
FLUSH_DELAY_SECONDS = 2.0
NAME_MAX = 100


class NameBook:
    def __init__(self, db: Database, clock: Clock = system_clock, *, flush_delay: float = FLUSH_DELAY_SECONDS) -> None:
        self.db = db
        self.clock = clock
        self.flush_delay = flush_delay
        self._written: dict[tuple[int, int], tuple[str, datetime]] = {}
        self._pending: dict[tuple[int, int], str] = {}
        self._roles: dict[tuple[int, int], str] = {}
        self._pending_roles: list[tuple[int, int, str]] = []
        self._task: asyncio.Task[None] | None = None

    def seen(self, guild_id: int, user_id: int, name: str) -> None:
        """A member's display name as an event showed it: cheap, no I/O."""
        key = (guild_id, user_id)
        if self._written_lately(key, name):
            return  # the usual case, before any work on the name
        name = " ".join(name.split())[:NAME_MAX]
        if not name or self._written_lately(key, name):
            return
        if self._pending.get(key) == name:
            return
        self._pending[key] = name
        self._schedule()

    def _written_lately(self, key: tuple[int, int], name: str) -> bool:
        last = self._written.get(key)
        return last is not None and last[0] == name and self.clock() - last[1] < REFRESH

    def roles_seen(self, guild_id: int, roles: Iterable[tuple[int, str]]) -> None:
        for role_id, name in roles:
            if self._roles.get((guild_id, role_id)) != name:
                self._roles[(guild_id, role_id)] = name
                self._pending_roles.append((guild_id, role_id, name))
        if self._pending_roles:
            self._schedule()

    def _schedule(self) -> None:
        if self._task is None or self._task.done():
            try:
                self._task = asyncio.get_running_loop().create_task(self._flush_later(), name="name-book-flush")
            except RuntimeError:  # no loop (a synchronous caller): the next flush() writes them
                self._task = None

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.flush_delay)
        try:
            await self.flush()
        except Exception:
            log.exception("saving display names failed; they are saved at the next event")

    async def flush(self) -> None:
        """Write every pending name in one transaction."""
        members, self._pending = self._pending, {}
        roles, self._pending_roles = self._pending_roles, []
        if not members and not roles:
            return
        now = self.clock()
        by_guild: dict[int, list[tuple[int, str]]] = {}
        for (guild_id, user_id), name in members.items():
            by_guild.setdefault(guild_id, []).append((user_id, name))
        roles_by_guild: dict[int, list[tuple[int, str]]] = {}
        for guild_id, role_id, name in roles:
            roles_by_guild.setdefault(guild_id, []).append((role_id, name))
        try:
            async with self.db.transaction() as conn:
                for guild_id, rows in by_guild.items():
                    await queries.save_member_names(conn, guild_id, rows, now)
                for guild_id, rows in roles_by_guild.items():
                    await queries.save_role_names(conn, guild_id, rows, now)
        except BaseException:
            for key, name in members.items():  # kept for the next flush
                self._pending.setdefault(key, name)
            self._pending_roles = roles + self._pending_roles
            raise
        for key, name in members.items():
            self._written[key] = (name, now)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        await self.flush()
