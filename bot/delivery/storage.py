"""Storage for delivering to the firm's tools: digest email addresses and mailings, webhooks
and their queue of deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.storage import Conn, Row
from bot.storage.rows import from_ts, to_ts

# --- digest emails ---------------------------------------------------------------------------------


async def add_address(conn: Conn, guild_id: int, address: str, added_by: int, now: datetime) -> bool:
    cursor = await conn.execute(
        "INSERT INTO digest_email_addresses (guild_id, address, added_by, added_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (guild_id, address, added_by, to_ts(now)),
    )
    return cursor.rowcount > 0


async def remove_address(conn: Conn, guild_id: int, address: str) -> bool:
    cursor = await conn.execute(
        "DELETE FROM digest_email_addresses WHERE guild_id = ? AND address = ?", (guild_id, address)
    )
    return cursor.rowcount > 0


async def addresses(conn: Conn, guild_id: int) -> list[str]:
    async with conn.execute(
        "SELECT address FROM digest_email_addresses WHERE guild_id = ? ORDER BY address", (guild_id,)
    ) as cursor:
        return [str(row[0]) for row in await cursor.fetchall()]


async def unmailed_addresses(
    conn: Conn, guild_id: int, week: str, max_attempts: int, added_before: datetime | None = None
) -> list[str]:
    """Listed addresses that have not had this digest yet and have attempts left."""
    async with conn.execute(
        "SELECT a.address FROM digest_email_addresses a"
        " LEFT JOIN digest_mailings m ON m.guild_id = a.guild_id AND m.address = a.address AND m.week = ?"
        " WHERE a.guild_id = ? AND m.sent_at IS NULL AND COALESCE(m.attempts, 0) < ? AND a.added_at <= ?"
        " ORDER BY a.address",
        (week, guild_id, max_attempts, to_ts(added_before) if added_before else float("inf")),
    ) as cursor:
        return [str(row[0]) for row in await cursor.fetchall()]


async def digests_to_mail(conn: Conn, since: datetime, max_attempts: int) -> list[tuple[int, str, datetime]]:
    """(guild, week, posted at) of digests posted since `since` that an address listed before
    the post has not had yet (and still has attempts left)."""
    async with conn.execute(
        "SELECT DISTINCT d.guild_id, d.iso_week, d.posted_at FROM digests d"
        " JOIN digest_email_addresses a ON a.guild_id = d.guild_id AND a.added_at <= d.posted_at"
        " LEFT JOIN digest_mailings m ON m.guild_id = d.guild_id AND m.week = d.iso_week AND m.address = a.address"
        " WHERE d.status = 'posted' AND d.posted_at >= ? AND m.sent_at IS NULL AND COALESCE(m.attempts, 0) < ?"
        " ORDER BY d.posted_at",
        (to_ts(since), max_attempts),
    ) as cursor:
        return [(int(row[0]), str(row[1]), from_ts(row[2])) for row in await cursor.fetchall()]


async def record_mailing(conn: Conn, guild_id: int, week: str, address: str, now: datetime, error: str | None) -> None:
    sent_at = None if error else to_ts(now)
    await conn.execute(
        "INSERT INTO digest_mailings (guild_id, week, address, attempts, sent_at, last_error) VALUES (?, ?, ?, 1, ?, ?)"
        " ON CONFLICT (guild_id, week, address) DO UPDATE SET attempts = digest_mailings.attempts + 1,"
        " sent_at = COALESCE(digest_mailings.sent_at, excluded.sent_at), last_error = excluded.last_error",
        (guild_id, week, address, sent_at, error),
    )


# --- webhooks --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    guild_id: int
    url: str
    secret: str
    events: tuple[str, ...]
    failing_since: datetime | None
    disabled_at: datetime | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    webhook_id: int
    event: str
    idempotency_key: str
    body: str
    attempts: int
    next_attempt_at: datetime


_WEBHOOK_COLUMNS = "id, guild_id, url, secret, events, failing_since, disabled_at"


def _webhook(row: Row) -> Webhook:
    return Webhook(
        id=row["id"],
        guild_id=row["guild_id"],
        url=row["url"],
        secret=row["secret"],
        events=tuple(str(row["events"]).split()),
        failing_since=from_ts(row["failing_since"]) if row["failing_since"] is not None else None,
        disabled_at=from_ts(row["disabled_at"]) if row["disabled_at"] is not None else None,
    )


async def add_webhook(
    conn: Conn,
    guild_id: int,
    url: str,
    secret: str,
    events: tuple[str, ...],
    added_by: int,
    now: datetime,
) -> bool:
    """False when the guild already has this URL."""
    cursor = await conn.execute(
        "INSERT INTO webhooks (guild_id, url, secret, events, added_by, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (guild_id, url, secret, " ".join(events), added_by, to_ts(now)),
    )
    return cursor.rowcount > 0


async def remove_webhook(conn: Conn, guild_id: int, url: str) -> bool:
    cursor = await conn.execute("DELETE FROM webhooks WHERE guild_id = ? AND url = ?", (guild_id, url))
    return cursor.rowcount > 0


async def webhooks(conn: Conn, guild_id: int) -> list[Webhook]:
    async with conn.execute(
        f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE guild_id = ? ORDER BY id",
        (guild_id,),
    ) as cursor:
        return [_webhook(row) for row in await cursor.fetchall()]


async def webhook(conn: Conn, webhook_id: int) -> Webhook | None:
    async with conn.execute(
        f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE id = ?",
        (webhook_id,),
    ) as cursor:
        row = await cursor.fetchone()
    return _webhook(row) if row is not None else None


async def subscribers(conn: Conn, guild_id: int, event: str) -> list[int]:
    async with conn.execute(
        "SELECT id, events FROM webhooks WHERE guild_id = ? AND disabled_at IS NULL ORDER BY id", (guild_id,)
    ) as cursor:
        return [int(row["id"]) for row in await cursor.fetchall() if event in str(row["events"]).split()]


async def add_delivery(conn: Conn, webhook_id: int, event: str, key: str, body: str, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO webhook_deliveries (webhook_id, event, idempotency_key, body, created_at, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (webhook_id, event, key, body, to_ts(now), to_ts(now)),
    )


async def webhooks_with_pending(conn: Conn) -> list[int]:
    async with conn.execute(
        "SELECT DISTINCT d.webhook_id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
        " WHERE d.delivered_at IS NULL AND w.disabled_at IS NULL ORDER BY d.webhook_id"
    ) as cursor:
        return [int(row[0]) for row in await cursor.fetchall()]


async def next_delivery(conn: Conn, webhook_id: int) -> Delivery | None:
    """The oldest undelivered delivery of the webhook: later ones wait behind it (order)."""
    async with conn.execute(
        "SELECT id, webhook_id, event, idempotency_key, body, attempts, next_attempt_at FROM webhook_deliveries"
        " WHERE webhook_id = ? AND delivered_at IS NULL ORDER BY id LIMIT 1",
        (webhook_id,),
    ) as cursor:
        row = await cursor.fetchone()
    if row is None:
        return None
    return Delivery(
        id=row["id"],
        webhook_id=row["webhook_id"],
        event=row["event"],
        idempotency_key=row["idempotency_key"],
        body=row["body"],
        attempts=row["attempts"],
        next_attempt_at=from_ts(row["next_attempt_at"]),
    )


async def mark_delivered(conn: Conn, delivery_id: int, webhook_id: int, now: datetime) -> None:
    await conn.execute(
        "UPDATE webhook_deliveries SET delivered_at = ?, attempts = attempts + 1, last_error = NULL WHERE id = ?",
        (to_ts(now), delivery_id),
    )
    await conn.execute("UPDATE webhooks SET failing_since = NULL WHERE id = ?", (webhook_id,))


async def mark_failed(
    conn: Conn, delivery_id: int, webhook_id: int, error: str, retry_at: datetime, now: datetime
) -> datetime:
    """Record a failed attempt; returns since when the webhook has been failing."""
    await conn.execute(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
        (error, to_ts(retry_at), delivery_id),
    )
    await conn.execute(
        "UPDATE webhooks SET failing_since = COALESCE(failing_since, ?) WHERE id = ?", (to_ts(now), webhook_id)
    )
    async with conn.execute("SELECT failing_since FROM webhooks WHERE id = ?", (webhook_id,)) as cursor:
        row = await cursor.fetchone()
    return from_ts(row[0]) if row is not None and row[0] is not None else now


async def disable_webhook(conn: Conn, webhook_id: int, now: datetime) -> bool:
    cursor = await conn.execute(
        "UPDATE webhooks SET disabled_at = ? WHERE id = ? AND disabled_at IS NULL", (to_ts(now), webhook_id)
    )
    return cursor.rowcount > 0
