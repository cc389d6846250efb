"""Signed webhooks to the firm's tools: registered by moderators, fed by domain events, and
delivered from a queue in the database, so a restart resumes where it stopped. An idea's
deliveries are queued in the very transaction that changes the idea (the bus's transactional
handlers), so no crash can keep the change and lose its webhooks.

Each webhook gets its deliveries strictly in the order they were queued (so in order per
idea), at least once, each with an idempotency key the receiver can deduplicate on. Failures
are retried with a growing delay; a webhook failing for `disable_after` is disabled and the
log channel told. A URL or secret never goes into a log line: webhooks are named by id."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import secrets
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from bot.core.errors import UserFacingError
from bot.core.shards import EVERY_GUILD
from bot.delivery import storage as queries
from bot.delivery.rules import (
    SIGNATURE_HEADER,
    WebhookRuleError,
    address_allowed,
    check_url,
    envelope,
    idea_payload,
    parse_events,
    retry_delay,
    sign,
)
from bot.digest.exports import to_dict
from bot.events.bus import Clock, EventBus
from bot.events.types import DigestPosted, IdeasMerged, IdeaStatusChanged, IdeaSubmitted, StageReached
from bot.i18n import _, use
from bot.ideas import storage as idea_queries
from bot.storage import Database

log = logging.getLogger(__name__)

Resolver = Callable[[str, int], Awaitable[list[str]]]
# (guild_id, text) -> None: tells the guild's log channel.
Reporter = Callable[[int, str], Awaitable[None]]

WEBHOOKS_PER_GUILD = 10

# httpx logs every request's URL at INFO; a webhook URL can carry a token, so its lines are
# dropped while a webhook request is being sent.
_sending_webhook: contextvars.ContextVar[bool] = contextvars.ContextVar("sending_webhook", default=False)


class _QuietWhileSending(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _sending_webhook.get()


logging.getLogger("httpx").addFilter(_QuietWhileSending())


def _ascii_host(url: httpx.URL) -> str:
    """The host as DNS and TLS know it (an international name in its xn-- form)."""
    return url.raw_host.decode("ascii")


async def resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class WebhookService:
    def __init__(
        self,
        db: Database,
        events: EventBus,
        clock: Clock,
        report: Reporter,
        *,
        allow_private: bool = False,
        timeout: float = 10.0,
        disable_after: timedelta = timedelta(days=1),
        poll_seconds: float = 5.0,
        language_of: Callable[[int], Awaitable[str]] | None = None,
    ) -> None:
        self.shards = EVERY_GUILD  # the guilds whose deliveries this process sends (bot/app.py sets it)
        self.db = db
        # Reports go to the guild's log channel: in the guild's language.
        self.language_of = language_of
        self.events = events
        self.clock = clock
        self.report = report
        self.allow_private = allow_private
        self.timeout = timeout
        self.disable_after = disable_after
        self.poll_seconds = poll_seconds
        self.resolve: Resolver = resolve
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._deliver_lock = asyncio.Lock()
        # Never follows redirects: a redirect could point anywhere, past the address check.
        self._http = httpx.AsyncClient(follow_redirects=False, trust_env=False)

    def subscribe(self) -> None:
        idea_events: list[tuple[type[Any], Callable[[Any, Any], Awaitable[None]]]] = [
            (IdeaSubmitted, self.queue_submitted),
            (IdeaStatusChanged, self.queue_status_changed),
            (IdeasMerged, self.queue_merged),
            (StageReached, self.queue_stage_reached),
        ]
        for event_type, queue in idea_events:
            self.events.subscribe_in_transaction(event_type, queue)
            self.events.subscribe(event_type, self.on_committed)
        self.events.subscribe(DigestPosted, self.on_digest_posted)

    # --- moderators' commands ------------------------------------------------------------------------

    async def _check_reachable(self, url: str) -> None:
        check_url(url, self.allow_private)
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise WebhookRuleError(_("That is not a valid URL.")) from None
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            addresses = await self.resolve(_ascii_host(parsed), port)
        except (OSError, UnicodeError):
            raise WebhookRuleError(_("That host name does not resolve.")) from None
        if not addresses or not all(address_allowed(a, self.allow_private) for a in addresses):
            raise WebhookRuleError(_("Webhooks may only reach public internet addresses, not private or local ones."))

    async def add(
        self, guild_id: int, moderator_id: int, url: str, events_text: str | None
    ) -> tuple[str, tuple[str, ...]]:
        """Register a webhook; returns its signing secret (shown once) and its events."""
        url = url.strip()
        try:
            events = parse_events(events_text)
            await self._check_reachable(url)
        except WebhookRuleError as exc:
            raise UserFacingError(str(exc)) from None
        if len(await queries.webhooks(self.db.conn, guild_id)) >= WEBHOOKS_PER_GUILD:
            raise UserFacingError(
                _("A server can have at most {webhooks_per_guild} webhooks; remove one first.").format(
                    webhooks_per_guild=WEBHOOKS_PER_GUILD
                )
            )
        secret = secrets.token_hex(32)
        async with self.db.transaction() as conn:
            added = await queries.add_webhook(conn, guild_id, url, secret, events, moderator_id, self.clock())
        if not added:
            raise UserFacingError(_("That webhook is already registered. Remove it first to get a new secret."))
        return secret, events

    async def remove(self, guild_id: int, url: str) -> None:
        async with self.db.transaction() as conn:
            removed = await queries.remove_webhook(conn, guild_id, url.strip())
        if not removed:
            raise UserFacingError(_("No webhook with that URL is registered here. `/ideamod webhook list` shows them."))

    async def list(self, guild_id: int) -> list[queries.Webhook]:
        return await queries.webhooks(self.db.conn, guild_id)

    # --- queueing ------------------------------------------------------------------------------------

    async def enqueue(self, guild_id: int, event: str, at: datetime, data: dict[str, Any]) -> int:
        """Store one delivery per webhook that takes `event`, before any attempt."""
        async with self.db.transaction() as conn:
            queued = await self._queue(conn, guild_id, event, at, data)
        if queued:
            self._wake.set()
        return queued

    async def _queue(self, conn: Any, guild_id: int, event: str, at: datetime, data: dict[str, Any]) -> int:
        targets = await queries.subscribers(conn, guild_id, event)
        for webhook_id in targets:
            key = uuid.uuid4().hex
            body = envelope(event, key, guild_id, at, data)
            await queries.add_delivery(conn, webhook_id, event, key, body, self.clock())
        return len(targets)

    async def _queue_idea_event(
        self, conn: Any, guild_id: int, idea_id: int, event: str, at: datetime, **extra: Any
    ) -> None:
        """Inside the change's transaction: the idea is read as that transaction sees it."""
        if not await queries.subscribers(conn, guild_id, event):
            return
        idea = await idea_queries.get_idea(conn, idea_id)
        if idea is None:
            return
        await self._queue(conn, guild_id, event, at, {"idea": idea_payload(idea), **extra})

    async def queue_submitted(self, conn: Any, event: IdeaSubmitted) -> None:
        await self._queue_idea_event(conn, event.guild_id, event.idea_id, "idea.created", event.at)

    async def queue_status_changed(self, conn: Any, event: IdeaStatusChanged) -> None:
        await self._queue_idea_event(
            conn,
            event.guild_id,
            event.idea_id,
            "idea.status_changed",
            event.at,
            old_status=event.old_status.value,
            new_status=event.new_status.value,
            reason=event.reason,
        )

    async def queue_merged(self, conn: Any, event: IdeasMerged) -> None:
        source = await idea_queries.get_idea(conn, event.source_id)
        merged = {"number": source.number, "title": source.title} if source is not None else None
        await self._queue_idea_event(conn, event.guild_id, event.target_id, "idea.merged", event.at, merged=merged)

    async def queue_stage_reached(self, conn: Any, event: StageReached) -> None:
        stage = {"number": event.stage, "votes": event.votes, "days": event.days}
        await self._queue_idea_event(conn, event.guild_id, event.idea_id, "idea.stage_reached", event.at, stage=stage)

    async def on_committed(self, event: object) -> None:
        """The change and its deliveries are committed: send them without waiting for the poll."""
        self._wake.set()

    async def on_digest_posted(self, event: DigestPosted) -> None:
        url = f"https://discord.com/channels/{event.guild_id}/{event.channel_id}/{event.message_id}"
        data = {"week": event.week, "url": url, "digest": to_dict(event.digest)}
        await self.enqueue(event.guild_id, "digest.posted", event.at, data)

    # --- delivering ----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="webhook-deliveries")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        await self._http.aclose()

    async def _run(self) -> None:
        while True:
            self._wake.clear()  # before the pass: a delivery queued during it wakes the next one
            try:
                await self.deliver_due()
            except Exception:
                log.exception("webhook delivery pass failed; retrying at the next pass")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)

    async def deliver_due(self) -> int:
        """Send every delivery that is due, per webhook in order; returns how many succeeded."""
        async with self._deliver_lock:
            # Webhooks side by side: one slow receiver must not hold up the others' events.
            pending = await queries.webhooks_with_pending(self.db.conn)
            counts = await asyncio.gather(*(self._deliver_webhook(webhook_id) for webhook_id in pending))
            return sum(counts)

    async def _deliver_webhook(self, webhook_id: int) -> int:
        delivered = 0
        while True:
            hook = await queries.webhook(self.db.conn, webhook_id)
            delivery = await queries.next_delivery(self.db.conn, webhook_id)
            if hook is None or hook.disabled_at is not None or delivery is None:
                return delivered
            if not self.shards.owns(hook.guild_id):  # its guild's process delivers it
                return delivered
            if delivery.next_attempt_at > self.clock():
                return delivered
            error = await self._send(hook, delivery)
            now = self.clock()
            if error is None:
                async with self.db.transaction() as conn:
                    await queries.mark_delivered(conn, delivery.id, hook.id, now)
                delivered += 1
                continue
            retry_at = now + retry_delay(delivery.attempts + 1)
            async with self.db.transaction() as conn:
                failing_since = await queries.mark_failed(conn, delivery.id, hook.id, error, retry_at, now)
                disable = now - failing_since >= self.disable_after
                disabled = disable and await queries.disable_webhook(conn, hook.id, now)
            log.warning("webhook %s: delivery %s failed (%s)", hook.id, delivery.id, error)
            if disabled:
                log.warning("webhook %s disabled after failing since %s", hook.id, failing_since.isoformat())
                language = await self.language_of(hook.guild_id) if self.language_of is not None else None
                with use(language):
                    text = _(
                        "Webhook #{id} to {host} failed every delivery since <t:{timestamp}:f> (last error: "
                        "{error}) and "
                        "is now disabled. Its undelivered events are kept; remove it and add it again to resume."
                    ).format(
                        id=hook.id, host=httpx.URL(hook.url).host, timestamp=int(failing_since.timestamp()), error=error
                    )
                await self.report(hook.guild_id, text)
            return delivered

    async def _send(self, hook: queries.Webhook, delivery: queries.Delivery) -> str | None:
        """One attempt; None on a 2xx answer, else a short reason (never the URL or secret)."""
        url = httpx.URL(hook.url)
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            addresses = await self.resolve(_ascii_host(url), port)
        except (OSError, UnicodeError):
            return "host does not resolve"
        allowed = [a for a in addresses if address_allowed(a, self.allow_private)]
        if not allowed or len(allowed) != len(addresses):
            return "host resolves to a private or local address"
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "ideabot-webhooks",
            SIGNATURE_HEADER: sign(hook.secret, body),
            "X-Ideabot-Event": delivery.event,
            "X-Ideabot-Delivery": delivery.idempotency_key,
            "Idempotency-Key": delivery.idempotency_key,
            "Host": url.netloc.decode("ascii"),
        }
        # Connect to the address just checked (DNS may answer differently a moment later);
        # TLS still verifies the certificate against the host name.
        target = url.copy_with(host=allowed[0])
        extensions = {"sni_hostname": _ascii_host(url)} if url.scheme == "https" else {}
        sending = _sending_webhook.set(True)
        try:
            async with asyncio.timeout(self.timeout):
                request = self._http.build_request(
                    "POST", target, content=body, headers=headers, extensions=extensions, timeout=self.timeout
                )
                response = await self._http.send(request, stream=True)
                # The answer's body is never read: a receiver could send gigabytes.
                await response.aclose()
        except (TimeoutError, httpx.TimeoutException):
            return "timed out"
        except httpx.HTTPError as exc:
            return f"connection failed ({type(exc).__name__})"
        finally:
            _sending_webhook.reset(sending)
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"
