"""Discord's embed limits and the one way to fit text into them. Everything a member wrote goes
into embeds or into messages sent with mentions disabled, so user text can never ping anyone."""

from __future__ import annotations

import discord

NO_MENTIONS = discord.AllowedMentions.none()

# Discord's embed limits, in one place.
EMBED_TITLE_MAX = 256
EMBED_DESCRIPTION_MAX = 4096
EMBED_TOTAL_MAX = 6000
FIELDS_MAX = 25
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
