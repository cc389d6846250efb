"""The weekly digest by email: every posted digest is mailed once to each address the
moderators listed, as HTML (the export's template) with a text part, the chart inline and
the CSV attached. A mail server that refuses or does not answer never stops the Discord post:
the failure goes to the guild's log channel, and the digest is mailed to each address once
(the database remembers which digest went to whom)."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

import aiosmtplib
from email_validator import EmailNotValidError, validate_email

from bot.core.errors import UserFacingError
from bot.core.shards import EVERY_GUILD
from bot.delivery import storage as queries
from bot.digest.chart import CHART_FILENAME, chart_png
from bot.digest.exports import to_csv, to_html, to_markdown
from bot.digest.rules import Digest
from bot.events.bus import Clock, EventBus
from bot.events.types import DigestPosted
from bot.i18n import _
from bot.storage import Database

log = logging.getLogger(__name__)

ADDRESSES_PER_GUILD = 50
# A digest is tried this many times per address: when posted, then by the catch-up (at start-up
# and every hour) within CATCH_UP_DAYS of the post (a crash or an unreachable server in between).
MAX_ATTEMPTS = 3
CATCH_UP_DAYS = 7
Reporter = Callable[[int, str], Awaitable[None]]
Rebuild = Callable[[int, str], Awaitable[Digest]]


@dataclass(frozen=True, slots=True)
class SmtpServer:
    hostname: str
    port: int
    use_tls: bool  # smtps: TLS from the first byte; smtp: STARTTLS when the server offers it
    username: str | None
    password: str | None

    @property
    def start_tls(self) -> bool | None:
        """STARTTLS on smtp://: required before sending a password anywhere but this machine,
        else used when the server offers it (None)."""
        if self.use_tls:
            return False
        if self.password is not None and not _is_loopback(self.hostname):
            return True
        return None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        tls = parts.scheme == "smtps"
        return cls(
            hostname=parts.hostname or "localhost",
            port=parts.port or (465 if tls else 25),
            use_tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalise_address(text: str) -> str:
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise UserFacingError(_("That is not a valid email address: {exc}").format(exc=exc)) from None


def digest_email(digest: Digest, sender: str, recipient: str, chart: bytes | None) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = _("Weekly digest {week}").format(week=digest.week)
    message["From"] = sender
    message["To"] = recipient
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    message.set_content(to_markdown(digest))
    chart_id = make_msgid(domain="ideabot")
    html = to_html(digest, chart=chart, chart_src=f"cid:{chart_id[1:-1]}" if chart else None)
    message.add_alternative(html, subtype="html")
    if chart:
        html_part = message.get_body(("html",))
        assert html_part is not None
        html_part.add_related(chart, maintype="image", subtype="png", cid=chart_id, filename=CHART_FILENAME)
    message.add_attachment(
        to_csv(digest).encode("utf-8"), maintype="text", subtype="csv", filename=f"digest-{digest.week}.csv"
    )
    return message


class DigestMailer:
    def __init__(
        self,
        db: Database,
        events: EventBus,
        clock: Clock,
        report: Reporter,
        *,
        smtp_url: str | None,
        sender: str | None,
        timeout: float = 30.0,
    ) -> None:
        self.db = db
        self.events = events
        self.clock = clock
        self.shards = EVERY_GUILD  # the guilds whose missed mails this process sends (bot/app.py sets it)
        self.report = report
        self.server = SmtpServer.from_url(smtp_url) if smtp_url else None
        self.sender = sender
        self.timeout = timeout
        self._tasks: set[asyncio.Task[int]] = set()
        # One mailing at a time: the post's own mailing and a catch-up must not both send.
        self._mail_lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self.server is not None and self.sender is not None

    def subscribe(self) -> None:
        self.events.subscribe(DigestPosted, self.on_digest_posted)

    # --- moderators' commands ------------------------------------------------------------------------

    async def add(self, guild_id: int, moderator_id: int, text: str) -> str:
        address = normalise_address(text)
        if len(await queries.addresses(self.db.conn, guild_id)) >= ADDRESSES_PER_GUILD:
            raise UserFacingError(
                _("A server can mail at most {addresses_per_guild} addresses; remove one first.").format(
                    addresses_per_guild=ADDRESSES_PER_GUILD
                )
            )
        async with self.db.transaction() as conn:
            if not await queries.add_address(conn, guild_id, address, moderator_id, self.clock()):
                raise UserFacingError(_("`{address}` already gets the digest.").format(address=address))
        return address

    async def remove(self, guild_id: int, text: str) -> str:
        address = normalise_address(text)
        async with self.db.transaction() as conn:
            if not await queries.remove_address(conn, guild_id, address):
                raise UserFacingError(
                    _("`{address}` is not on the list. `/digest email list` shows it.").format(address=address)
                )
        return address

    async def list(self, guild_id: int) -> list[str]:
        return await queries.addresses(self.db.conn, guild_id)

    # --- mailing -------------------------------------------------------------------------------------

    async def on_digest_posted(self, event: DigestPosted) -> None:
        # A slow mail server must not hold up whoever posted the digest.
        task = asyncio.create_task(self.mail(event.guild_id, event.week, event.digest), name="digest-email")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_sent(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def catch_up(self, rebuild: Rebuild) -> int:
        """Mail the recent digests that some address listed before the post has not had yet."""
        if not self.enabled:
            return 0
        since = self.clock() - timedelta(days=CATCH_UP_DAYS)
        sent = 0
        for guild_id, week, posted_at in await queries.digests_to_mail(self.db.conn, since, MAX_ATTEMPTS):
            if not self.shards.owns(guild_id):
                continue
            try:
                digest = await rebuild(guild_id, week)
                sent += await self.mail(guild_id, week, digest, added_before=posted_at)
            except Exception:
                log.exception("mailing the digest %s of guild %s at start-up failed", week, guild_id)
        return sent

    async def mail(self, guild_id: int, week: str, digest: Digest, added_before: datetime | None = None) -> int:
        """Mail the digest to every listed address that has not had it yet; returns how many got it."""
        async with self._mail_lock:
            return await self._mail(guild_id, week, digest, added_before)

    async def _mail(self, guild_id: int, week: str, digest: Digest, added_before: datetime | None) -> int:
        recipients = await queries.unmailed_addresses(self.db.conn, guild_id, week, MAX_ATTEMPTS, added_before)
        if not recipients:
            return 0
        if self.server is None or self.sender is None:
            log.info("digest %s of guild %s not mailed: IDEABOT_SMTP_URL is not set", week, guild_id)
            return 0
        try:
            chart: bytes | None = await asyncio.to_thread(chart_png, digest)
        except Exception:
            log.exception("rendering the digest chart for the email failed; mailing without it")
            chart = None
        sent, failures = 0, []
        for address in recipients:
            error = await self._send(digest_email(digest, self.sender, address, chart))
            async with self.db.transaction() as conn:
                await queries.record_mailing(conn, guild_id, week, address, self.clock(), error)
            if error is None:
                sent += 1
            else:
                failures.append(f"{address}: {error}")
        if failures:
            log.warning("digest %s of guild %s: %d of %d emails failed", week, guild_id, len(failures), len(recipients))
            await self.report(
                guild_id,
                _("The digest {week} was posted, but mailing it failed for:\n").format(week=week)
                + "\n".join(failures)[:1500],
            )
        return sent

    async def _send(self, message: EmailMessage) -> str | None:
        """None when the server accepted the message, else a short reason (never credentials)."""
        server = self.server
        assert server is not None
        try:
            await aiosmtplib.send(
                message,
                hostname=server.hostname,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.use_tls,
                start_tls=server.start_tls,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPTimeoutError:
            return _("the mail server did not answer in time")
        except aiosmtplib.SMTPResponseException as exc:
            return _("the mail server refused it ({code} {value})").format(code=exc.code, value=str(exc.message)[:120])
        except (aiosmtplib.SMTPException, OSError) as exc:
            return _("the mail server could not be reached ({error})").format(error=type(exc).__name__)
        return None
