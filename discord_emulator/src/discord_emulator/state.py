"""The emulator's world: users, guilds, channels, roles, members, messages and reactions.

Everything here is plain data plus the functions that render it as Discord JSON payloads.
The REST routes and the gateway only read and change this state; nothing here does I/O.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

DISCORD_EPOCH_MS = 1420070400000

# Permission bits used by the emulator (https://discord.com/developers/docs/topics/permissions).
CREATE_INSTANT_INVITE = 1 << 0
ADMINISTRATOR = 1 << 3
MANAGE_CHANNELS = 1 << 4
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
USE_EXTERNAL_EMOJIS = 1 << 18
MANAGE_ROLES = 1 << 28
USE_APPLICATION_COMMANDS = 1 << 31
CREATE_PUBLIC_THREADS = 1 << 35
SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 53) - 1

DEFAULT_EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE
    | ADD_REACTIONS
    | VIEW_CHANNEL
    | SEND_MESSAGES
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
    | USE_APPLICATION_COMMANDS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
)
BOT_ROLE_PERMISSIONS = (
    MANAGE_ROLES
    | MANAGE_MESSAGES
    | SEND_MESSAGES
    | ADD_REACTIONS
    | CREATE_PUBLIC_THREADS
    | SEND_MESSAGES_IN_THREADS
    | EMBED_LINKS
    | ATTACH_FILES
    | READ_MESSAGE_HISTORY
    | VIEW_CHANNEL
)

# Channel types.
GUILD_TEXT = 0
DM = 1
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12

# Message flags.
FLAG_HAS_THREAD = 1 << 5
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def utcnow() -> datetime:
    return datetime.now(UTC)


class SnowflakeFactory:
    """Makes snowflakes whose timestamp part is a chosen moment (now by default)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)

    def make(self, at: datetime | None = None) -> int:
        moment = at or utcnow()
        ms = int(moment.timestamp() * 1000)
        return ((ms - DISCORD_EPOCH_MS) << 22) | (next(self._counter) & 0x3FFFFF)


def snowflake_time(snowflake: int) -> datetime:
    return datetime.fromtimestamp(((snowflake >> 22) + DISCORD_EPOCH_MS) / 1000, tz=UTC)


@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None
    # The language the member's Discord client is set to: sent as `locale` on interactions.
    locale: str = "en-US"

    @property
    def created_at(self) -> datetime:
        return snowflake_time(self.id)

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "discriminator": "0",
            "global_name": self.global_name,
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
        }
        if self.bot:
            payload["bot"] = True
        return payload


@dataclass
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int
    color: int = 0
    hoist: bool = False
    mentionable: bool = False
    managed: bool = False
    bot_id: int | None = None

    def to_payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "color": self.color,
            "colors": {"primary_color": self.color, "secondary_color": None, "tertiary_color": None},
            "hoist": self.hoist,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": self.mentionable,
            "flags": 0,
        }
        if self.bot_id is not None:
            payload["tags"] = {"bot_id": str(self.bot_id)}
        return payload


@dataclass
class Channel:
    id: int
    type: int
    name: str | None
    guild_id: int | None = None
    position: int = 0
    parent_id: int | None = None
    owner_id: int | None = None
    topic: str | None = None
    recipient_ids: list[int] = field(default_factory=list)
    auto_archive_duration: int = 1440
    archived: bool = False
    locked: bool = False
    created_at: datetime = field(default_factory=utcnow)
    message_ids: list[int] = field(default_factory=list)
    total_sent: int = 0
    # Discord's permission overwrites ({"id", "type": 0 role / 1 member, "allow", "deny"}), sent to
    # the bot so it can compute who sees the channel. The emulator's own checks stay guild-level.
    overwrites: list[dict[str, Any]] = field(default_factory=list)

    @property
    def is_thread(self) -> bool:
        return self.type in (PUBLIC_THREAD, PRIVATE_THREAD)

    @property
    def is_dm(self) -> bool:
        return self.type == DM

    @property
    def last_message_id(self) -> int | None:
        return self.message_ids[-1] if self.message_ids else None


@dataclass
class Member:
    user: User
    guild_id: int
    role_ids: list[int] = field(default_factory=list)
    nick: str | None = None
    joined_at: datetime = field(default_factory=utcnow)
    dms_open: bool = True

    @property
    def id(self) -> int:
        return self.user.id

    def to_payload(self, *, with_user: bool = True, permissions: int | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "nick": self.nick,
            "avatar": None,
            "banner": None,
            "roles": [str(role_id) for role_id in self.role_ids],
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if with_user:
            payload["user"] = self.user.to_payload()
        if permissions is not None:
            payload["permissions"] = str(permissions)
        return payload


@dataclass
class Attachment:
    id: int
    filename: str
    data: bytes
    content_type: str | None = None
    description: str | None = None

    def to_payload(self, base_url: str, channel_id: int) -> dict[str, Any]:
        url = f"{base_url}/attachments/{channel_id}/{self.id}/{self.filename}"
        payload: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": len(self.data),
            "url": url,
            "proxy_url": url,
        }
        if self.content_type:
            payload["content_type"] = self.content_type
        if self.description:
            payload["description"] = self.description
        return payload


@dataclass
class Message:
    """A message as tests see it: plain fields, plus reactions per emoji as sorted user ids."""

    id: int
    channel_id: int
    guild_id: int | None
    author: User
    content: str = ""
    embeds: list[dict[str, Any]] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    flags: int = 0
    allowed_mentions: dict[str, Any] | None = None
    type: int = 0
    timestamp: datetime = field(default_factory=utcnow)
    edited_at: datetime | None = None
    edits: int = 0
    webhook_id: int | None = None
    application_id: int | None = None
    interaction_metadata: dict[str, Any] | None = None
    message_reference: dict[str, Any] | None = None
    thread_id: int | None = None
    reactions: dict[str, list[int]] = field(default_factory=dict)
    deleted: bool = False
    nonce: str | None = None

    @property
    def author_id(self) -> int:
        return self.author.id

    @property
    def ephemeral(self) -> bool:
        return bool(self.flags & FLAG_EPHEMERAL)

    def buttons(self) -> list[dict[str, Any]]:
        """Every interactive component on the message, flattened (buttons, selects)."""
        return list(walk_components(self.components))


def walk_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for component in components:
        if component.get("type") in (2, 3, 5, 6, 7, 8):
            found.append(component)
        for key in ("components",):
            children = component.get(key)
            if isinstance(children, list):
                found.extend(walk_components(children))
        for key in ("accessory", "component"):
            child = component.get(key)
            if isinstance(child, dict):
                found.extend(walk_components([child]))
    return found


def parse_emoji(raw: str) -> tuple[str, dict[str, Any]]:
    """Turns a URL path emoji ("👍" or "name:id") into a reaction key and an emoji payload."""
    if ":" in raw:
        name, _, emoji_id = raw.partition(":")
        return f"{name}:{emoji_id}", {"id": emoji_id, "name": name}
    return raw, {"id": None, "name": raw}


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    created_at: datetime = field(default_factory=utcnow)
    roles: dict[int, Role] = field(default_factory=dict)
    channel_ids: list[int] = field(default_factory=list)
    members: dict[int, Member] = field(default_factory=dict)
    bot_joined_at: datetime = field(default_factory=utcnow)
    locale: str = "en-US"

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]

    def base_permissions(self, member: Member) -> int:
        """Guild-level permissions (the emulator has no channel overwrites)."""
        if member.id == self.owner_id:
            return ALL_PERMISSIONS
        perms = self.everyone.permissions
        for role_id in member.role_ids:
            role = self.roles.get(role_id)
            if role is not None:
                perms |= role.permissions
        if perms & ADMINISTRATOR:
            return ALL_PERMISSIONS
        return perms

    def top_role_position(self, member: Member) -> int:
        positions = [self.roles[r].position for r in member.role_ids if r in self.roles]
        return max(positions, default=0)


@dataclass
class ApplicationCommand:
    id: int
    application_id: int
    name: str
    type: int
    description: str
    options: list[dict[str, Any]]
    guild_id: int | None = None
    version: int = 1
    raw: dict[str, Any] = field(default_factory=dict)

    def to_payload(self) -> dict[str, Any]:
        payload = dict(self.raw)
        payload.update(
            {
                "id": str(self.id),
                "application_id": str(self.application_id),
                "version": str(self.version),
                "type": self.type,
                "name": self.name,
                "description": self.description,
                "options": self.options,
                "default_member_permissions": self.raw.get("default_member_permissions"),
                "nsfw": self.raw.get("nsfw", False),
                "contexts": self.raw.get("contexts"),
                "integration_types": self.raw.get("integration_types", [0]),
                "dm_permission": self.raw.get("dm_permission", True),
            }
        )
        if self.guild_id is not None:
            payload["guild_id"] = str(self.guild_id)
        return payload


class World:
    """All state of the emulated Discord, indexed by id."""

    def __init__(self, *, base_url_getter: Any = None) -> None:
        self.snowflakes = SnowflakeFactory()
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, Message] = {}
        self.dm_channel_by_user: dict[int, int] = {}
        # (author, nonce) -> the message it created: Discord returns that message instead of
        # creating another when the same author sends the same nonce with enforce_nonce.
        self.nonces: dict[tuple[int, str], Message] = {}
        self.nonce_repeats = 0
        self.global_commands: list[ApplicationCommand] = []
        self.guild_commands: dict[int, list[ApplicationCommand]] = {}
        self.base_url = "http://127.0.0.1"
        owner = self.create_user("ideabot-owner", age=timedelta(days=900))
        self.owner = owner
        self.bot = self.create_user("ideabot", age=timedelta(days=365), bot=True)
        self.application_id = self.bot.id
        self.application_name = "ideabot"

    # --- creation -----------------------------------------------------------------

    def new_id(self, at: datetime | None = None) -> int:
        return self.snowflakes.make(at)

    def create_user(self, username: str, *, age: timedelta = timedelta(days=365), bot: bool = False) -> User:
        user = User(id=self.new_id(utcnow() - age), username=username, bot=bot)
        self.users[user.id] = user
        return user

    def create_channel(
        self, guild: Guild | None, name: str | None, *, type: int = GUILD_TEXT, **kwargs: Any
    ) -> Channel:
        channel = Channel(
            id=kwargs.pop("id", None) or self.new_id(),
            type=type,
            name=name,
            guild_id=guild.id if guild else None,
            **kwargs,
        )
        self.channels[channel.id] = channel
        if guild is not None:
            if not channel.is_thread:
                channel.position = len([c for c in self.guild_channels(guild) if not c.is_thread])
            guild.channel_ids.append(channel.id)
        return channel

    def dm_channel(self, user: User) -> Channel:
        existing = self.dm_channel_by_user.get(user.id)
        if existing is not None:
            return self.channels[existing]
        channel = self.create_channel(None, None, type=DM, recipient_ids=[user.id])
        self.dm_channel_by_user[user.id] = channel.id
        return channel

    def add_message(self, message: Message, *, listed: bool = True) -> Message:
        self.messages[message.id] = message
        if listed:
            channel = self.channels[message.channel_id]
            channel.message_ids.append(message.id)
            channel.total_sent += 1
        return message

    # --- lookups ------------------------------------------------------------------

    def guild_channels(self, guild: Guild) -> list[Channel]:
        return [self.channels[c] for c in guild.channel_ids if c in self.channels]

    def member_of(self, guild_id: int | None, user_id: int) -> Member | None:
        if guild_id is None:
            return None
        guild = self.guilds.get(guild_id)
        return guild.members.get(user_id) if guild else None

    def bot_permissions(self, guild_id: int | None) -> int:
        if guild_id is None:
            return ALL_PERMISSIONS & ~ADMINISTRATOR
        guild = self.guilds[guild_id]
        member = guild.members.get(self.bot.id)
        return guild.base_permissions(member) if member else 0

    def channel_messages(self, channel: Channel) -> list[Message]:
        return [self.messages[m] for m in channel.message_ids if not self.messages[m].deleted]

    # --- payloads -----------------------------------------------------------------

    def channel_payload(self, channel: Channel) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": str(channel.id),
            "type": channel.type,
            "last_message_id": str(channel.last_message_id) if channel.last_message_id else None,
            "flags": 0,
        }
        if channel.is_dm:
            payload["recipients"] = [self.users[u].to_payload() for u in channel.recipient_ids]
            return payload
        payload.update(
            {
                "guild_id": str(channel.guild_id),
                "name": channel.name,
                "position": channel.position,
                "permission_overwrites": [dict(overwrite) for overwrite in channel.overwrites],
                "parent_id": str(channel.parent_id) if channel.parent_id else None,
                "nsfw": False,
                "rate_limit_per_user": 0,
            }
        )
        if channel.is_thread:
            payload.pop("permission_overwrites")
            payload.pop("position")
            payload.update(
                {
                    "owner_id": str(channel.owner_id),
                    "message_count": len(channel.message_ids),
                    "member_count": 1,
                    "total_message_sent": channel.total_sent,
                    "thread_metadata": {
                        "archived": channel.archived,
                        "auto_archive_duration": channel.auto_archive_duration,
                        "archive_timestamp": iso(channel.created_at),
                        "locked": channel.locked,
                        "create_timestamp": iso(channel.created_at),
                    },
                }
            )
        else:
            payload["topic"] = channel.topic
        return payload

    def message_payload(self, message: Message, *, with_member: bool = False) -> dict[str, Any]:
        channel = self.channels.get(message.channel_id)
        payload: dict[str, Any] = {
            "id": str(message.id),
            "channel_id": str(message.channel_id),
            "author": message.author.to_payload(),
            "content": message.content,
            "timestamp": iso(message.timestamp),
            "edited_timestamp": iso(message.edited_at) if message.edited_at else None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [a.to_payload(self.base_url, message.channel_id) for a in message.attachments],
            "embeds": message.embeds,
            "components": message.components,
            "reactions": [
                {
                    "count": len(users),
                    "count_details": {"burst": 0, "normal": len(users)},
                    "me": self.bot.id in users,
                    "me_burst": False,
                    "burst_colors": [],
                    "emoji": parse_emoji(key)[1],
                }
                for key, users in message.reactions.items()
                if users
            ],
            "pinned": False,
            "type": message.type,
            "flags": message.flags,
            **({"nonce": message.nonce} if message.nonce is not None else {}),
        }
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
            if with_member:
                member = self.member_of(message.guild_id, message.author.id)
                if member is not None:
                    payload["member"] = member.to_payload(with_user=False)
        if message.webhook_id is not None:
            payload["webhook_id"] = str(message.webhook_id)
        if message.application_id is not None:
            payload["application_id"] = str(message.application_id)
        if message.interaction_metadata is not None:
            payload["interaction_metadata"] = message.interaction_metadata
        if message.message_reference is not None:
            payload["message_reference"] = message.message_reference
        if message.thread_id is not None and message.thread_id in self.channels:
            payload["thread"] = self.channel_payload(self.channels[message.thread_id])
        if channel is not None and channel.is_thread:
            payload["position"] = channel.message_ids.index(message.id) if message.id in channel.message_ids else 0
        return payload

    def guild_payload(self, guild: Guild) -> dict[str, Any]:
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [role.to_payload() for role in sorted(guild.roles.values(), key=lambda r: r.position)],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": guild.locale,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "max_members": 500000,
            "max_video_channel_users": 25,
        }

    def guild_create_payload(self, guild: Guild) -> dict[str, Any]:
        payload = self.guild_payload(guild)
        channels = self.guild_channels(guild)
        bot_member = guild.members.get(self.bot.id)
        payload.update(
            {
                "unavailable": False,
                "large": False,
                "lazy": True,
                "member_count": len(guild.members),
                "joined_at": iso(guild.bot_joined_at),
                "channels": [self.channel_payload(c) for c in channels if not c.is_thread],
                "threads": [self.channel_payload(c) for c in channels if c.is_thread and not c.archived],
                "members": [bot_member.to_payload()] if bot_member else [],
                "presences": [],
                "voice_states": [],
                "stage_instances": [],
                "guild_scheduled_events": [],
                "soundboard_sounds": [],
            }
        )
        return payload

    def application_payload(self) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.application_name,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "rpc_origins": [],
            "bot_public": True,
            "bot_require_code_grant": False,
            "bot": self.bot.to_payload(),
            "owner": self.owner.to_payload(),
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "hook": True,
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "approximate_guild_count": len(self.guilds),
        }
