"""The gateway: HELLO, heartbeats, IDENTIFY/READY, RESUME with replay, and intent-filtered dispatch.

Each session belongs to a shard `[shard_id, shard_count]` (an IDENTIFY without `shard` is
`[0, 1]`). Several sessions, one per shard and possibly from different processes, are live at
once; a guild's events go only to the session whose shard owns the guild
(`(guild_id >> 22) % shard_count`), and events without a guild (DMs) go to shard 0, as on
Discord. While re-sharding, sessions of two shard counts coexist and each count's owner gets
the event. Dispatches are numbered per session and kept in its buffer; while no socket is
attached they only go to the buffer, so a RESUME replays them just as Discord does. A new
IDENTIFY for the same shard starts a new session, and the old one can no longer be resumed.

`current` is the latest session of shard 0: the single session of an unsharded bot.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

# Opcodes.
DISPATCH = 0
HEARTBEAT = 1
IDENTIFY = 2
PRESENCE_UPDATE = 3
RESUME = 6
RECONNECT = 7
REQUEST_GUILD_MEMBERS = 8
INVALID_SESSION = 9
HELLO = 10
HEARTBEAT_ACK = 11

# Close codes.
CLOSE_AUTHENTICATION_FAILED = 4004
CLOSE_INVALID_SHARD = 4010
CLOSE_SHARDING_REQUIRED = 4011

# Intents.
GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_MESSAGES = 1 << 9
GUILD_MESSAGE_REACTIONS = 1 << 10
DIRECT_MESSAGES = 1 << 12
DIRECT_MESSAGE_REACTIONS = 1 << 13
MESSAGE_CONTENT = 1 << 15

_MEMBER_EVENTS = {"GUILD_MEMBER_ADD", "GUILD_MEMBER_REMOVE", "GUILD_MEMBER_UPDATE"}
_MESSAGE_EVENTS = {"MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK"}
_REACTION_EVENTS = {
    "MESSAGE_REACTION_ADD",
    "MESSAGE_REACTION_REMOVE",
    "MESSAGE_REACTION_REMOVE_ALL",
    "MESSAGE_REACTION_REMOVE_EMOJI",
}
_GUILD_OBJECT_EVENTS = {"GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"}
_GUILD_EVENTS = {
    "GUILD_CREATE",
    "GUILD_DELETE",
    "CHANNEL_CREATE",
    "THREAD_CREATE",
    "THREAD_UPDATE",
    "GUILD_ROLE_CREATE",
    "GUILD_ROLE_UPDATE",
}


def shard_for(guild_id: int, shard_count: int) -> int:
    """The shard that owns a guild, by Discord's formula."""
    return (guild_id >> 22) % shard_count


def guild_of(event: str, data: dict[str, Any]) -> int | None:
    """The guild an event belongs to; GUILD_CREATE/UPDATE/DELETE carry it as `id`."""
    raw = data.get("id") if event in _GUILD_OBJECT_EVENTS else data.get("guild_id")
    try:
        return int(raw) if raw is not None else None
    except (TypeError, ValueError):
        return None


def intent_for(event: str, in_guild: bool) -> int:
    """The intent a bot must have identified with to receive `event` (0: always sent)."""
    if event in _MEMBER_EVENTS:
        return GUILD_MEMBERS
    if event in _MESSAGE_EVENTS:
        return GUILD_MESSAGES if in_guild else DIRECT_MESSAGES
    if event in _REACTION_EVENTS:
        return GUILD_MESSAGE_REACTIONS if in_guild else DIRECT_MESSAGE_REACTIONS
    if event in _GUILD_EVENTS:
        return GUILDS
    return 0


@dataclass
class GatewayLimits:
    """Discord's sharding and session-start rules, configurable for tests."""

    # GET /gateway/bot's "shards"; None: one per `guilds_per_shard` guilds, at least 1.
    recommended_shards: int | None = None
    guilds_per_shard: int = 2500
    # Close with 4011 when a session would hold more than `guilds_per_shard` guilds.
    sharding_required: bool = False
    # IDENTIFYs allowed per `identify_window` seconds and bucket (`shard_id % max_concurrency`).
    max_concurrency: int = 1
    identify_window: float = 5.0
    # Discord answers an IDENTIFY over the limit with INVALID_SESSION; off: only counted.
    enforce_identify_pacing: bool = False
    session_start_total: int = 1000
    session_start_reset: float = 86_400.0  # seconds


@dataclass
class GatewaySession:
    id: str
    intents: int
    shard_id: int = 0
    shard_count: int = 1
    seq: int = 0
    buffer: list[dict[str, Any]] = field(default_factory=list)
    socket: web.WebSocketResponse | None = None
    resumable: bool = True

    def has(self, intent: int) -> bool:
        return intent == 0 or bool(self.intents & intent)

    @property
    def shard(self) -> tuple[int, int]:
        return (self.shard_id, self.shard_count)

    def owns(self, guild_id: int | None) -> bool:
        """Whether this session's shard gets the guild's events (guild-less events: shard 0)."""
        if guild_id is None:
            return self.shard_id == 0
        return shard_for(guild_id, self.shard_count) == self.shard_id


@dataclass
class GatewayStats:
    connections: int = 0
    identifies: int = 0
    resumes: int = 0
    invalid_sessions: int = 0
    replayed: int = 0
    dispatched: int = 0
    heartbeats: int = 0
    identify_too_fast: int = 0  # IDENTIFYs over max_concurrency per window in their bucket
    invalid_shards: int = 0
    sharding_required: int = 0
    session_starts_over_limit: int = 0


class Gateway:
    """Serves the websocket and owns the bot's sessions."""

    def __init__(
        self,
        *,
        ready_payload: Callable[[GatewaySession], dict[str, Any]],
        guild_payloads: Callable[[GatewaySession], list[dict[str, Any]]],
        token_ok: Callable[[str], bool],
        guild_members: Callable[[int], list[dict[str, Any]]] = lambda guild_id: [],
        guild_ids: Callable[[], list[int]] = list,
        heartbeat_interval: int = 41250,
        buffer_size: int = 10000,
        limits: GatewayLimits | None = None,
    ) -> None:
        self._ready_payload = ready_payload
        self._guild_payloads = guild_payloads
        self._token_ok = token_ok
        self._guild_members = guild_members
        self._guild_ids = guild_ids
        self.limits = limits or GatewayLimits()
        self.heartbeat_interval = heartbeat_interval
        self.buffer_size = buffer_size
        self.sessions: dict[str, GatewaySession] = {}
        self.current: GatewaySession | None = None
        # The live session of each shard, in IDENTIFY order; keyed by (shard_id, shard_count).
        self.shards: dict[tuple[int, int], GatewaySession] = {}
        self._bucket_identified: dict[int, float] = {}  # monotonic time of each bucket's last IDENTIFY
        self._starts_window: float | None = None  # monotonic start of the session-start window
        self._starts = 0
        self.stats = GatewayStats()
        self.hold_until = 0.0  # monotonic; connections wait before HELLO until then
        self.sockets: set[web.WebSocketResponse] = set()
        self.sent: list[dict[str, Any]] = []  # every dispatch actually written to a socket
        self.sent_by_shard: dict[tuple[int, int], list[dict[str, Any]]] = {}
        self.pacing_violations: list[tuple[int, int, float]] = []  # (shard_id, shard_count, seconds since)
        self._send_lock = asyncio.Lock()
        self.ready_event = asyncio.Event()

    @property
    def intents(self) -> int:
        return self.current.intents if self.current else 0

    @property
    def connected(self) -> bool:
        return _is_connected(self.current)

    def session_for(self, shard_id: int, shard_count: int | None = None) -> GatewaySession | None:
        """The live session of a shard (the latest identified one if shard counts coexist)."""
        found = None
        for (sid, count), session in self.shards.items():
            if sid == shard_id and shard_count in (None, count):
                found = session
        return found

    def shard_connected(self, shard_id: int, shard_count: int | None = None) -> bool:
        return _is_connected(self.session_for(shard_id, shard_count))

    def serves(self, guild_id: int | None) -> bool:
        """Whether a connected session gets this guild's events (None: guild-less events)."""
        return any(s.owns(guild_id) and _is_connected(s) for s in self.shards.values())

    def recommended_shards(self) -> int:
        if self.limits.recommended_shards is not None:
            return self.limits.recommended_shards
        guilds = len(self._guild_ids())
        return max(1, -(-guilds // self.limits.guilds_per_shard))

    def session_start_limit(self) -> dict[str, int]:
        """The session_start_limit object of GET /gateway/bot."""
        self._roll_starts_window()
        limits = self.limits
        reset_after = limits.session_start_reset
        if self._starts_window is not None:
            reset_after = self._starts_window + limits.session_start_reset - time.monotonic()
        return {
            "total": limits.session_start_total,
            "remaining": max(0, limits.session_start_total - self._starts),
            "reset_after": max(0, int(reset_after * 1000)),
            "max_concurrency": limits.max_concurrency,
        }

    def _roll_starts_window(self) -> None:
        window = self._starts_window
        if window is not None and time.monotonic() - window >= self.limits.session_start_reset:
            self._starts_window = None
            self._starts = 0

    # --- dispatching ------------------------------------------------------------------

    async def dispatch(
        self, event: str, data: dict[str, Any], *, in_guild: bool = True, guild_id: int | None = None
    ) -> bool:
        """Sends an event to the session(s) owning its guild, where intents allow; False when none got it."""
        owner = (guild_id if guild_id is not None else guild_of(event, data)) if in_guild else None
        delivered = False
        for session in list(self.shards.values()):
            if not session.owns(owner) or not session.has(intent_for(event, in_guild)):
                continue
            payload = data
            if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not session.has(MESSAGE_CONTENT):
                payload = _without_content(data, session)
            await self._send_dispatch(session, event, payload)
            delivered = True
        return delivered

    async def _send_dispatch(self, session: GatewaySession, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        frame = {"op": DISPATCH, "t": event, "s": session.seq, "d": data}
        session.buffer.append(frame)
        if len(session.buffer) > self.buffer_size:
            del session.buffer[: len(session.buffer) - self.buffer_size]
        self.stats.dispatched += 1
        await self._write(session, frame)

    async def _write(self, session: GatewaySession, frame: dict[str, Any]) -> None:
        socket = session.socket
        if socket is None or socket.closed:
            return
        try:
            async with self._send_lock:
                await socket.send_str(json.dumps(frame))
            if frame.get("op") == DISPATCH:
                self.sent.append(frame)
                self.sent_by_shard.setdefault(session.shard, []).append(frame)
        except (ConnectionResetError, RuntimeError):
            log.debug("gateway socket went away while sending %s", frame.get("t"))

    # --- control for tests ------------------------------------------------------------

    async def drop(self, *, resume: bool = True, hold: float = 0.0, shard: int | None = None) -> None:
        """Closes a socket abruptly (shard 0's unless `shard` is given); with resume=False the
        session is forgotten. Other shards' connections are untouched."""
        session = self.current if shard is None else self.session_for(shard)
        if hold > 0:
            self.hold_until = time.monotonic() + hold
        if session is None:
            return
        if not resume:
            self._end(session)
        socket = session.socket
        session.socket = None
        if socket is not None and not socket.closed:
            await socket.close(code=4000, message=b"emulator dropped the connection")

    async def close_all(self) -> None:
        for socket in list(self.sockets):
            if not socket.closed:
                await socket.close(code=1001, message=b"emulator shutting down")

    # --- the websocket ----------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True, max_msg_size=0)
        await socket.prepare(request)
        self.sockets.add(socket)
        self.stats.connections += 1
        attached: GatewaySession | None = None
        try:
            delay = self.hold_until - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await socket.send_str(json.dumps({"op": HELLO, "d": {"heartbeat_interval": self.heartbeat_interval}}))
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                frame = json.loads(message.data)
                attached = await self._on_frame(socket, frame, attached) or attached
        finally:
            self.sockets.discard(socket)
            if attached is not None and attached.socket is socket:
                attached.socket = None
                if socket.close_code == 1000 and self.shards.get(attached.shard) is attached:
                    # A clean close by the client ends the session, as on Discord.
                    self._end(attached)
        return socket

    def _end(self, session: GatewaySession) -> None:
        """The session can no longer be resumed and gets no more events."""
        session.resumable = False
        self.sessions.pop(session.id, None)
        if self.shards.get(session.shard) is session:
            del self.shards[session.shard]

    async def _on_frame(
        self, socket: web.WebSocketResponse, frame: dict[str, Any], attached: GatewaySession | None
    ) -> GatewaySession | None:
        op = frame.get("op")
        data = frame.get("d")
        if op == HEARTBEAT:
            self.stats.heartbeats += 1
            await socket.send_str(json.dumps({"op": HEARTBEAT_ACK}))
        elif op == IDENTIFY:
            return await self._identify(socket, data or {})
        elif op == RESUME:
            return await self._resume(socket, data or {})
        elif op == REQUEST_GUILD_MEMBERS and attached is not None:
            await self._send_member_chunks(attached, data or {})
        return None

    async def _send_member_chunks(self, session: GatewaySession, data: dict[str, Any]) -> None:
        """Answers REQUEST_GUILD_MEMBERS (discord.py chunks guilds when it has GUILD_MEMBERS) for
        the guilds of the asking session's shard."""
        if not session.has(GUILD_MEMBERS):
            return
        guild_ids = data.get("guild_id")
        wanted_ids = {str(u) for u in data.get("user_ids") or []}
        query = str(data.get("query") or "").lower()
        limit = int(data.get("limit") or 0)
        for guild_id in guild_ids if isinstance(guild_ids, list) else [guild_ids]:
            if not session.owns(int(guild_id or 0)):
                continue
            members = self._guild_members(int(guild_id or 0))
            if wanted_ids:
                members = [m for m in members if m["user"]["id"] in wanted_ids]
            elif query:
                members = [m for m in members if m["user"]["username"].lower().startswith(query)]
            if limit:
                members = members[:limit]
            chunk: dict[str, Any] = {
                "guild_id": str(guild_id),
                "members": members,
                "chunk_index": 0,
                "chunk_count": 1,
                "not_found": [],
            }
            if data.get("nonce") is not None:
                chunk["nonce"] = data["nonce"]
            await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", chunk)

    async def _identify(self, socket: web.WebSocketResponse, data: dict[str, Any]) -> GatewaySession | None:
        if not self._token_ok(str(data.get("token", ""))):
            await socket.close(code=CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return None
        shard = _parse_shard(data.get("shard", [0, 1]))
        if shard is None:
            self.stats.invalid_shards += 1
            await socket.close(code=CLOSE_INVALID_SHARD, message=b"Invalid shard.")
            return None
        shard_id, shard_count = shard
        if not self._pace_identify(shard_id, shard_count):
            await socket.send_str(json.dumps({"op": INVALID_SESSION, "d": False}))
            return None
        if self.limits.sharding_required:
            held = sum(1 for g in self._guild_ids() if shard_for(g, shard_count) == shard_id)
            if held > self.limits.guilds_per_shard:
                self.stats.sharding_required += 1
                await socket.close(code=CLOSE_SHARDING_REQUIRED, message=b"Sharding required.")
                return None
        self.stats.identifies += 1
        self._count_session_start()
        previous = self.shards.pop(shard, None)
        if previous is not None:
            self._end(previous)
            old_socket = previous.socket
            if old_socket is not None and old_socket is not socket and not old_socket.closed:
                await old_socket.close(code=4000)
        session = GatewaySession(
            id=secrets.token_hex(16),
            intents=int(data.get("intents", 0)),
            shard_id=shard_id,
            shard_count=shard_count,
            socket=socket,
        )
        self.sessions[session.id] = session
        self.shards[shard] = session
        if shard_id == 0:
            self.current = session
        await self._send_dispatch(session, "READY", self._ready_payload(session))
        for guild in self._guild_payloads(session):
            await self._send_dispatch(session, "GUILD_CREATE", guild)
        self.ready_event.set()
        return session

    def _pace_identify(self, shard_id: int, shard_count: int) -> bool:
        """Records an IDENTIFY in its bucket; False when it came too soon and pacing is enforced."""
        limits = self.limits
        bucket = shard_id % max(1, limits.max_concurrency)
        now = time.monotonic()
        last = self._bucket_identified.get(bucket)
        if last is not None and now - last < limits.identify_window:
            self.stats.identify_too_fast += 1
            self.pacing_violations.append((shard_id, shard_count, now - last))
            log.info("shard %s/%s identified %.2fs after its bucket's last IDENTIFY", shard_id, shard_count, now - last)
            if limits.enforce_identify_pacing:
                return False
        self._bucket_identified[bucket] = now
        return True

    def _count_session_start(self) -> None:
        self._roll_starts_window()
        if self._starts_window is None:
            self._starts_window = time.monotonic()
        self._starts += 1
        if self._starts > self.limits.session_start_total:
            self.stats.session_starts_over_limit += 1

    async def _resume(self, socket: web.WebSocketResponse, data: dict[str, Any]) -> GatewaySession | None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not session.resumable or not self._token_ok(str(data.get("token", ""))):
            self.stats.invalid_sessions += 1
            await socket.send_str(json.dumps({"op": INVALID_SESSION, "d": False}))
            return None
        self.stats.resumes += 1
        previous = session.socket
        session.socket = socket
        if previous is not None and previous is not socket and not previous.closed:
            await previous.close(code=4000)
        client_seq = int(data.get("seq") or 0)
        missed = [frame for frame in session.buffer if frame["s"] > client_seq]
        for frame in missed:
            self.stats.replayed += 1
            await self._write(session, frame)
        await self._send_dispatch(session, "RESUMED", {})
        return session


def _is_connected(session: GatewaySession | None) -> bool:
    return session is not None and session.socket is not None and not session.socket.closed


def _parse_shard(value: Any) -> tuple[int, int] | None:
    """IDENTIFY's `shard` as (id, count), or None when Discord would answer 4010."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in value):
        return None
    shard_id, shard_count = value
    if shard_count < 1 or not 0 <= shard_id < shard_count:
        return None
    return shard_id, shard_count


def _without_content(data: dict[str, Any], session: GatewaySession) -> dict[str, Any]:
    """Without MESSAGE_CONTENT, Discord blanks content except in DMs, mentions and the bot's own."""
    if "guild_id" not in data:
        return data
    author = data.get("author") or {}
    if author.get("bot"):
        return data
    return {**data, "content": "", "embeds": [], "attachments": [], "components": []}
