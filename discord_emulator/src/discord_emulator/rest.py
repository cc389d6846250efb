"""The REST routes, answered with the shapes, status codes and error codes Discord uses."""

from __future__ import annotations

import bisect
import time
from datetime import timedelta
from typing import Any

from .interactions import (
    APPLICATION_COMMAND,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    MESSAGE_COMPONENT,
    MODAL,
    UPDATE_MESSAGE,
    PendingInteraction,
    is_expired,
)
from .server import ApiError, ApiRequest, ApiResponse, EmulatorServer, UploadedFile
from .state import (
    ADD_REACTIONS,
    ADMINISTRATOR,
    ATTACH_FILES,
    CREATE_PUBLIC_THREADS,
    EMBED_LINKS,
    FLAG_EPHEMERAL,
    FLAG_HAS_THREAD,
    FLAG_LOADING,
    MANAGE_MESSAGES,
    MANAGE_ROLES,
    PUBLIC_THREAD,
    READ_MESSAGE_HISTORY,
    SEND_MESSAGES,
    SEND_MESSAGES_IN_THREADS,
    VIEW_CHANNEL,
    ApplicationCommand,
    Attachment,
    Channel,
    Guild,
    Member,
    Message,
    Role,
    parse_emoji,
    utcnow,
)

# Flags a bot may set when sending: SUPPRESS_EMBEDS, EPHEMERAL, SUPPRESS_NOTIFICATIONS, IS_COMPONENTS_V2.
_SETTABLE_FLAGS = (1 << 2) | FLAG_EPHEMERAL | (1 << 12) | (1 << 15)
INTERACTION_TOKEN_LIFETIME = 15 * 60.0
# Discord checks a message nonce for uniqueness "in the past few minutes".
NONCE_WINDOW = timedelta(minutes=5)


def unknown(what: str, code: int) -> ApiError:
    return ApiError(404, code, f"Unknown {what}")


def missing_permissions() -> ApiError:
    return ApiError(403, 50013, "Missing Permissions")


def invalid_form(field: str, message: str, code: str = "BASE_TYPE_INVALID") -> ApiError:
    errors = {field: {"_errors": [{"code": code, "message": message}]}}
    return ApiError(400, 50035, "Invalid Form Body", errors)


def ok(body: Any = None, status: int = 200) -> ApiResponse:
    if body is None:
        return ApiResponse(status=204)
    return ApiResponse(status=status, body=body)


def snowflake(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


class RestApi:
    """Registers every route on the server and implements them against its world."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.world = server.world
        add = server.add_route
        add("GET", "/users/@me", self.get_me)
        add("GET", "/users/{user_id}", self.get_user)
        add("GET", "/oauth2/applications/@me", self.get_application)
        add("GET", "/applications/@me", self.get_application)
        add("GET", "/gateway", self.get_gateway, needs_bot_token=False)
        add("GET", "/gateway/bot", self.get_gateway_bot)
        add("PUT", "/applications/{application_id}/commands", self.put_commands)
        add("GET", "/applications/{application_id}/commands", self.get_commands)
        add("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self.put_commands)
        add("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self.get_commands)
        add("GET", "/channels/{channel_id}", self.get_channel)
        add("POST", "/channels/{channel_id}/typing", self.typing)
        add("POST", "/channels/{channel_id}/messages", self.create_message)
        add("GET", "/channels/{channel_id}/messages", self.list_messages)
        add("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message)
        add("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message)
        add("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message)
        reactions = "/channels/{channel_id}/messages/{message_id}/reactions"
        add("PUT", reactions + "/{emoji_name}/@me", self.add_own_reaction)
        add("DELETE", reactions + "/{emoji_name}/@me", self.remove_own_reaction)
        add("DELETE", reactions + "/{emoji_name}/{user_id}", self.remove_user_reaction)
        add("GET", reactions + "/{emoji_name}", self.list_reactions)
        add("DELETE", reactions + "/{emoji_name}", self.clear_emoji_reactions)
        add("DELETE", reactions, self.clear_reactions)
        add("POST", "/channels/{channel_id}/messages/{message_id}/threads", self.create_thread_from_message)
        add("POST", "/channels/{channel_id}/threads", self.create_thread)
        add("POST", "/users/@me/channels", self.open_dm)
        add("GET", "/guilds/{guild_id}", self.get_guild)
        add("GET", "/guilds/{guild_id}/roles", self.get_roles)
        add("GET", "/guilds/{guild_id}/channels", self.get_guild_channels)
        add("GET", "/guilds/{guild_id}/members", self.list_members)
        add("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member)
        add("PUT", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.add_member_role)
        add("DELETE", "/guilds/{guild_id}/members/{user_id}/roles/{role_id}", self.remove_member_role)
        add("POST", "/interactions/{interaction_id}/{interaction_token}/callback", self.callback, needs_bot_token=False)
        webhook = "/webhooks/{webhook_id}/{webhook_token}"
        add("POST", webhook, self.execute_webhook, needs_bot_token=False)
        for suffix in ("/messages/@original", "/messages/{message_id}"):
            add("GET", webhook + suffix, self.get_webhook_message, needs_bot_token=False)
            add("PATCH", webhook + suffix, self.edit_webhook_message, needs_bot_token=False)
            add("DELETE", webhook + suffix, self.delete_webhook_message, needs_bot_token=False)

    # --- lookups ------------------------------------------------------------------------

    def channel(self, request: ApiRequest) -> Channel:
        channel = self.world.channels.get(snowflake(request.params["channel_id"]))
        if channel is None:
            raise unknown("Channel", 10003)
        if channel.guild_id is not None and not self.bot_can(channel.guild_id, VIEW_CHANNEL):
            raise ApiError(403, 50001, "Missing Access")
        return channel

    def message(self, request: ApiRequest, channel: Channel) -> Message:
        message = self.world.messages.get(snowflake(request.params["message_id"]))
        if message is None or message.deleted or message.channel_id != channel.id or message.ephemeral:
            raise unknown("Message", 10008)
        return message

    def guild(self, request: ApiRequest) -> Guild:
        guild = self.world.guilds.get(snowflake(request.params["guild_id"]))
        if guild is None:
            raise unknown("Guild", 10004)
        return guild

    def member(self, guild: Guild, user_id: str) -> Member:
        member = guild.members.get(snowflake(user_id))
        if member is None:
            raise unknown("Member", 10007)
        return member

    def bot_can(self, guild_id: int | None, permission: int) -> bool:
        perms = self.world.bot_permissions(guild_id)
        return bool(perms & ADMINISTRATOR) or (perms & permission) == permission

    # --- identity -----------------------------------------------------------------------

    async def get_me(self, request: ApiRequest) -> ApiResponse:
        user = self.world.bot.to_payload()
        user.update({"verified": True, "mfa_enabled": False, "locale": "en-US", "email": None})
        return ok(user)

    async def get_user(self, request: ApiRequest) -> ApiResponse:
        user = self.world.users.get(snowflake(request.params["user_id"]))
        if user is None:
            raise unknown("User", 10013)
        return ok(user.to_payload())

    async def get_application(self, request: ApiRequest) -> ApiResponse:
        return ok(self.world.application_payload())

    async def get_gateway(self, request: ApiRequest) -> ApiResponse:
        return ok({"url": self.server.gateway_url})

    async def get_gateway_bot(self, request: ApiRequest) -> ApiResponse:
        gateway = self.server.gateway
        return ok(
            {
                "url": self.server.gateway_url,
                "shards": gateway.recommended_shards(),
                "session_start_limit": gateway.session_start_limit(),
            }
        )

    # --- application commands -----------------------------------------------------------

    def _check_application(self, request: ApiRequest) -> None:
        if snowflake(request.params["application_id"]) != self.world.application_id:
            raise ApiError(403, 50001, "Missing Access")

    async def put_commands(self, request: ApiRequest) -> ApiResponse:
        self._check_application(request)
        if not isinstance(request.body, list):
            raise invalid_form("_root", "Must be an array")
        guild_id = snowflake(request.params["guild_id"]) if "guild_id" in request.params else None
        if guild_id is not None and guild_id not in self.world.guilds:
            raise unknown("Guild", 10004)
        existing = self.world.guild_commands.get(guild_id, []) if guild_id else self.world.global_commands
        by_key = {(c.name, c.type): c for c in existing}
        commands: list[ApplicationCommand] = []
        for raw in request.body:
            kind = int(raw.get("type", 1))
            previous = by_key.get((raw["name"], kind))
            commands.append(
                ApplicationCommand(
                    id=previous.id if previous else self.world.new_id(),
                    application_id=self.world.application_id,
                    name=raw["name"],
                    type=kind,
                    description=raw.get("description", ""),
                    options=raw.get("options", []) or [],
                    guild_id=guild_id,
                    version=(previous.version + 1) if previous else 1,
                    raw=raw,
                )
            )
        if guild_id is None:
            self.world.global_commands = commands
        else:
            self.world.guild_commands[guild_id] = commands
        return ok([c.to_payload() for c in commands])

    async def get_commands(self, request: ApiRequest) -> ApiResponse:
        self._check_application(request)
        if "guild_id" in request.params:
            commands = self.world.guild_commands.get(snowflake(request.params["guild_id"]), [])
        else:
            commands = self.world.global_commands
        return ok([c.to_payload() for c in commands])

    # --- channels and messages ----------------------------------------------------------

    async def get_channel(self, request: ApiRequest) -> ApiResponse:
        return ok(self.world.channel_payload(self.channel(request)))

    async def typing(self, request: ApiRequest) -> ApiResponse:
        self.channel(request)
        return ok()

    def _check_can_send(self, channel: Channel) -> None:
        if channel.is_dm:
            if not self.server.dms_open(channel.recipient_ids[0]):
                raise ApiError(403, 50007, "Cannot send messages to this user")
            return
        needed = SEND_MESSAGES_IN_THREADS if channel.is_thread else SEND_MESSAGES
        if not self.bot_can(channel.guild_id, needed):
            raise missing_permissions()

    def build_message(self, channel: Channel, body: dict[str, Any], files: list[UploadedFile], **extra: Any) -> Message:
        message = Message(
            id=self.world.new_id(),
            channel_id=channel.id,
            guild_id=channel.guild_id,
            author=self.world.bot,
            **extra,
        )
        self.apply_message_fields(message, body, files, creating=True)
        reference = body.get("message_reference")
        if reference and reference.get("message_id"):
            message.message_reference = {
                "type": 0,
                "message_id": str(reference["message_id"]),
                "channel_id": str(reference.get("channel_id") or channel.id),
            }
            if channel.guild_id is not None:
                message.message_reference["guild_id"] = str(channel.guild_id)
            message.type = 19
        return message

    def apply_message_fields(
        self, message: Message, body: dict[str, Any], files: list[UploadedFile], *, creating: bool
    ) -> None:
        """Sets content, embeds, components, flags and attachments from a create/edit body."""
        if "content" in body:
            content = body["content"] or ""
            if len(content) > 2000:
                raise invalid_form("content", "Must be 2000 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
            message.content = content
        if "embeds" in body or "embed" in body:
            embeds = body.get("embeds") if "embeds" in body else [body["embed"]]
            embeds = [dict(e, type=e.get("type", "rich")) for e in (embeds or []) if e]
            validate_embeds(embeds)
            if message.guild_id is not None and not self.bot_can(message.guild_id, EMBED_LINKS):
                embeds = []  # Discord silently drops embeds without Embed Links
            message.embeds = embeds
        if "components" in body:
            message.components = body["components"] or []
        if "flags" in body and body["flags"] is not None:
            message.flags = (message.flags & ~_SETTABLE_FLAGS) | (int(body["flags"]) & _SETTABLE_FLAGS)
        if "allowed_mentions" in body:
            message.allowed_mentions = body["allowed_mentions"]
        if files and message.guild_id is not None and not self.bot_can(message.guild_id, ATTACH_FILES):
            raise missing_permissions()
        uploads = {index: f for index, f in enumerate(files)}
        for upload in files:
            if upload.field.startswith("files[") and upload.field.endswith("]"):
                uploads[snowflake(upload.field[6:-1])] = upload
        if "attachments" in body and body["attachments"] is not None:
            kept: list[Attachment] = []
            current = {a.id: a for a in message.attachments}
            for entry in body["attachments"]:
                entry_id = snowflake(entry.get("id"))
                if entry_id in current:
                    kept.append(current[entry_id])
                elif entry_id in uploads:
                    upload = uploads.pop(entry_id)
                    kept.append(self._attachment(upload, entry.get("filename"), entry.get("description")))
            kept.extend(self._attachment(u, None, None) for u in uploads.values())
            message.attachments = kept
        elif files:
            message.attachments = [*message.attachments, *(self._attachment(f, None, None) for f in files)]
        if creating and not (message.content or message.embeds or message.attachments or message.components):
            raise ApiError(400, 50006, "Cannot send an empty message")

    def _attachment(self, upload: UploadedFile, filename: str | None, description: str | None) -> Attachment:
        return Attachment(
            id=self.world.new_id(),
            filename=filename or upload.filename,
            data=upload.data,
            content_type=upload.content_type,
            description=description,
        )

    async def post_message(self, message: Message, *, listed: bool = True) -> Message:
        """Stores a new message and dispatches MESSAGE_CREATE for visible ones."""
        self.world.add_message(message, listed=listed)
        if listed:
            payload = self.world.message_payload(message, with_member=True)
            await self.server.dispatch("MESSAGE_CREATE", payload, in_guild=message.guild_id is not None)
        return message

    async def dispatch_update(self, message: Message) -> None:
        if message.ephemeral:
            return
        payload = self.world.message_payload(message, with_member=True)
        await self.server.dispatch("MESSAGE_UPDATE", payload, in_guild=message.guild_id is not None)

    def mark_edited(self, message: Message) -> None:
        message.edits += 1
        message.edited_at = utcnow()

    async def create_message(self, request: ApiRequest) -> ApiResponse:
        channel = self.channel(request)
        self._check_can_send(channel)
        body = request.body if isinstance(request.body, dict) else {}
        body = {k: v for k, v in body.items() if k != "flags"} | {"flags": (body.get("flags") or 0) & ~FLAG_EPHEMERAL}
        nonce = self._nonce(body)
        if nonce is not None and body.get("enforce_nonce"):
            earlier = self.world.nonces.get((self.world.bot.id, nonce))
            if earlier is not None and not earlier.deleted and utcnow() - earlier.timestamp < NONCE_WINDOW:
                self.world.nonce_repeats += 1
                return ok(self.world.message_payload(earlier))
        message = self.build_message(channel, body, request.files)
        message.nonce = nonce
        await self.post_message(message)
        if nonce is not None:
            self.world.nonces[(self.world.bot.id, nonce)] = message
        return ok(self.world.message_payload(message))

    @staticmethod
    def _nonce(body: dict[str, Any]) -> str | None:
        """Discord takes an integer or a string of at most 25 characters, and echoes it as a string."""
        nonce = body.get("nonce")
        if nonce is None:
            return None
        if not isinstance(nonce, str | int) or isinstance(nonce, bool) or len(str(nonce)) > 25:
            raise invalid_form("nonce", "Must be 25 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
        return str(nonce)

    async def list_messages(self, request: ApiRequest) -> ApiResponse:
        channel = self.channel(request)
        if channel.guild_id is not None and not self.bot_can(channel.guild_id, READ_MESSAGE_HISTORY):
            return ok([])
        limit = max(1, min(100, int(request.query.get("limit", "50"))))
        messages = self.world.channel_messages(channel)  # oldest first
        if "after" in request.query:
            after = snowflake(request.query["after"])
            chosen = [m for m in messages if m.id > after][:limit]
        elif "around" in request.query:
            around = snowflake(request.query["around"])
            older = [m for m in messages if m.id <= around]
            newer = [m for m in messages if m.id > around]
            chosen = older[-(limit // 2 + limit % 2) :] + newer[: limit // 2]
        else:
            before = snowflake(request.query.get("before", str(1 << 63)))
            chosen = [m for m in messages if m.id < before][-limit:]
        return ok([self.world.message_payload(m) for m in reversed(chosen)])

    async def get_message(self, request: ApiRequest) -> ApiResponse:
        channel = self.channel(request)
        return ok(self.world.message_payload(self.message(request, channel)))

    async def edit_message(self, request: ApiRequest) -> ApiResponse:
        channel = self.channel(request)
        message = self.message(request, channel)
        body = request.body if isinstance(request.body, dict) else {}
        foreign = message.author.id != self.world.bot.id
        if foreign and (set(body) - {"flags"} or not self.bot_can(channel.guild_id, MANAGE_MESSAGES)):
            raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        self.apply_message_fields(message, body, request.files, creating=False)
        self.mark_edited(message)
        await self.dispatch_update(message)
        return ok(self.world.message_payload(message))

    async def delete_message(self, request: ApiRequest) -> ApiResponse:
        channel = self.channel(request)
        message = self.message(request, channel)
        if message.author.id != self.world.bot.id and not self.bot_can(channel.guild_id, MANAGE_MESSAGES):
            raise missing_permissions()
        await self.remove_message(message)
        return ok()

    async def remove_message(self, message: Message) -> None:
        message.deleted = True
        if message.ephemeral:
            return
        payload: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel_id)}
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
        await self.server.dispatch("MESSAGE_DELETE", payload, in_guild=message.guild_id is not None)

    # --- reactions ----------------------------------------------------------------------

    def _emoji(self, request: ApiRequest) -> tuple[str, dict[str, Any]]:
        raw = request.params["emoji_name"]
        if not raw or (raw.isascii() and ":" not in raw):
            raise ApiError(400, 10014, "Unknown Emoji")
        return parse_emoji(raw)

    async def add_own_reaction(self, request: ApiRequest) -> ApiResponse:
        channel = self.channel(request)
        message = self.message(request, channel)
        key, _ = self._emoji(request)
        if channel.guild_id is not None:
            if not self.bot_can(channel.guild_id, READ_MESSAGE_HISTORY):
                raise missing_permissions()
            if key not in message.reactions and not self.bot_can(channel.guild_id, ADD_REACTIONS):
                raise missing_permissions()
        await self.server.add_reaction(message, key, self.world.bot.id)
        return ok()

    async def remove_own_reaction(self, request: ApiRequest) -> ApiResponse:
        channel = self.channel(request)
        message = self.message(request, channel)
        key, _ = self._emoji(request)
        await self.server.remove_reaction(message, key, self.world.bot.id)
        return ok()

    async def remove_user_reaction(self, request: ApiRequest) -> ApiResponse:
        channel = self.channel(request)
        message = self.message(request, channel)
        key, _ = self._emoji(request)
        user_id = snowflake(request.params["user_id"])
        if user_id != self.world.bot.id and not self.bot_can(channel.guild_id, MANAGE_MESSAGES):
            raise missing_permissions()
        await self.server.remove_reaction(message, key, user_id)
        return ok()

    async def list_reactions(self, request: ApiRequest) -> ApiResponse:
        channel = self.channel(request)
        message = self.message(request, channel)
        key, _ = self._emoji(request)
        if request.query.get("type", "0") == "1":
            return ok([])
        limit = max(1, min(100, int(request.query.get("limit", "25"))))
        user_ids = message.reactions.get(key, [])
        start = bisect.bisect_right(user_ids, snowflake(request.query.get("after", "0")))
        page = user_ids[start : start + limit]
        return ok([self.world.users[u].to_payload() for u in page])

    async def clear_emoji_reactions(self, request: ApiRequest) -> ApiResponse:
        channel = self.channel(request)
        message = self.message(request, channel)
        key, emoji = self._emoji(request)
        if not self.bot_can(channel.guild_id, MANAGE_MESSAGES):
            raise missing_permissions()
        if message.reactions.pop(key, None):
            payload = {"channel_id": str(channel.id), "message_id": str(message.id), "emoji": emoji}
            if channel.guild_id is not None:
                payload["guild_id"] = str(channel.guild_id)
            await self.server.dispatch("MESSAGE_REACTION_REMOVE_EMOJI", payload, in_guild=channel.guild_id is not None)
        return ok()

    async def clear_reactions(self, request: ApiRequest) -> ApiResponse:
        channel = self.channel(request)
        message = self.message(request, channel)
        if not self.bot_can(channel.guild_id, MANAGE_MESSAGES):
            raise missing_permissions()
        message.reactions.clear()
        payload = {"channel_id": str(channel.id), "message_id": str(message.id)}
        if channel.guild_id is not None:
            payload["guild_id"] = str(channel.guild_id)
        await self.server.dispatch("MESSAGE_REACTION_REMOVE_ALL", payload, in_guild=channel.guild_id is not None)
        return ok()

    # --- threads ------------------------------------------------------------------------

    async def _new_thread(self, parent: Channel, body: dict[str, Any], thread_id: int | None) -> Channel:
        if parent.is_thread or parent.is_dm or parent.guild_id is None:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        if not self.bot_can(parent.guild_id, CREATE_PUBLIC_THREADS):
            raise missing_permissions()
        name = str(body.get("name") or "")
        if not 1 <= len(name) <= 100:
            raise invalid_form("name", "Must be between 1 and 100 in length.", "BASE_TYPE_BAD_LENGTH")
        guild = self.world.guilds[parent.guild_id]
        thread = self.world.create_channel(
            guild,
            name,
            type=int(body.get("type", PUBLIC_THREAD)),
            id=thread_id,
            parent_id=parent.id,
            owner_id=self.world.bot.id,
            auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
        )
        payload = self.world.channel_payload(thread) | {"newly_created": True}
        await self.server.dispatch("THREAD_CREATE", payload)
        return thread

    async def create_thread_from_message(self, request: ApiRequest) -> ApiResponse:
        channel = self.channel(request)
        message = self.message(request, channel)
        if message.thread_id is not None:
            raise ApiError(400, 160004, "A thread has already been created for this message")
        body = request.body if isinstance(request.body, dict) else {}
        thread = await self._new_thread(channel, {**body, "type": PUBLIC_THREAD}, message.id)
        message.thread_id = thread.id
        message.flags |= FLAG_HAS_THREAD
        return ok(self.world.channel_payload(thread), status=201)

    async def create_thread(self, request: ApiRequest) -> ApiResponse:
        channel = self.channel(request)
        body = request.body if isinstance(request.body, dict) else {}
        thread = await self._new_thread(channel, body, None)
        return ok(self.world.channel_payload(thread), status=201)

    async def open_dm(self, request: ApiRequest) -> ApiResponse:
        body = request.body if isinstance(request.body, dict) else {}
        user = self.world.users.get(snowflake(body.get("recipient_id")))
        if user is None:
            raise unknown("User", 10013)
        return ok(self.world.channel_payload(self.world.dm_channel(user)))

    # --- guilds, members, roles ---------------------------------------------------------

    async def get_guild(self, request: ApiRequest) -> ApiResponse:
        guild = self.guild(request)
        payload = self.world.guild_payload(guild)
        if request.flag("with_counts"):
            payload["approximate_member_count"] = len(guild.members)
            payload["approximate_presence_count"] = 0
        return ok(payload)

    async def get_roles(self, request: ApiRequest) -> ApiResponse:
        guild = self.guild(request)
        return ok([r.to_payload() for r in sorted(guild.roles.values(), key=lambda r: r.position)])

    async def get_guild_channels(self, request: ApiRequest) -> ApiResponse:
        guild = self.guild(request)
        return ok([self.world.channel_payload(c) for c in self.world.guild_channels(guild) if not c.is_thread])

    async def list_members(self, request: ApiRequest) -> ApiResponse:
        guild = self.guild(request)
        limit = max(1, min(1000, int(request.query.get("limit", "1"))))
        after = snowflake(request.query.get("after", "0"))
        members = sorted((m for m in guild.members.values() if m.id > after), key=lambda m: m.id)[:limit]
        return ok([m.to_payload() for m in members])

    async def get_member(self, request: ApiRequest) -> ApiResponse:
        guild = self.guild(request)
        return ok(self.member(guild, request.params["user_id"]).to_payload())

    def _role_change(self, request: ApiRequest) -> tuple[Guild, Member, Role]:
        guild = self.guild(request)
        member = self.member(guild, request.params["user_id"])
        role = guild.roles.get(snowflake(request.params["role_id"]))
        if role is None or role.id == guild.id:
            raise unknown("Role", 10011)
        bot_member = guild.members[self.world.bot.id]
        if bot_member.id != guild.owner_id:
            if not self.bot_can(guild.id, MANAGE_ROLES):
                raise missing_permissions()
            if role.position >= guild.top_role_position(bot_member) or role.managed:
                raise missing_permissions()
        return guild, member, role

    async def add_member_role(self, request: ApiRequest) -> ApiResponse:
        guild, member, role = self._role_change(request)
        if role.id not in member.role_ids:
            member.role_ids.append(role.id)
            await self.server.member_updated(guild, member)
        return ok()

    async def remove_member_role(self, request: ApiRequest) -> ApiResponse:
        guild, member, role = self._role_change(request)
        if role.id in member.role_ids:
            member.role_ids.remove(role.id)
            await self.server.member_updated(guild, member)
        return ok()

    # --- interactions -------------------------------------------------------------------

    def _interaction_message(
        self, pending: PendingInteraction, body: dict[str, Any], files: list[UploadedFile]
    ) -> Message:
        channel = self.world.channels[pending.channel_id]
        metadata: dict[str, Any] = {
            "id": str(pending.id),
            "type": pending.type,
            "user": pending.user.to_payload(),
            "authorizing_integration_owners": {"0": str(pending.guild_id or self.world.owner.id)},
        }
        if pending.type == APPLICATION_COMMAND:
            metadata["name"] = pending.name
            metadata["command_type"] = 1
        if pending.source_message is not None:
            metadata["interacted_message_id"] = str(pending.source_message.id)
        return self.build_message(
            channel,
            body,
            files,
            type=20 if pending.type == APPLICATION_COMMAND else 0,
            webhook_id=self.world.application_id,
            application_id=self.world.application_id,
            interaction_metadata=metadata,
        )

    async def callback(self, request: ApiRequest) -> ApiResponse:
        pending = self.server.interactions.get(snowflake(request.params["interaction_id"]))
        if pending is None or pending.token != request.params["interaction_token"]:
            raise unknown("interaction", 10062)
        if pending.acknowledged:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if is_expired(pending, self.server.interaction_ack_timeout):
            raise unknown("interaction", 10062)
        body = request.body if isinstance(request.body, dict) else {}
        kind = int(body.get("type", 0))
        data = body.get("data") or {}
        reply = pending.reply
        settled = True
        if kind == CHANNEL_MESSAGE:
            message = self._interaction_message(pending, data, request.files)
            await self.post_message(message, listed=not message.ephemeral)
            reply.message = message
        elif kind == DEFERRED_CHANNEL_MESSAGE:
            flags = FLAG_LOADING | (FLAG_EPHEMERAL if (data.get("flags") or 0) & FLAG_EPHEMERAL else 0)
            channel = self.world.channels[pending.channel_id]
            message = Message(
                id=self.world.new_id(),
                channel_id=channel.id,
                guild_id=channel.guild_id,
                author=self.world.bot,
                flags=flags,
                type=20 if pending.type == APPLICATION_COMMAND else 0,
                webhook_id=self.world.application_id,
                application_id=self.world.application_id,
            )
            await self.post_message(message, listed=not message.ephemeral)
            reply.message = message
            settled = False
        elif kind in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            if pending.type not in (MESSAGE_COMPONENT,) and pending.source_message is None:
                raise ApiError(400, 40004, "Interaction response type is not valid for this interaction")
            target = pending.source_message
            if kind == UPDATE_MESSAGE and target is not None:
                self.apply_message_fields(target, data, request.files, creating=False)
                self.mark_edited(target)
                await self.dispatch_update(target)
            reply.message = target
            settled = kind == UPDATE_MESSAGE or self.server.settle_deferred_updates
        elif kind == MODAL:
            if pending.type == 5:
                raise ApiError(400, 40004, "Interaction response type is not valid for this interaction")
            reply.modal = data
        elif kind not in (1, 8):
            raise invalid_form("type", "Value must be one of (1, 4, 5, 6, 7, 8, 9, 10, 12).")
        pending.acknowledged = True
        pending.acknowledged_at = time.monotonic()
        reply.response_type = kind
        pending.answered.set()
        if settled:
            pending.settled.set()
        if not request.flag("with_response"):
            return ok()
        shown = reply.message if kind in (CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE, UPDATE_MESSAGE) else None
        interaction: dict[str, Any] = {"id": str(pending.id), "type": pending.type}
        if shown is not None:
            interaction["response_message_id"] = str(shown.id)
            interaction["response_message_loading"] = bool(shown.flags & FLAG_LOADING)
            interaction["response_message_ephemeral"] = shown.ephemeral
        resource: dict[str, Any] = {"type": kind}
        if shown is not None:
            resource["message"] = self.world.message_payload(shown)
        return ok({"interaction": interaction, "resource": resource})

    def _webhook_interaction(self, request: ApiRequest) -> PendingInteraction:
        if snowflake(request.params["webhook_id"]) != self.world.application_id:
            raise unknown("Webhook", 10015)
        token = request.params["webhook_token"]
        for pending in reversed(self.server.interactions.values()):
            if pending.token == token:
                if self.server.clock() - pending.created > INTERACTION_TOKEN_LIFETIME:
                    raise ApiError(401, 50027, "Invalid Webhook Token")
                if not pending.acknowledged:
                    raise unknown("Webhook", 10015)
                return pending
        raise ApiError(401, 50027, "Invalid Webhook Token")

    def _webhook_message(self, request: ApiRequest, pending: PendingInteraction) -> Message:
        message_id = request.params.get("message_id")
        reply = pending.reply
        if message_id is None:
            if reply.message is None or reply.message.deleted:
                raise unknown("Message", 10008)
            return reply.message
        for message in [reply.message, *reply.followups]:
            if message is not None and message.id == snowflake(message_id) and not message.deleted:
                return message
        raise unknown("Message", 10008)

    async def execute_webhook(self, request: ApiRequest) -> ApiResponse:
        pending = self._webhook_interaction(request)
        body = request.body if isinstance(request.body, dict) else {}
        reply = pending.reply
        original = reply.message
        if reply.response_type == DEFERRED_CHANNEL_MESSAGE and original is not None and original.flags & FLAG_LOADING:
            # The first follow-up after a deferral fills the "thinking..." message.
            ephemeral = original.flags & FLAG_EPHEMERAL
            self.apply_message_fields(original, body, request.files, creating=True)
            original.flags = (original.flags & ~FLAG_LOADING & ~FLAG_EPHEMERAL) | ephemeral
            await self.dispatch_update(original)
            message = original
        else:
            message = self._interaction_message(pending, body, request.files)
            await self.post_message(message, listed=not message.ephemeral)
        reply.followups.append(message)
        pending.settled.set()
        if not request.flag("wait"):
            return ok()
        return ok(self.world.message_payload(message))

    async def get_webhook_message(self, request: ApiRequest) -> ApiResponse:
        pending = self._webhook_interaction(request)
        return ok(self.world.message_payload(self._webhook_message(request, pending)))

    async def edit_webhook_message(self, request: ApiRequest) -> ApiResponse:
        pending = self._webhook_interaction(request)
        message = self._webhook_message(request, pending)
        body = request.body if isinstance(request.body, dict) else {}
        was_loading = bool(message.flags & FLAG_LOADING)
        self.apply_message_fields(message, body, request.files, creating=False)
        if was_loading:
            message.flags &= ~FLAG_LOADING
        else:
            self.mark_edited(message)
        await self.dispatch_update(message)
        pending.settled.set()
        return ok(self.world.message_payload(message))

    async def delete_webhook_message(self, request: ApiRequest) -> ApiResponse:
        pending = self._webhook_interaction(request)
        message = self._webhook_message(request, pending)
        await self.remove_message(message)
        pending.settled.set()
        return ok()


_EMBED_LIMITS = {"title": 256, "description": 4096}


def validate_embeds(embeds: list[dict[str, Any]]) -> None:
    """Discord's embed limits: 10 embeds, 6000 characters in total, 25 fields each."""
    if len(embeds) > 10:
        raise invalid_form("embeds", "Must be 10 or fewer in length.", "BASE_TYPE_MAX_LENGTH")
    total = 0
    for index, embed in enumerate(embeds):
        for key, limit in _EMBED_LIMITS.items():
            value = str(embed.get(key) or "")
            if len(value) > limit:
                raise invalid_form(f"embeds.{index}.{key}", f"Must be {limit} or fewer in length.")
            total += len(value)
        fields = embed.get("fields") or []
        if len(fields) > 25:
            raise invalid_form(f"embeds.{index}.fields", "Must be 25 or fewer in length.")
        for number, item in enumerate(fields):
            name, value = str(item.get("name") or ""), str(item.get("value") or "")
            if not name or len(name) > 256 or not value or len(value) > 1024:
                raise invalid_form(f"embeds.{index}.fields.{number}", "Field name/value length out of bounds.")
            total += len(name) + len(value)
        footer = str((embed.get("footer") or {}).get("text") or "")
        author = str((embed.get("author") or {}).get("name") or "")
        total += len(footer) + len(author)
    if total > 6000:
        raise invalid_form("embeds", "Embed size exceeds maximum size of 6000", "MAX_EMBED_SIZE_EXCEEDED")
