"""A local Discord (REST API v10 + gateway) that the real discord.py client can talk to.

Used by the end-to-end tests, `ideabot demo` and the benchmarks. See `story.DiscordEmulator`.

    emu = DiscordEmulator()
    await emu.start()
    guild = emu.create_guild("Ideas Lab")
    guild.create_text_channel("ideas")
    alice = guild.add_member("alice", account_age=timedelta(days=400))
    discord.http.Route.BASE = emu.api_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(emu.gateway_url)
    # start the bot with emu.token, wait_until_ready(), then:
    reply = await alice.run("/idea submit", title="Dark mode", details="Please")
"""

from .gateway import GatewayLimits, GatewaySession, shard_for
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
    "GatewayLimits",
    "GatewaySession",
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
    "shard_for",
]
