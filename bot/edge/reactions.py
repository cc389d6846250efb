"""Reaction events read straight from the gateway's payload.

Reactions are the bot's hot path: a popular card draws thousands a minute. For each one
discord.py builds a Member, a PartialEmoji and a RawReactionActionEvent, and the bot needs five
plain fields of them. So the bot reads those fields from the payload itself (see
IdeaBot._read_reactions_from_the_payload); discord.py's own parser still runs when something
listens for reaction events the usual way."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

from discord.utils import parse_time


class GatewayReaction(NamedTuple):
    """One MESSAGE_REACTION_ADD or MESSAGE_REACTION_REMOVE, as plain values."""

    guild_id: int | None
    message_id: int
    user_id: int
    emoji: str  # as str(discord.PartialEmoji) spells it: the character, or <:name:id>
    added: bool
    member: Mapping[str, Any] | None  # the member object Discord sends with an add in a guild

    @property
    def joined_at(self) -> datetime | None:
        return parse_time(self.member.get("joined_at")) if self.member else None

    @property
    def display_name(self) -> str | None:
        """The name the server shows: nickname, else global name, else username."""
        if not self.member:
            return None
        user = self.member.get("user") or {}
        return self.member.get("nick") or user.get("global_name") or user.get("username")

    @property
    def by_a_bot(self) -> bool:
        return bool(self.member and (self.member.get("user") or {}).get("bot"))


def reaction_from_payload(data: Mapping[str, Any], added: bool) -> GatewayReaction:
    """Raises KeyError or ValueError on a payload without the fields every reaction event has."""
    emoji = data["emoji"]
    name = emoji.get("name") or "_"
    emoji_id = emoji.get("id")
    if emoji_id is not None:
        name = f"<{'a' if emoji.get('animated') else ''}:{name}:{emoji_id}>"
    guild_id = data.get("guild_id")
    return GatewayReaction(
        int(guild_id) if guild_id is not None else None,
        int(data["message_id"]),
        int(data["user_id"]),
        name,
        added,
        data.get("member") if added else None,
    )
