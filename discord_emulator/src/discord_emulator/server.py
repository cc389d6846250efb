"""The HTTP side of the emulator: one aiohttp app serving REST under /api/v10 and the gateway.

Every REST request goes through the same pipeline: parse (JSON or multipart), check against the
OpenAPI spec, authenticate, apply injected faults, count against its rate-limit bucket, run the
route, and log the outcome for tests.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from .gateway import GUILD_MEMBERS, Gateway, GatewayLimits, GatewaySession
from .interactions import PendingInteraction
from .ratelimit import EmulatorLimits, RateLimiter, RateLimitStats
from .spec import SpecValidator, shared_validator
from .state import Guild, Member, Message, World, parse_emoji

API_PREFIX = "/api/v10"


class ApiError(Exception):
    """An error answered the way Discord answers it: status plus {"message", "code"}."""

    def __init__(self, status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors
        return body


@dataclass
class UploadedFile:
    field: str
    filename: str
    data: bytes
    content_type: str | None


@dataclass
class ApiRequest:
    method: str
    template: str
    path: str
    params: dict[str, str]
    query: dict[str, str]
    body: Any
    files: list[UploadedFile]
    headers: dict[str, str]

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() in ("1", "true")


@dataclass
class ApiResponse:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[ApiRequest], Awaitable[ApiResponse]]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    needs_bot_token: bool = True
    segments: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self.segments = tuple(self.template.strip("/").split("/"))

    def match(self, method: str, segments: list[str]) -> dict[str, str] | None:
        if method != self.method or len(segments) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for pattern, value in zip(self.segments, segments, strict=True):
            if pattern.startswith("{"):
                params[pattern[1:-1]] = value
            elif pattern != value:
                return None
        return params


@dataclass
class RequestRecord:
    method: str
    template: str | None
    path: str
    time: float  # monotonic
    status: int
    json: Any
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class Fault:
    method: str
    pattern: str
    status: int = 500
    times: int = 1
    delay: float = 0.0

    def matches(self, method: str, template: str | None, path: str) -> bool:
        if self.method.upper() not in (method, "*"):
            return False
        if template is not None and self.pattern == template:
            return True
        return re.fullmatch(self.pattern, path) is not None or re.fullmatch(self.pattern, template or "") is not None


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    """JSON with exactly `Content-Type: application/json` (discord.py reads a str otherwise)."""
    response_headers = {"Content-Type": "application/json", **(headers or {})}
    return web.Response(status=status, body=json.dumps(body).encode(), headers=response_headers)


class EmulatorServer:
    """Owns the world, the gateway and the HTTP pipeline. The story API builds on it."""

    def __init__(
        self,
        *,
        limits: EmulatorLimits | None = None,
        heartbeat_interval: int = 41250,
        require_token: str | None = None,
        interaction_ack_timeout: float = 3.0,
        validate_spec: bool = True,
        gateway_limits: GatewayLimits | None = None,
    ) -> None:
        self.world = World()
        self.limits = limits or EmulatorLimits()
        self.ratelimiter = RateLimiter(self.limits)
        self.spec: SpecValidator | None = shared_validator() if validate_spec else None
        self.require_token = require_token
        self.token = require_token or "emulator-bot-token"
        self.interaction_ack_timeout = interaction_ack_timeout
        self.requests: list[RequestRecord] = []
        self.spec_violations: list[str] = []
        self.faults: list[Fault] = []
        self.interactions: dict[int, PendingInteraction] = {}
        # A deferred update (type 6) counts as the final answer unless tests want to wait for an edit.
        self.settle_deferred_updates = True
        self.gateway = Gateway(
            ready_payload=self._ready_payload,
            guild_payloads=self._guild_create_payloads,
            token_ok=self._token_ok,
            guild_members=self._member_payloads,
            guild_ids=lambda: list(self.world.guilds),
            heartbeat_interval=heartbeat_interval,
            limits=gateway_limits,
        )
        self.routes: list[Route] = []
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.host = "127.0.0.1"

    # --- lifecycle --------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.base_url}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def stats(self) -> RateLimitStats:
        return self.ratelimiter.stats

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("GET", "/gateway", self.gateway.handle)
        app.router.add_route("GET", "/gateway/", self.gateway.handle)
        app.router.add_route("GET", "/attachments/{channel_id}/{attachment_id}/{filename}", self._serve_attachment)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._handle_api)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        self.world.base_url = self.base_url

    async def stop(self) -> None:
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> EmulatorServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- faults -----------------------------------------------------------------------

    def fail_next(self, method: str, pattern: str, status: int = 500, times: int = 1) -> None:
        """The next `times` requests matching (template or regex on the path) answer `status`."""
        self.faults.append(Fault(method=method.upper(), pattern=pattern, status=status, times=times))

    def slow(self, method: str, pattern: str, seconds: float, times: int = 1_000_000) -> None:
        """Matching requests are answered only after `seconds`."""
        self.faults.append(Fault(method=method.upper(), pattern=pattern, status=0, times=times, delay=seconds))

    def clear_faults(self) -> None:
        self.faults.clear()

    # --- gateway helpers --------------------------------------------------------------

    def _token_ok(self, token: str) -> bool:
        if self.require_token is None:
            return bool(token)
        return token.removeprefix("Bot ") == self.require_token

    def _guild_create_payloads(self, session: GatewaySession) -> list[dict[str, Any]]:
        """GUILD_CREATE per guild of the session's shard; with GUILD_MEMBERS a small guild lists
        every member, as on Discord."""
        payloads = []
        for guild in self.world.guilds.values():
            if not session.owns(guild.id):
                continue
            payload = self.world.guild_create_payload(guild)
            if session.has(GUILD_MEMBERS) and len(guild.members) <= 250:
                payload["members"] = [m.to_payload() for m in guild.members.values()]
            payloads.append(payload)
        return payloads

    def _member_payloads(self, guild_id: int) -> list[dict[str, Any]]:
        guild = self.world.guilds.get(guild_id)
        return [m.to_payload() for m in guild.members.values()] if guild else []

    def _ready_payload(self, session: GatewaySession) -> dict[str, Any]:
        return {
            "v": 10,
            "user": {**self.world.bot.to_payload(), "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g), "unavailable": True} for g in self.world.guilds if session.owns(g)],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "shard": [session.shard_id, session.shard_count],
            "application": {"id": str(self.world.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "guild_join_requests": [],
            "user_settings": {},
        }

    async def dispatch(self, event: str, data: dict[str, Any], *, in_guild: bool = True) -> bool:
        return await self.gateway.dispatch(event, data, in_guild=in_guild)

    async def drop_gateway(self, *, resume: bool = True, hold: float = 0.0, shard: int | None = None) -> None:
        """Drops the bot's socket. resume=False makes the RESUME fail so the bot identifies anew.

        `hold` keeps new connections waiting that long before HELLO, so events dispatched in
        the meantime are certainly missed by the client and must come back through the replay.
        `shard` drops that shard's connection only (default: shard 0, the unsharded bot's).
        """
        await self.gateway.drop(resume=resume, hold=hold, shard=shard)

    # --- actions shared by REST routes and the story API ----------------------------

    def clock(self) -> float:
        return time.monotonic()

    def dms_open(self, user_id: int) -> bool:
        """A user accepts DMs unless one of their memberships says otherwise."""
        return all(g.members[user_id].dms_open for g in self.world.guilds.values() if user_id in g.members)

    def _reaction_payload(self, message: Message, key: str, user_id: int) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "user_id": str(user_id),
            "channel_id": str(message.channel_id),
            "message_id": str(message.id),
            "emoji": parse_emoji(key)[1],
            "burst": False,
            "type": 0,
        }
        if message.guild_id is not None:
            payload["guild_id"] = str(message.guild_id)
        return payload

    async def add_reaction(self, message: Message, key: str, user_id: int) -> bool:
        """Adds one user's reaction and dispatches MESSAGE_REACTION_ADD; False if already there."""
        users = message.reactions.setdefault(key, [])
        index = bisect.bisect_left(users, user_id)
        if index < len(users) and users[index] == user_id:
            return False
        users.insert(index, user_id)
        payload = self._reaction_payload(message, key, user_id)
        payload["message_author_id"] = str(message.author.id)
        payload["burst_colors"] = []
        member = self.world.member_of(message.guild_id, user_id)
        if member is not None:
            payload["member"] = member.to_payload()
        await self.dispatch("MESSAGE_REACTION_ADD", payload, in_guild=message.guild_id is not None)
        return True

    async def remove_reaction(self, message: Message, key: str, user_id: int) -> bool:
        users = message.reactions.get(key, [])
        if user_id not in users:
            return False
        users.remove(user_id)
        if not users:
            message.reactions.pop(key, None)
        payload = self._reaction_payload(message, key, user_id)
        await self.dispatch("MESSAGE_REACTION_REMOVE", payload, in_guild=message.guild_id is not None)
        return True

    async def member_updated(self, guild: Guild, member: Member) -> None:
        await self.dispatch("GUILD_MEMBER_UPDATE", {**member.to_payload(), "guild_id": str(guild.id)})

    # --- HTTP pipeline ----------------------------------------------------------------

    def add_route(self, method: str, template: str, handler: Handler, *, needs_bot_token: bool = True) -> None:
        self.routes.append(Route(method, template, handler, needs_bot_token))
        self.routes.sort(key=lambda r: -sum(not s.startswith("{") for s in r.segments))

    def _find_route(self, method: str, segments: list[str]) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            params = route.match(method, segments)
            if params is not None:
                return route, params
        return None

    async def _read_body(self, request: web.Request) -> tuple[Any, list[UploadedFile]]:
        files: list[UploadedFile] = []
        if request.content_type.startswith("multipart/"):
            body: Any = None
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                data = await part.read(decode=False)
                name = part.name or ""
                if name == "payload_json":
                    body = json.loads(data.decode() or "null")
                else:
                    content_type = part.headers.get("Content-Type")
                    files.append(UploadedFile(name, part.filename or name, bytes(data), content_type))
            return body, files
        raw = await request.read()
        if not raw:
            return None, files
        try:
            return json.loads(raw), files
        except ValueError as exc:
            raise ApiError(400, 50109, "The request body contains invalid JSON.") from exc

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.method
        raw_path = request.rel_url.raw_path[len(API_PREFIX) :]
        segments = [unquote(s) for s in raw_path.strip("/").split("/")]
        path = "/" + "/".join(segments)
        query = {k: v for k, v in request.rel_url.query.items()}
        found = self._find_route(method, segments)
        route, params = found if found else (None, {})
        template = route.template if route else None
        body: Any = None
        try:
            body, files = await self._read_body(request)
        except ApiError as error:
            return self._finish(method, template, path, params, None, error.status, error.body(), {})
        if self.spec is not None:
            self.spec_violations.extend(self.spec.check(method, segments, query, body))
        if route is None:
            self.spec_violations.append(f"{method} {path}: route not served by the emulator")
            return self._finish(method, None, path, params, body, 404, {"message": "404: Not Found", "code": 0}, {})
        if route.needs_bot_token and not self._authorized(request):
            body_401 = {"message": "401: Unauthorized", "code": 0}
            return self._finish(method, template, path, params, body, 401, body_401, {})
        fault = await self._apply_faults(method, template, path)
        if fault is not None:
            error_body = {"message": f"{fault}: emulator injected failure", "code": 0}
            return self._finish(method, template, path, params, body, fault, error_body, {})
        decision = self.ratelimiter.check(method, route.template, params)
        headers = decision.headers if decision else {}
        if decision is not None and not decision.allowed:
            limited = {"message": "You are being rate limited.", "retry_after": round(decision.retry_after, 3)}
            limited["global"] = False
            return self._finish(method, template, path, params, body, 429, limited, headers)
        api_request = ApiRequest(method, route.template, path, params, query, body, files, dict(request.headers))
        try:
            response = await route.handler(api_request)
        except ApiError as error:
            return self._finish(method, template, path, params, body, error.status, error.body(), headers)
        return self._finish(
            method, template, path, params, body, response.status, response.body, {**headers, **response.headers}
        )

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bot "):
            return False
        return self._token_ok(header.removeprefix("Bot "))

    async def _apply_faults(self, method: str, template: str | None, path: str) -> int | None:
        for fault in list(self.faults):
            if fault.times <= 0 or not fault.matches(method, template, path):
                continue
            fault.times -= 1
            if fault.times <= 0:
                self.faults.remove(fault)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.status:
                return fault.status
        return None

    def _finish(
        self,
        method: str,
        template: str | None,
        path: str,
        params: dict[str, str],
        request_body: Any,
        status: int,
        body: Any,
        headers: dict[str, str],
    ) -> web.Response:
        self.requests.append(RequestRecord(method, template, path, time.monotonic(), status, request_body, params))
        if status == 204 or body is None:
            return web.Response(status=204 if body is None else status, headers=headers)
        return json_response(status, body, headers)

    async def _serve_attachment(self, request: web.Request) -> web.Response:
        message_id_hint = int(request.match_info["attachment_id"])
        for message in self.world.messages.values():
            for attachment in message.attachments:
                if attachment.id == message_id_hint:
                    return web.Response(
                        body=attachment.data, content_type=attachment.content_type or "application/octet-stream"
                    )
        return web.Response(status=404)
