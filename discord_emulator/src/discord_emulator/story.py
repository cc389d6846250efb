"""The test-facing API: build a guild, let members act, read what the bot did.

emu = DiscordEmulator()
await emu.start()
guild = emu.create_guild("Ideas Lab")
ideas = guild.create_text_channel("ideas")
alice = guild.add_member("alice", account_age=timedelta(days=400))
reply = await alice.run("/idea submit", title="Dark mode", details="Please")
await bob.react(reply.message, "👍")
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from .gateway import GatewayLimits, shard_for
from .interactions import (
    APPLICATION_COMMAND,
    DEFERRED_CHANNEL_MESSAGE,
    MESSAGE_COMPONENT,
    MODAL_SUBMIT,
    InteractionError,
    InteractionTimeout,
    OptionBuilder,
    PendingInteraction,
    Reply,
    find_command,
    find_component,
    interaction_payload,
    modal_submission,
    new_token,
)
from .ratelimit import EmulatorLimits
from .rest import RestApi
from .server import EmulatorServer, RequestRecord
from .state import (
    BOT_ROLE_PERMISSIONS,
    DEFAULT_EVERYONE_PERMISSIONS,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    VIEW_CHANNEL,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    User,
    parse_emoji,
    utcnow,
)

T = TypeVar("T")


class StoryRole:
    def __init__(self, guild: StoryGuild, role: Role) -> None:
        self.guild = guild
        self.target = role

    @property
    def id(self) -> int:
        return self.target.id

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def members(self) -> list[StoryMember]:
        return [m for m in self.guild.members if self.id in m.target.role_ids]

    def __repr__(self) -> str:
        return f"<StoryRole {self.name} id={self.id} position={self.target.position}>"


class StoryChannel:
    def __init__(self, emu: DiscordEmulator, channel: Channel) -> None:
        self.emu = emu
        self.target = channel

    @property
    def id(self) -> int:
        return self.target.id

    @property
    def name(self) -> str | None:
        return self.target.name

    @property
    def messages(self) -> list[Message]:
        """Visible messages, oldest first."""
        return self.emu.world.channel_messages(self.target)

    @property
    def last_message(self) -> Message | None:
        messages = self.messages
        return messages[-1] if messages else None

    def __repr__(self) -> str:
        return f"<StoryChannel #{self.name} id={self.id} type={self.target.type}>"


class StoryMember:
    """A guild member who can run commands, fill modals, click buttons, react and talk."""

    def __init__(self, guild: StoryGuild, member: Member) -> None:
        self.guild = guild
        self.emu = guild.emu
        self.target = member

    @property
    def id(self) -> int:
        return self.target.id

    @property
    def user(self) -> User:
        return self.target.user

    @property
    def name(self) -> str:
        return self.target.user.username

    @property
    def role_ids(self) -> list[int]:
        return list(self.target.role_ids)

    @property
    def roles(self) -> list[StoryRole]:
        return [self.guild.role(r) for r in self.target.role_ids if r in self.guild.target.roles]

    def has_role(self, role: StoryRole | Role | str | int) -> bool:
        return self.guild.role(role).id in self.target.role_ids

    @property
    def locale(self) -> str:
        return self.target.user.locale

    @locale.setter
    def locale(self, value: str) -> None:
        """The member switches their Discord client's language; later interactions carry it."""
        self.target.user.locale = value

    @property
    def dms(self) -> list[Message]:
        return self.emu.dms_to(self)

    def __repr__(self) -> str:
        return f"<StoryMember {self.name} id={self.id}>"

    # --- interactions -------------------------------------------------------------------

    async def run(
        self,
        command: str,
        *,
        channel: StoryChannel | Channel | str | int | None = None,
        timeout: float | None = None,
        options: dict[str, Any] | None = None,
        forged: bool = False,
        **values: Any,
    ) -> Reply:
        """Runs a slash command ("/idea submit") with options given as keyword arguments.
        `forged=True` sends values Discord would refuse (unknown choices, numbers out of range)."""
        where = self.emu.channel(channel) if channel is not None else self.guild.default_channel
        guild_id = where.target.guild_id
        path = command.lstrip("/").split()
        synced, rest = find_command(self.emu.world, guild_id, path)
        all_values = {**(options or {}), **values}
        builder = OptionBuilder(self.emu.world, guild_id, where.id, forged=forged)
        data: dict[str, Any] = {
            "id": str(synced.id),
            "name": synced.name,
            "type": 1,
            "options": builder.build(synced, rest, all_values),
        }
        if builder.resolved:
            data["resolved"] = builder.resolved
        if synced.guild_id is not None:
            data["guild_id"] = str(synced.guild_id)
        pending = self.emu.new_interaction(APPLICATION_COMMAND, self.user, guild_id, where.id, name=" ".join(path))
        return await self.emu.send_interaction(pending, data, timeout=timeout)

    async def submit_modal(self, reply: Reply, *, timeout: float | None = None, **values: str) -> Reply:
        """Fills the modal the bot answered with (fields by custom_id) and submits it."""
        if reply.modal is None:
            raise InteractionError(f"the bot answered with no modal (response type {reply.response_type})")
        previous = reply.source
        channel_id = previous.channel_id if previous else self.guild.default_channel.id
        guild_id = previous.guild_id if previous else self.guild.id
        data = {"custom_id": reply.modal["custom_id"], "components": modal_submission(reply.modal, values)}
        pending = self.emu.new_interaction(MODAL_SUBMIT, self.user, guild_id, channel_id, name="modal")
        pending.source_message = previous.source_message if previous else None
        return await self.emu.send_interaction(pending, data, timeout=timeout, message=pending.source_message)

    async def click(
        self,
        message: Message | Reply,
        custom_id: str | None = None,
        *,
        label: str | None = None,
        values: list[str] | None = None,
        timeout: float | None = None,
    ) -> Reply:
        """Clicks a button (by custom_id or label) or picks `values` in a select menu."""
        target = message.message if isinstance(message, Reply) else message
        if target is None:
            raise InteractionError("that reply has no message to click on")
        if custom_id is None and label is None:
            raise InteractionError("click() needs custom_id= or label=")
        component = find_component(target, custom_id, label)
        if component.get("disabled"):
            raise InteractionError(f"component {component.get('custom_id')!r} is disabled")
        if "custom_id" not in component:
            raise InteractionError("link buttons cannot be clicked by a bot test")
        data: dict[str, Any] = {"custom_id": component["custom_id"], "component_type": component["type"]}
        if component["type"] != 2:
            data["values"] = list(values or [])
        pending = self.emu.new_interaction(
            MESSAGE_COMPONENT, self.user, target.guild_id, target.channel_id, name=component["custom_id"]
        )
        pending.source_message = target
        return await self.emu.send_interaction(pending, data, timeout=timeout, message=target)

    # --- other actions ------------------------------------------------------------------

    async def react(self, message: Message | Reply, emoji: str) -> None:
        target = _message_of(message)
        await self.emu.add_reaction(target, parse_emoji(emoji)[0], self.id)

    async def unreact(self, message: Message | Reply, emoji: str) -> None:
        target = _message_of(message)
        await self.emu.remove_reaction(target, parse_emoji(emoji)[0], self.id)

    async def say(self, content: str, *, channel: StoryChannel | Channel | str | int | None = None) -> Message:
        """Posts a plain message as this member (dispatches MESSAGE_CREATE)."""
        where = self.emu.channel(channel) if channel is not None else self.guild.default_channel
        message = Message(
            id=self.emu.world.new_id(),
            channel_id=where.id,
            guild_id=where.target.guild_id,
            author=self.user,
            content=content,
        )
        return await self.emu.rest.post_message(message)


def _message_of(message: Message | Reply) -> Message:
    target = message.message if isinstance(message, Reply) else message
    if target is None:
        raise InteractionError("that reply has no message")
    return target


class StoryGuild:
    def __init__(self, emu: DiscordEmulator, guild: Guild) -> None:
        self.emu = emu
        self.target = guild

    @property
    def id(self) -> int:
        return self.target.id

    @property
    def name(self) -> str:
        return self.target.name

    @property
    def everyone(self) -> StoryRole:
        return StoryRole(self, self.target.everyone)

    @property
    def bot_member(self) -> StoryMember:
        return StoryMember(self, self.target.members[self.emu.world.bot.id])

    @property
    def bot_role(self) -> StoryRole:
        return self.role("ideabot")

    @property
    def members(self) -> list[StoryMember]:
        return [StoryMember(self, m) for m in self.target.members.values()]

    @property
    def channels(self) -> list[StoryChannel]:
        return [StoryChannel(self.emu, c) for c in self.emu.world.guild_channels(self.target)]

    @property
    def default_channel(self) -> StoryChannel:
        for channel in self.emu.world.guild_channels(self.target):
            if channel.type == 0:
                return StoryChannel(self.emu, channel)
        return self.create_text_channel("general")

    def create_text_channel(
        self, name: str, *, topic: str | None = None, visible_to: list[StoryRole] | None = None
    ) -> StoryChannel:
        """A text channel; with `visible_to`, a private one: @everyone may not view it, those roles
        and the bot's role may (permission overwrites, as Server Settings would write them)."""
        overwrites: list[dict[str, Any]] = []
        if visible_to is not None:
            see = VIEW_CHANNEL | SEND_MESSAGES | READ_MESSAGE_HISTORY
            overwrites.append({"id": str(self.id), "type": 0, "allow": "0", "deny": str(VIEW_CHANNEL)})
            for role in [*visible_to, self.bot_role]:
                overwrites.append({"id": str(role.id), "type": 0, "allow": str(see), "deny": "0"})
        channel = self.emu.world.create_channel(self.target, name.lstrip("#"), topic=topic, overwrites=overwrites)
        return StoryChannel(self.emu, channel)

    def channel(self, ref: str | int) -> StoryChannel:
        for channel in self.emu.world.guild_channels(self.target):
            if channel.id == ref or (isinstance(ref, str) and channel.name == ref.lstrip("#")):
                return StoryChannel(self.emu, channel)
        raise KeyError(f"no channel {ref!r} in {self.name}")

    def create_role(
        self,
        name: str,
        *,
        permissions: int = 0,
        position: int | None = None,
        color: int = 0,
        hoist: bool = False,
        mentionable: bool = False,
    ) -> StoryRole:
        """A role; by default placed just above the existing ones but below the bot's role."""
        roles = self.target.roles
        if position is None:
            bot_role = next((r for r in roles.values() if r.bot_id is not None), None)
            position = bot_role.position if bot_role else max(r.position for r in roles.values()) + 1
        for role in roles.values():  # make room, as Discord does when a role is inserted
            if role.position >= position and role.id != self.id:
                role.position += 1
        role = Role(
            id=self.emu.world.new_id(),
            guild_id=self.id,
            name=name,
            permissions=permissions,
            position=position,
            color=color,
            hoist=hoist,
            mentionable=mentionable,
        )
        roles[role.id] = role
        return StoryRole(self, role)

    async def create_role_live(self, name: str, **kwargs: Any) -> StoryRole:
        """A role created while the bot is connected: dispatches GUILD_ROLE_CREATE, and
        GUILD_ROLE_UPDATE for the roles it pushed up, as Discord does."""
        positions = {role.id: role.position for role in self.target.roles.values()}
        role = self.create_role(name, **kwargs)
        await self.emu.dispatch("GUILD_ROLE_CREATE", {"guild_id": str(self.id), "role": role.target.to_payload()})
        for moved in self.target.roles.values():
            if moved.id in positions and moved.position != positions[moved.id]:
                await self.emu.dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(self.id), "role": moved.to_payload()})
        return role

    async def update_role_live(
        self, role: StoryRole | Role | str | int, *, permissions: int | None = None
    ) -> StoryRole:
        """Changes a role as an admin would in Server Settings (dispatches GUILD_ROLE_UPDATE)."""
        story_role = self.role(role)
        if permissions is not None:
            story_role.target.permissions = permissions
        await self.emu.dispatch("GUILD_ROLE_UPDATE", {"guild_id": str(self.id), "role": story_role.target.to_payload()})
        return story_role

    def role(self, ref: StoryRole | Role | str | int) -> StoryRole:
        if isinstance(ref, StoryRole):
            return ref
        if isinstance(ref, Role):
            return StoryRole(self, ref)
        for role in self.target.roles.values():
            if role.id == ref or role.name == ref:
                return StoryRole(self, role)
        raise KeyError(f"no role {ref!r} in {self.name}")

    def add_member(
        self,
        name: str,
        *,
        account_age: timedelta = timedelta(days=365),
        joined_ago: timedelta = timedelta(days=30),
        roles: list[StoryRole | Role | str | int] | None = None,
        dms_open: bool = True,
        nick: str | None = None,
        locale: str = "en-US",
    ) -> StoryMember:
        user = self.emu.world.create_user(name, age=account_age)
        user.locale = locale
        member = Member(
            user=user,
            guild_id=self.id,
            role_ids=[self.role(r).id for r in roles or []],
            nick=nick,
            joined_at=utcnow() - joined_ago,
            dms_open=dms_open,
        )
        self.target.members[user.id] = member
        return StoryMember(self, member)

    def member(self, ref: StoryMember | str | int) -> StoryMember:
        if isinstance(ref, StoryMember):
            return ref
        for member in self.target.members.values():
            if member.id == ref or member.user.username == ref:
                return StoryMember(self, member)
        raise KeyError(f"no member {ref!r} in {self.name}")

    async def add_member_live(self, name: str, **kwargs: Any) -> StoryMember:
        """Adds a member and dispatches GUILD_MEMBER_ADD (needs the GUILD_MEMBERS intent)."""
        member = self.add_member(name, joined_ago=kwargs.pop("joined_ago", timedelta(0)), **kwargs)
        payload = {**member.target.to_payload(), "guild_id": str(self.id)}
        await self.emu.dispatch("GUILD_MEMBER_ADD", payload)
        return member

    async def remove_member(self, member: StoryMember | str | int) -> None:
        """Removes a member and dispatches GUILD_MEMBER_REMOVE."""
        story_member = self.member(member)
        self.target.members.pop(story_member.id, None)
        payload = {"guild_id": str(self.id), "user": story_member.user.to_payload()}
        await self.emu.dispatch("GUILD_MEMBER_REMOVE", payload)

    async def set_roles(self, member: StoryMember | str | int, roles: list[StoryRole | Role | str | int]) -> None:
        """Changes a member's roles as a moderator would (dispatches GUILD_MEMBER_UPDATE)."""
        story_member = self.member(member)
        story_member.target.role_ids = [self.role(r).id for r in roles]
        await self.emu.member_updated(self.target, story_member.target)

    def __repr__(self) -> str:
        return f"<StoryGuild {self.name} id={self.id}>"


class DiscordEmulator(EmulatorServer):
    """A local Discord (REST + gateway) with a story API for tests and the demo."""

    def __init__(
        self,
        *,
        limits: EmulatorLimits | None = None,
        heartbeat_interval: int = 41250,
        require_token: str | None = None,
        interaction_ack_timeout: float = 3.0,
        reply_timeout: float = 5.0,
        validate_spec: bool = True,
        gateway_limits: GatewayLimits | None = None,
    ) -> None:
        super().__init__(
            limits=limits,
            heartbeat_interval=heartbeat_interval,
            require_token=require_token,
            interaction_ack_timeout=interaction_ack_timeout,
            validate_spec=validate_spec,
            gateway_limits=gateway_limits,
        )
        self.reply_timeout = reply_timeout
        self.rest = RestApi(self)

    async def __aenter__(self) -> DiscordEmulator:
        await self.start()
        return self

    # --- building the world -------------------------------------------------------------

    @property
    def bot_user(self) -> User:
        return self.world.bot

    @property
    def application_id(self) -> int:
        return self.world.application_id

    def create_guild(
        self,
        name: str,
        *,
        owner: str = "owner",
        created_ago: timedelta = timedelta(days=700),
        shard: tuple[int, int] | None = None,
        locale: str = "en-US",
    ) -> StoryGuild:
        """A guild with @everyone, an owner, and the bot with its "ideabot" role near the top.
        `locale` is its preferred locale (Server Settings → Community → Overview).

        `shard=(shard_id, shard_count)` picks a creation time (a few milliseconds earlier at
        most) whose id that shard owns.
        """
        world = self.world
        created = utcnow() - created_ago
        guild_id = world.new_id(created)
        if shard is not None:
            shard_id, shard_count = shard
            if shard_count < 1 or not 0 <= shard_id < shard_count:
                raise ValueError(f"invalid shard {shard!r}")
            while shard_for(guild_id, shard_count) != shard_id:
                created -= timedelta(milliseconds=1)
                guild_id = world.new_id(created)
        owner_user = world.create_user(owner, age=created_ago + timedelta(days=100))
        guild = Guild(id=guild_id, name=name, owner_id=owner_user.id, created_at=created, locale=locale)
        guild.roles[guild_id] = Role(
            id=guild_id, guild_id=guild_id, name="@everyone", permissions=DEFAULT_EVERYONE_PERMISSIONS, position=0
        )
        bot_role = Role(
            id=world.new_id(),
            guild_id=guild_id,
            name=world.application_name,
            permissions=BOT_ROLE_PERMISSIONS,
            position=1,
            managed=True,
            bot_id=world.bot.id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.members[owner_user.id] = Member(user=owner_user, guild_id=guild_id, joined_at=guild.created_at)
        guild.members[world.bot.id] = Member(
            user=world.bot, guild_id=guild_id, role_ids=[bot_role.id], joined_at=utcnow() - timedelta(days=1)
        )
        world.guilds[guild_id] = guild
        return StoryGuild(self, guild)

    def guild(self, ref: str | int | None = None) -> StoryGuild:
        for guild in self.world.guilds.values():
            if ref is None or guild.id == ref or guild.name == ref:
                return StoryGuild(self, guild)
        raise KeyError(f"no guild {ref!r}")

    # --- reading the world --------------------------------------------------------------

    def channel(self, ref: StoryChannel | Channel | str | int) -> StoryChannel:
        if isinstance(ref, StoryChannel):
            return ref
        if isinstance(ref, Channel):
            return StoryChannel(self, ref)
        if isinstance(ref, int):
            if ref in self.world.channels:
                return StoryChannel(self, self.world.channels[ref])
            raise KeyError(f"no channel {ref}")
        name = ref.lstrip("#")
        for channel in self.world.channels.values():
            if channel.name == name:
                return StoryChannel(self, channel)
        raise KeyError(f"no channel {ref!r}")

    def messages_in(self, channel: StoryChannel | Channel | str | int) -> list[Message]:
        return self.channel(channel).messages

    def message(self, message_id: int) -> Message:
        return self.world.messages[message_id]

    def dm_channel(self, member: StoryMember | User | int) -> StoryChannel:
        user = self._user(member)
        return StoryChannel(self, self.world.dm_channel(user))

    def dms_to(self, member: StoryMember | User | int) -> list[Message]:
        user = self._user(member)
        channel_id = self.world.dm_channel_by_user.get(user.id)
        if channel_id is None:
            return []
        return self.world.channel_messages(self.world.channels[channel_id])

    def thread_of(self, message: Message | Reply) -> StoryChannel | None:
        target = _message_of(message)
        if target.thread_id is None:
            return None
        return StoryChannel(self, self.world.channels[target.thread_id])

    def reactions_on(self, message: Message | Reply, emoji: str) -> list[int]:
        return list(_message_of(message).reactions.get(parse_emoji(emoji)[0], []))

    def requests_to(self, method: str, template: str, **params: str) -> list[RequestRecord]:
        """Logged requests for a route, optionally filtered by path parameters."""
        return [
            r
            for r in self.requests
            if r.method == method.upper()
            and r.template == template
            and all(r.params.get(k) == str(v) for k, v in params.items())
        ]

    def _user(self, ref: StoryMember | User | int) -> User:
        if isinstance(ref, StoryMember):
            return ref.user
        if isinstance(ref, User):
            return ref
        return self.world.users[ref]

    async def wait_for(
        self, condition: Callable[[], T | Awaitable[T]], *, timeout: float = 5.0, interval: float = 0.01
    ) -> T:
        """Polls `condition` until it returns something truthy; raises AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            result = condition()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            if time.monotonic() >= deadline:
                raise AssertionError(f"condition not met within {timeout}s")
            await asyncio.sleep(interval)

    async def wait_until_connected(self, timeout: float = 5.0, *, shard: int | None = None) -> None:
        """Until the bot's gateway socket is up (shard 0's, or the given shard's)."""
        if shard is None:
            await self.wait_for(lambda: self.gateway.connected, timeout=timeout)
        else:
            await self.wait_for(lambda: self.gateway.shard_connected(shard), timeout=timeout)

    # --- interactions -------------------------------------------------------------------

    def new_interaction(
        self, kind: int, user: User, guild_id: int | None, channel_id: int, *, name: str = ""
    ) -> PendingInteraction:
        pending = PendingInteraction(
            id=self.world.new_id(),
            token=new_token(),
            type=kind,
            user=user,
            guild_id=guild_id,
            channel_id=channel_id,
            created=time.monotonic(),
            name=name,
        )
        self.interactions[pending.id] = pending
        return pending

    async def send_interaction(
        self,
        pending: PendingInteraction,
        data: dict[str, Any],
        *,
        timeout: float | None = None,
        message: Message | None = None,
    ) -> Reply:
        """Dispatches INTERACTION_CREATE and waits for the bot's answer (and a deferral's follow-up)."""
        payload = interaction_payload(self.world, pending, data, message=message)
        pending.created = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload, in_guild=pending.guild_id is not None)
        limit = self.reply_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        what = f"{pending.name!r} by {pending.user.username}"
        try:
            await asyncio.wait_for(pending.answered.wait(), timeout=limit)
        except TimeoutError:
            hint = "" if self.gateway.serves(pending.guild_id) else " (no gateway connection: is the bot running?)"
            raise InteractionTimeout(f"the bot did not answer {what} within {limit}s{hint}") from None
        if pending.reply.response_type == DEFERRED_CHANNEL_MESSAGE or not pending.settled.is_set():
            remaining = max(deadline - time.monotonic(), 0.01)
            try:
                await asyncio.wait_for(pending.settled.wait(), timeout=remaining)
            except TimeoutError:
                raise InteractionTimeout(f"the bot deferred {what} but never followed up within {limit}s") from None
        return pending.reply
