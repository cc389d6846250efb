"""The gateway: HELLO, heartbeats, IDENTIFY/READY, RESUME with replay, and intent-filtered dispatch.

One bot session at a time is "current". Dispatches are numbered and kept in the session's
buffer; while no socket is attached they only go to the buffer, so a RESUME replays them just as
Discord does. A new IDENTIFY starts a new session, and the old one can no longer be resumed.
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
_GUILD_EVENTS = {
    "GUILD_CREATE",
    "GUILD_DELETE",
    "CHANNEL_CREATE",
    "THREAD_CREATE",
    "THREAD_UPDATE",
    "GUILD_ROLE_CREATE",
    "GUILD_ROLE_UPDATE",
}


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
class GatewaySession:
    id: str
    intents: int
    seq: int = 0
    buffer: list[dict[str, Any]] = field(default_factory=list)
    socket: web.WebSocketResponse | None = None
    resumable: bool = True

    def has(self, intent: int) -> bool:
        return intent == 0 or bool(self.intents & intent)


@dataclass
class GatewayStats:
    connections: int = 0
    identifies: int = 0
    resumes: int = 0
    invalid_sessions: int = 0
    replayed: int = 0
    dispatched: int = 0
    heartbeats: int = 0


class Gateway:
    """Serves the websocket and owns the bot's sessions."""

    def __init__(
        self,
        *,
        ready_payload: Callable[[GatewaySession], dict[str, Any]],
        guild_payloads: Callable[[GatewaySession], list[dict[str, Any]]],
        token_ok: Callable[[str], bool],
        guild_members: Callable[[int], list[dict[str, Any]]] = lambda guild_id: [],
        heartbeat_interval: int = 41250,
        buffer_size: int = 10000,
    ) -> None:
        self._ready_payload = ready_payload
        self._guild_payloads = guild_payloads
        self._token_ok = token_ok
        self._guild_members = guild_members
        self.heartbeat_interval = heartbeat_interval
        self.buffer_size = buffer_size
        self.sessions: dict[str, GatewaySession] = {}
        self.current: GatewaySession | None = None
        self.stats = GatewayStats()
        self.hold_until = 0.0  # monotonic; connections wait before HELLO until then
        self.sockets: set[web.WebSocketResponse] = set()
        self.sent: list[dict[str, Any]] = []  # every dispatch actually written to a socket
        self._send_lock = asyncio.Lock()
        self.ready_event = asyncio.Event()

    @property
    def intents(self) -> int:
        return self.current.intents if self.current else 0

    @property
    def connected(self) -> bool:
        return self.current is not None and self.current.socket is not None and not self.current.socket.closed

    # --- dispatching ------------------------------------------------------------------

    async def dispatch(self, event: str, data: dict[str, Any], *, in_guild: bool = True) -> bool:
        """Sends an event to the current session if its intents allow; False when filtered out."""
        session = self.current
        if session is None or not session.has(intent_for(event, in_guild)):
            return False
        if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not session.has(MESSAGE_CONTENT):
            data = _without_content(data, session)
        await self._send_dispatch(session, event, data)
        return True

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
        except (ConnectionResetError, RuntimeError):
            log.debug("gateway socket went away while sending %s", frame.get("t"))

    # --- control for tests ------------------------------------------------------------

    async def drop(self, *, resume: bool = True, hold: float = 0.0) -> None:
        """Closes the bot's socket abruptly; with resume=False the session is forgotten."""
        session = self.current
        if hold > 0:
            self.hold_until = time.monotonic() + hold
        if session is None:
            return
        if not resume:
            session.resumable = False
            self.sessions.pop(session.id, None)
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
                attached = await self._on_frame(socket, frame) or attached
        finally:
            self.sockets.discard(socket)
            if attached is not None and attached.socket is socket:
                attached.socket = None
                if socket.close_code == 1000 and attached is self.current:
                    # A clean close by the client ends the session, as on Discord.
                    attached.resumable = False
                    self.sessions.pop(attached.id, None)
        return socket

    async def _on_frame(self, socket: web.WebSocketResponse, frame: dict[str, Any]) -> GatewaySession | None:
        op = frame.get("op")
        data = frame.get("d")
        if op == HEARTBEAT:
            self.stats.heartbeats += 1
            await socket.send_str(json.dumps({"op": HEARTBEAT_ACK}))
        elif op == IDENTIFY:
            return await self._identify(socket, data or {})
        elif op == RESUME:
            return await self._resume(socket, data or {})
        elif op == REQUEST_GUILD_MEMBERS:
            await self._send_member_chunks(data or {})
        return None

    async def _send_member_chunks(self, data: dict[str, Any]) -> None:
        """Answers REQUEST_GUILD_MEMBERS (discord.py chunks guilds when it has GUILD_MEMBERS)."""
        session = self.current
        if session is None or not session.has(GUILD_MEMBERS):
            return
        guild_ids = data.get("guild_id")
        wanted_ids = {str(u) for u in data.get("user_ids") or []}
        query = str(data.get("query") or "").lower()
        limit = int(data.get("limit") or 0)
        for guild_id in guild_ids if isinstance(guild_ids, list) else [guild_ids]:
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
            await socket.close(code=4004, message=b"Authentication failed.")
            return None
        self.stats.identifies += 1
        if self.current is not None:
            self.current.resumable = False
            self.sessions.pop(self.current.id, None)
            old_socket = self.current.socket
            if old_socket is not None and old_socket is not socket and not old_socket.closed:
                await old_socket.close(code=4000)
        session = GatewaySession(id=secrets.token_hex(16), intents=int(data.get("intents", 0)), socket=socket)
        self.sessions[session.id] = session
        self.current = session
        await self._send_dispatch(session, "READY", self._ready_payload(session))
        for guild in self._guild_payloads(session):
            await self._send_dispatch(session, "GUILD_CREATE", guild)
        self.ready_event.set()
        return session

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


def _without_content(data: dict[str, Any], session: GatewaySession) -> dict[str, Any]:
    """Without MESSAGE_CONTENT, Discord blanks content except in DMs, mentions and the bot's own."""
    if "guild_id" not in data:
        return data
    author = data.get("author") or {}
    if author.get("bot"):
        return data
    return {**data, "content": "", "embeds": [], "attachments": [], "components": []}
