"""Channels by id, as the bot reaches them: from discord.py's cache, or fetched from Discord
(threads and channels the cache does not hold without the members intent)."""

from __future__ import annotations

import discord


async def messageable(client: discord.Client, channel_id: int) -> discord.abc.Messageable | None:
    """The channel or thread that holds messages, or None if that channel cannot hold them.
    Raises discord.HTTPException when it is gone or out of the bot's reach."""
    channel = client.get_channel(channel_id) or await client.fetch_channel(channel_id)
    return channel if isinstance(channel, discord.abc.Messageable) else None
