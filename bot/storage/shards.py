"""The SQL form of shard ownership, for queries that page through rows of every guild."""

from __future__ import annotations

from bot.core.shards import ShardPlan


def owned_guilds(column: str, plan: ShardPlan) -> str:
    """A condition true for rows whose `column` names a guild this process owns. The numbers are
    validated integers written inline, so the same text runs on SQLite and PostgreSQL."""
    if plan.holds_every_shard:
        return "1 = 1"
    ids = ", ".join(str(int(shard_id)) for shard_id in plan.ids)
    return f"(({column} >> 22) % {int(plan.count)}) IN ({ids})"
