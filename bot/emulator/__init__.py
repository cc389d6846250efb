"""A local Discord (REST API v10 + gateway) that the real discord.py client can talk to.

Used by the end-to-end tests, `ideabot demo` and the benchmarks. See `story.DiscordEmulator`.
"""

from .interactions import InteractionError, InteractionTimeout, Reply
from .ratelimit import EmulatorLimits, Limit
from .server import ApiError, RequestRecord
from .state import Attachment, Channel, Guild, Member, Message, Role, User
from .story import DiscordEmulator, StoryChannel, StoryGuild, StoryMember, StoryRole

__all__ = [
    "ApiError",
    "Attachment",
    "Channel",
    "DiscordEmulator",
    "EmulatorLimits",
    "Guild",
    "InteractionError",
    "InteractionTimeout",
    "Limit",
    "Member",
    "Message",
    "Reply",
    "RequestRecord",
    "Role",
    "StoryChannel",
    "StoryGuild",
    "StoryMember",
    "StoryRole",
    "User",
]
