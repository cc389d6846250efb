"""Interactions: building INTERACTION_CREATE payloads from synced commands, and tracking answers.

A test says `await alice.run("/idea submit", title="x")`; this module finds the synced command,
checks and converts the options (members, roles and channels become ids plus `resolved`
entries), and follows the interaction until the bot has answered it.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from .state import (
    FLAG_EPHEMERAL,
    ApplicationCommand,
    Channel,
    Member,
    Message,
    Role,
    User,
    World,
)

# Interaction types.
APPLICATION_COMMAND = 2
MESSAGE_COMPONENT = 3
MODAL_SUBMIT = 5

# Callback types.
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
MODAL = 9

# Option types.
SUB_COMMAND = 1
SUB_COMMAND_GROUP = 2
STRING = 3
INTEGER = 4
BOOLEAN = 5
USER = 6
CHANNEL = 7
ROLE = 8
MENTIONABLE = 9
NUMBER = 10


class InteractionError(Exception):
    """A test asked for an interaction the bot's synced commands or components cannot take."""


class InteractionTimeout(AssertionError):
    """The bot did not answer an interaction in time."""


@dataclass
class Reply:
    """What the bot answered to one interaction, as the user would see it."""

    interaction_id: int
    response_type: int | None = None
    message: Message | None = None
    modal: dict[str, Any] | None = None
    followups: list[Message] = field(default_factory=list)
    channel_id: int | None = None
    source: PendingInteraction | None = field(default=None, repr=False)

    @property
    def ack_seconds(self) -> float | None:
        """From dispatching the interaction to the bot's first callback (Discord's 3 s deadline)."""
        if self.source is None or self.source.acknowledged_at is None:
            return None
        return self.source.acknowledged_at - self.source.created

    @property
    def content(self) -> str:
        if self.message is not None and self.message.content:
            return self.message.content
        for followup in self.followups:
            if followup.content:
                return followup.content
        return self.message.content if self.message is not None else ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        if self.message is not None and self.message.embeds:
            return self.message.embeds
        for followup in self.followups:
            if followup.embeds:
                return followup.embeds
        return []

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.message.components if self.message is not None else []

    @property
    def ephemeral(self) -> bool:
        if self.message is not None:
            return self.message.ephemeral
        return bool(self.followups) and self.followups[0].ephemeral

    @property
    def deferred(self) -> bool:
        return self.response_type in (DEFERRED_CHANNEL_MESSAGE, DEFERRED_UPDATE_MESSAGE)

    @property
    def text(self) -> str:
        """Content plus every embed's title, description and fields: handy for `in` checks."""
        parts = [self.content]
        for message in [m for m in [self.message, *self.followups] if m is not None]:
            parts.append(message.content)
            parts.extend(embed_text(embed) for embed in message.embeds)
        return "\n".join(p for p in parts if p)


def embed_text(embed: dict[str, Any]) -> str:
    parts = [str(embed.get(key, "")) for key in ("title", "description")]
    for item in embed.get("fields", []):
        parts.extend([str(item.get("name", "")), str(item.get("value", ""))])
    footer = embed.get("footer") or {}
    parts.append(str(footer.get("text", "")))
    return "\n".join(p for p in parts if p)


@dataclass
class PendingInteraction:
    """Server-side record of one interaction: its token, deadline and the answers so far."""

    id: int
    token: str
    type: int
    user: User
    guild_id: int | None
    channel_id: int
    created: float
    name: str = ""
    source_message: Message | None = None
    acknowledged: bool = False
    acknowledged_at: float | None = None  # monotonic, when the first callback arrived
    reply: Reply = field(init=False)
    answered: asyncio.Event = field(default_factory=asyncio.Event)
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.reply = Reply(interaction_id=self.id, channel_id=self.channel_id, source=self)

    @property
    def original(self) -> Message | None:
        return self.reply.message


def new_token() -> str:
    return "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)


def find_command(world: World, guild_id: int | None, path: list[str]) -> tuple[ApplicationCommand, list[str]]:
    """The synced chat-input command for `/name sub ...`, and the remaining path words."""
    if not path:
        raise InteractionError("empty command")
    candidates = list(world.guild_commands.get(guild_id, [])) if guild_id is not None else []
    candidates += world.global_commands
    for command in candidates:
        if command.type == 1 and command.name == path[0]:
            return command, path[1:]
    synced = sorted({c.name for c in candidates}) or ["<none: did the bot sync its command tree?>"]
    raise InteractionError(f"no synced command /{path[0]}; synced: {', '.join(synced)}")


class OptionBuilder:
    """Turns Python keyword values into Discord option payloads plus `resolved` data."""

    def __init__(self, world: World, guild_id: int | None, channel_id: int, *, forged: bool = False) -> None:
        self.world = world
        self.guild_id = guild_id
        self.channel_id = channel_id
        # Forged: values sent as a modified client could, past the checks Discord makes against
        # the synced schema (choices, number ranges, string lengths). Types are still checked.
        self.forged = forged
        self.resolved: dict[str, dict[str, Any]] = {}

    def build(self, command: ApplicationCommand, rest: list[str], values: dict[str, Any]) -> list[dict[str, Any]]:
        return self._level(f"/{command.name}", command.options, rest, values)

    def _level(
        self, label: str, schema: list[dict[str, Any]], rest: list[str], values: dict[str, Any]
    ) -> list[dict[str, Any]]:
        nested = [o for o in schema if o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP)]
        if nested:
            if not rest:
                names = ", ".join(o["name"] for o in nested)
                raise InteractionError(f"{label} needs a subcommand: {names}")
            for option in nested:
                if option["name"] == rest[0]:
                    inner = self._level(f"{label} {rest[0]}", option.get("options", []), rest[1:], values)
                    return [{"type": option["type"], "name": option["name"], "options": inner}]
            names = ", ".join(o["name"] for o in nested)
            raise InteractionError(f"{label} has no subcommand {rest[0]!r}; it has: {names}")
        if rest:
            raise InteractionError(f"{label} has no subcommand {rest[0]!r}")
        known = {o["name"]: o for o in schema}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise InteractionError(f"{label} has no option(s) {unknown}; options: {sorted(known)}")
        options: list[dict[str, Any]] = []
        for option in schema:
            name = option["name"]
            if name not in values or values[name] is None:
                if option.get("required"):
                    raise InteractionError(f"{label}: required option {name!r} missing")
                continue
            options.append({"type": option["type"], "name": name, "value": self._value(label, option, values[name])})
        return options

    def _value(self, label: str, option: dict[str, Any], value: Any) -> Any:
        kind = option["type"]
        name = option["name"]
        if kind == STRING:
            if not isinstance(value, str):
                raise InteractionError(f"{label}: option {name!r} takes a string, got {value!r}")
            too_long = len(value) > option.get("max_length", 6000)
            if not self.forged and (too_long or len(value) < option.get("min_length", 0)):
                raise InteractionError(f"{label}: option {name!r} length {len(value)} out of bounds")
        elif kind == INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                raise InteractionError(f"{label}: option {name!r} takes an integer, got {value!r}")
        elif kind == NUMBER:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InteractionError(f"{label}: option {name!r} takes a number, got {value!r}")
        elif kind == BOOLEAN:
            if not isinstance(value, bool):
                raise InteractionError(f"{label}: option {name!r} takes a bool, got {value!r}")
        elif kind in (USER, CHANNEL, ROLE, MENTIONABLE):
            return self._resolve(label, option, value)
        if self.forged:
            return value
        choices = option.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            allowed = [c["value"] for c in choices]
            raise InteractionError(f"{label}: option {name!r} must be one of {allowed}, got {value!r}")
        if kind in (INTEGER, NUMBER):
            if "min_value" in option and value < option["min_value"]:
                raise InteractionError(f"{label}: option {name!r} below {option['min_value']}")
            if "max_value" in option and value > option["max_value"]:
                raise InteractionError(f"{label}: option {name!r} above {option['max_value']}")
        return value

    def _resolve(self, label: str, option: dict[str, Any], value: Any) -> str:
        target = getattr(value, "target", value)  # story handles wrap state objects in .target
        kind = option["type"]
        if isinstance(target, Member) and kind in (USER, MENTIONABLE):
            self._add_user(target.user)
            guild = self.world.guilds[target.guild_id]
            members = self.resolved.setdefault("members", {})
            members[str(target.id)] = target.to_payload(with_user=False, permissions=guild.base_permissions(target))
            return str(target.id)
        if isinstance(target, User) and kind in (USER, MENTIONABLE):
            self._add_user(target)
            return str(target.id)
        if isinstance(target, Role) and kind in (ROLE, MENTIONABLE):
            self.resolved.setdefault("roles", {})[str(target.id)] = target.to_payload()
            return str(target.id)
        if isinstance(target, Channel) and kind == CHANNEL:
            types = option.get("channel_types")
            if types and target.type not in types:
                raise InteractionError(f"{label}: option {option['name']!r} takes channel types {types}")
            payload = self.world.channel_payload(target)
            payload["permissions"] = str(self.world.bot_permissions(target.guild_id))
            self.resolved.setdefault("channels", {})[str(target.id)] = payload
            return str(target.id)
        raise InteractionError(f"{label}: option {option['name']!r} (type {kind}) cannot take {value!r}")

    def _add_user(self, user: User) -> None:
        self.resolved.setdefault("users", {})[str(user.id)] = user.to_payload()


def interaction_payload(
    world: World,
    pending: PendingInteraction,
    data: dict[str, Any],
    *,
    message: Message | None = None,
) -> dict[str, Any]:
    """A full INTERACTION_CREATE payload for a member (guild) or a user (DM)."""
    channel = world.channels[pending.channel_id]
    channel_payload = world.channel_payload(channel)
    payload: dict[str, Any] = {
        "id": str(pending.id),
        "application_id": str(world.application_id),
        "type": pending.type,
        "data": data,
        "channel_id": str(channel.id),
        "channel": channel_payload,
        "token": pending.token,
        "version": 1,
        "locale": pending.user.locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "attachment_size_limit": 10 * 1024 * 1024,
        "app_permissions": str(world.bot_permissions(pending.guild_id)),
    }
    if pending.guild_id is not None:
        guild = world.guilds[pending.guild_id]
        member = guild.members[pending.user.id]
        payload["guild_id"] = str(guild.id)
        payload["guild_locale"] = guild.locale
        payload["guild"] = {"id": str(guild.id), "locale": guild.locale, "features": []}
        payload["member"] = member.to_payload(permissions=guild.base_permissions(member))
        payload["authorizing_integration_owners"] = {"0": str(guild.id)}
        payload["context"] = 0
        channel_payload["permissions"] = payload["member"]["permissions"]
    else:
        payload["user"] = pending.user.to_payload()
        payload["authorizing_integration_owners"] = {"0": str(world.owner.id)}
        payload["context"] = 1
    if message is not None:
        payload["message"] = world.message_payload(message)
    return payload


def modal_submission(modal: dict[str, Any], values: dict[str, str]) -> list[dict[str, Any]]:
    """Mirrors the modal's components back with values, as Discord's client submits them."""
    remaining = dict(values)
    known: list[str] = []

    def fill(component: dict[str, Any]) -> dict[str, Any] | None:
        kind = component.get("type")
        if kind == 1:
            inner = [c for c in (fill(child) for child in component.get("components", [])) if c is not None]
            return {"type": 1, "components": inner}
        if kind == 18:
            child = fill(component["component"])
            return {"type": 18, "component": child} if child is not None else None
        if kind == 4:
            custom_id = component["custom_id"]
            known.append(custom_id)
            value = remaining.pop(custom_id, None)
            if value is None:
                value = component.get("value") or ""
            if component.get("required", True) and not value:
                raise InteractionError(f"modal field {custom_id!r} is required")
            max_length = component.get("max_length", 4000)
            if len(value) > max_length or (value and len(value) < component.get("min_length", 0)):
                raise InteractionError(f"modal field {custom_id!r}: length {len(value)} out of bounds")
            return {"type": 4, "custom_id": custom_id, "value": value}
        return None

    submitted = [c for c in (fill(component) for component in modal.get("components", [])) if c is not None]
    if remaining:
        raise InteractionError(f"modal has no field(s) {sorted(remaining)}; fields: {known}")
    return submitted


def find_component(message: Message, custom_id: str | None, label: str | None) -> dict[str, Any]:
    for component in message.buttons():
        if custom_id is not None and component.get("custom_id") == custom_id:
            return component
        if label is not None and component.get("label") == label:
            return component
    shown = [(c.get("label"), c.get("custom_id")) for c in message.buttons()]
    raise InteractionError(f"message {message.id} has no component {custom_id or label!r}; it has {shown}")


def is_expired(pending: PendingInteraction, ack_timeout: float) -> bool:
    return time.monotonic() - pending.created > ack_timeout


def ephemeral_flag(flags: int | None) -> bool:
    return bool((flags or 0) & FLAG_EPHEMERAL)
