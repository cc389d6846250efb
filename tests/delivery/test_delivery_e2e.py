"""End-to-end: the firm's side, delivered where the firm works. Digest emails go to a real SMTP
server (aiosmtpd on 127.0.0.1), webhooks to a real HTTP receiver (aiohttp on 127.0.0.1) that
checks each signature; failures (a refusing or silent mail server, a receiver that errors,
redirects, stalls or stays down for a day) and attacks (private addresses, DNS that changes
after the webhook was added, moderator-only commands, anonymous authors) included."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from aiohttp import web
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from discord_emulator.state import Message

from bot.storage import Database
from bot.testing import (
    Community,
    FakeClock,
    build_community,
    emulator_settings,
    running_bot,
    running_community,
    set_up_guild,
)
from discord_emulator import DiscordEmulator

TUESDAY = datetime(2030, 3, 5, 12, tzinfo=UTC)  # ISO week 2030-W10
SMTP_USER, SMTP_PASSWORD = "ideabot", "mail-pass-w0rd!"
HOOK_PATH = "/hooks/path-token-9f8e7d"  # a URL's path often carries a token: never logged


# --- a real SMTP server --------------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler: keeps what it accepts; refuses every message when told to."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refuse = False

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse:
            return "554 5.7.1 Message refused by policy"
        content = envelope.original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.messages.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"


def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (SMTP_USER.encode(), SMTP_PASSWORD.encode())
    return AuthResult(success=ok)


@contextlib.asynccontextmanager
async def smtp_server(mailbox: Mailbox) -> AsyncIterator[int]:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(mailbox, authenticator=authenticate, auth_require_tls=False, auth_required=True),
        "127.0.0.1",
        0,
    )
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """Accepts connections and never says a word (a mail server that hangs)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


# --- a real webhook receiver ---------------------------------------------------------------------------


class Receiver:
    """An aiohttp server on 127.0.0.1: records every request, answers with the queued statuses
    (then 200), optionally stalls, redirects or streams an endless answer."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes, int]] = []
        self.answers: list[int] = []
        self.always: int | None = None
        self.stall = 0.0
        self.endless = False
        self.redirected = 0
        self.port = 0
        self.arrivals: list[float] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{HOOK_PATH}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        status = self.always or (self.answers.pop(0) if self.answers else 200)
        self.requests.append((request.path, dict(request.headers), body, status))
        self.arrivals.append(time.monotonic())
        if self.stall:
            await asyncio.sleep(self.stall)
        if status in (301, 302, 307, 308):
            raise web.HTTPTemporaryRedirect(location="/elsewhere")
        if self.endless:
            response = web.StreamResponse(status=status)
            await response.prepare(request)
            chunk = b"x" * 1_000_000
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                for _ in range(10_000):  # 10 GB if anyone read it
                    await response.write(chunk)
            return response
        return web.Response(status=status, text="ok")

    async def elsewhere(self, request: web.Request) -> web.Response:
        self.redirected += 1
        return web.Response(text="followed")

    def delivered(self) -> list[dict[str, Any]]:
        """Bodies answered with 2xx, in arrival order."""
        return [json.loads(body) for path, _, body, status in self.requests if status < 300 and path == HOOK_PATH]


@contextlib.asynccontextmanager
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    app = web.Application()
    app.router.add_post(HOOK_PATH, r.handle)
    app.router.add_route("*", "/elsewhere", r.elsewhere)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    r.port = runner.addresses[0][1]
    try:
        yield r
    finally:
        await runner.cleanup()


# --- the community -------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def firm_community(emulator: DiscordEmulator, tmp_path: Path, **overrides: Any) -> AsyncIterator[Community]:
    values: dict[str, Any] = {"webhook_allow_private": True, "smtp_from": "digest@ideabot.example"}
    values.update(overrides)
    members = ["alice", "bob", "carol", "dave"]
    async with running_community(emulator, tmp_path, members, clock=FakeClock(TUESDAY), **values) as c:
        yield c


def ours(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    """Every record but the raw payload and SQL dumps that bot.logs.setup_logging keeps off
    (tests/ops/test_logs.py), and the test's own servers' (emulator, receiver, SMTP server)."""
    return [
        r
        for r in records
        if not (r.name in ("discord.http", "discord.gateway", "aiosqlite") and r.levelno < logging.INFO)
        and not r.name.startswith(("discord_emulator", "aiohttp", "mail.log"))  # the test's own servers
    ]


def log_lines(c: Community) -> list[str]:
    return [
        f"{e.get('title', '')} {e.get('description', '')}"
        for m in c.emu.messages_in(c.log)
        for e in m.embeds
        if m.author_id == c.emu.bot_user.id
    ]


def digest_messages(c: Community) -> list[Message]:
    return [m for m in c.emu.messages_in(c.digest) if m.author_id == c.emu.bot_user.id]


async def deliver(c: Community) -> int:
    await c.settle()
    await c.bot.services.mailer.wait_sent()
    return int(await c.bot.services.webhooks.deliver_due())


async def add_webhook(c: Community, url: str, events: str | None = None) -> str:
    options = {"events": events} if events else {}
    reply = await c.mod.run("/ideamod webhook add", url=url, channel=c.general, **options)
    assert reply.ephemeral, reply.text
    match = re.search(r"secret[^`]*`([0-9a-f]{64})`", reply.text)
    assert match, reply.text
    return match.group(1)


def documented_schema() -> dict[str, Any]:
    """The JSON Schema in docs/webhooks.md: what the firm's tools are told to expect."""
    text = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text(encoding="utf-8")
    block = text.split("### JSON Schema", 1)[1].split("```json", 1)[1].split("```", 1)[0]
    schema: dict[str, Any] = json.loads(block)
    jsonschema.Draft202012Validator.check_schema(schema)
    return schema


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("X-Ideabot-Signature", ""), expected)


async def week_and_post(c: Community) -> None:
    dark = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.bob.react(dark, "👍")
    await c.settle()
    c.clock.now = TUESDAY + timedelta(days=7)
    posted = await c.mod.run("/digest post", channel=c.general)
    assert "Posted the digest for 2030-W10" in posted.text, posted.text


# --- email -----------------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_digest_is_mailed_once_per_address_with_html_text_chart_and_csv(
    emulator: DiscordEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    mailbox = Mailbox()
    async with smtp_server(mailbox) as port:
        url = f"smtp://{SMTP_USER}:{SMTP_PASSWORD.replace('!', '%21')}@127.0.0.1:{port}"
        async with firm_community(emulator, tmp_path, smtp_url=url) as c:
            bad = await c.mod.run("/digest email add", address="not-an-address", channel=c.general)
            assert bad.ephemeral and "not a valid email address" in bad.text
            refused = await c.alice.run("/digest email add", address="alice@example.com", channel=c.general)
            assert refused.ephemeral and "moderators" in refused.text
            for address in ("ceo@Firm.example", "board@firm.example"):
                added = await c.mod.run("/digest email add", address=address, channel=c.general)
                assert added.ephemeral and "will get every posted digest" in added.text
            again = await c.mod.run("/digest email add", address="ceo@firm.example", channel=c.general)
            assert "already gets the digest" in again.text
            listed = await c.mod.run("/digest email list", channel=c.general)
            assert "board@firm.example" in listed.text and "ceo@firm.example" in listed.text
            assert "alice@example.com" not in listed.text

            await week_and_post(c)
            await deliver(c)
            assert len(digest_messages(c)) == 1
            assert sorted(rcpt for rcpts, _ in mailbox.messages for rcpt in rcpts) == [
                "board@firm.example",
                "ceo@firm.example",
            ]
            message = mailbox.messages[0][1]
            assert message["Subject"] == "Weekly digest 2030-W10"
            assert message["From"] == "digest@ideabot.example"
            html = message.get_body(("html",))
            text = message.get_body(("plain",))
            assert html is not None and text is not None
            html_text = html.get_content() if html.get_content_type() == "text/html" else ""
            if not html_text:  # multipart/related around the HTML and the chart
                html_text = next(p.get_content() for p in html.iter_parts() if p.get_content_type() == "text/html")
            assert "Weekly digest · 2030-W10" in html_text and "#1 Dark mode" in html_text
            assert "#1 Dark mode" in text.get_content()
            images = [p for p in message.walk() if p.get_content_type() == "image/png"]
            assert len(images) == 1 and images[0].get_content().startswith(b"\x89PNG")
            cid = str(images[0]["Content-ID"]).strip("<>")
            assert f'src="cid:{cid}"' in html_text and "data:image/png" not in html_text
            attachments = [p for p in message.iter_attachments() if p.get_filename() == "digest-2030-W10.csv"]
            assert len(attachments) == 1
            assert "Dark mode" in attachments[0].get_content()

            # Posting again (and the mailer asked again) mails nothing more.
            again_post = await c.mod.run("/digest post", channel=c.general)
            assert "already posted" in again_post.text
            digest = await c.bot.services.digests.build(c.guild.id)
            assert await c.bot.services.mailer.mail(c.guild.id, "2030-W10", digest) == 0
            await deliver(c)
            assert len(mailbox.messages) == 2
            # Two mailings of one digest at once (the post's own and a catch-up): one email each.
            await c.mod.run("/digest email add", address="cfo@firm.example", channel=c.general)
            mailer = c.bot.services.mailer
            sent = await asyncio.gather(*(mailer.mail(c.guild.id, "2030-W10", digest) for _ in range(2)))
            assert sorted(sent) == [0, 1] and len(mailbox.messages) == 3

            removed = await c.mod.run("/digest email remove", address="board@firm.example", channel=c.general)
            assert "no longer gets the digest" in removed.text
            listed = await c.mod.run("/digest email list", channel=c.general)
            assert "board@" not in listed.text and "ceo@firm.example" in listed.text
    assert all(SMTP_PASSWORD not in r.getMessage() and url not in r.getMessage() for r in ours(caplog.records))


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("failure", ["refuses", "hangs"])
async def test_a_failing_mail_server_never_stops_the_discord_post(
    emulator: DiscordEmulator, tmp_path: Path, failure: str
) -> None:
    mailbox = Mailbox()
    mailbox.refuse = True
    server = smtp_server(mailbox) if failure == "refuses" else silent_server()
    async with server as port:
        url = f"smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{port}"
        async with firm_community(emulator, tmp_path, smtp_url=url, smtp_timeout_seconds=0.5) as c:
            await c.mod.run("/digest email add", address="ceo@firm.example", channel=c.general)
            started = time.monotonic()
            await week_and_post(c)
            await deliver(c)
            assert time.monotonic() - started < 10
            assert len(digest_messages(c)) == 1  # the Discord post happened
            assert mailbox.messages == []
            told = [line for line in log_lines(c) if "mailing it failed" in line]
            assert len(told) == 1 and "ceo@firm.example" in told[0]
            assert ("refused" if failure == "refuses" else "did not answer in time") in told[0]
            assert SMTP_PASSWORD not in told[0]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
async def test_a_digest_not_mailed_before_a_restart_is_mailed_once_after_it(
    emulator: DiscordEmulator, tmp_path: Path, database_target: str
) -> None:
    path = database_target
    db = await Database.open(path)
    clock = FakeClock(TUESDAY)
    mailbox = Mailbox()
    mailbox.refuse = True
    try:
        async with smtp_server(mailbox) as port:
            values = {"smtp_url": f"smtp://{SMTP_USER}:{SMTP_PASSWORD}@127.0.0.1:{port}", "smtp_from": "d@firm.example"}
            settings = emulator_settings(emulator, path, **values)
            c = await build_community(emulator, db, clock, settings, ["alice", "bob"])
            async with running_bot(settings, db, clock) as bot:
                c.bot = bot
                await set_up_guild(c)
                await c.mod.run("/digest email add", address="ceo@firm.example", channel=c.general)
                await week_and_post(c)
                await deliver(c)
            assert mailbox.messages == []
            # Listed after the post: never gets this digest (only the next ones).
            mailbox.refuse = False
            for _ in range(2):  # the second restart mails nothing more
                clock.advance(hours=1)
                async with running_bot(settings, db, clock) as bot:
                    c.bot = bot
                    cog = bot.get_cog("Delivery")
                    assert cog is not None
                    await asyncio.wait_for(cog.mails_caught_up.wait(), 10)  # type: ignore[attr-defined]
                    await bot.services.mailer.wait_sent()
                    if not mailbox.messages:
                        await c.mod.run("/digest email add", address="late@firm.example", channel=c.general)
                assert [rcpts for rcpts, _ in mailbox.messages] == [["ceo@firm.example"]]
            assert mailbox.messages[0][1]["Subject"] == "Weekly digest 2030-W10"
            assert len(digest_messages(c)) == 1
    finally:
        await db.close()


# --- webhooks --------------------------------------------------------------------------------------------


async def test_webhook_events_are_signed_in_order_and_never_name_an_anonymous_author(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    async with receiver() as r, firm_community(emulator, tmp_path) as c:
        secret = await add_webhook(c, r.url)
        listed = await c.mod.run("/ideamod webhook list", channel=c.general)
        assert r.url in listed.text and secret not in listed.text
        assert "now allowed" in (await c.mod.run("/ideamod anonymous", allow=True, channel=c.general)).text
        assert (await c.mod.run("/ideamod thresholds", stages="2/30", archive_days=90, channel=c.general)).ephemeral
        first = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
        await c.submit(c.bob, title="Pay transparency", details="Publish the salary bands", anonymous=True)
        await c.carol.react(first, "👍")
        await c.dave.react(first, "👍")  # stage 1: 2 upvotes
        await c.settle()
        await c.mod.run("/ideamod status", id=2, status="planned", reason="Budget approved", channel=c.general)
        await c.submit(c.carol, title="Night theme", details="Please add a night theme too")
        await c.mod.run("/ideamod merge", source=3, target=1, channel=c.general)
        c.clock.now = TUESDAY + timedelta(days=7)
        assert "Posted" in (await c.mod.run("/digest post", channel=c.general)).text
        await deliver(c)

        bodies = r.delivered()
        schema = documented_schema()
        for body in bodies:
            jsonschema.validate(body, schema)
        for _, headers, body, _ in r.requests:
            assert verify(secret, headers, body)
            assert headers["X-Ideabot-Delivery"] == json.loads(body)["id"] == headers["Idempotency-Key"]
        events = [(b["event"], b["data"].get("idea", {}).get("number")) for b in bodies]
        assert events == [
            ("idea.created", 1),
            ("idea.created", 2),
            ("idea.stage_reached", 1),  # queued with the crossing, before the move it causes
            ("idea.status_changed", 1),  # open -> under review at stage 1
            ("idea.status_changed", 2),
            ("idea.created", 3),
            ("idea.status_changed", 3),  # the duplicate
            ("idea.merged", 1),
            ("digest.posted", None),
        ]
        assert len({b["id"] for b in bodies}) == len(bodies)
        anonymous = [b for b in bodies if b["data"].get("idea", {}).get("number") == 2]
        for b in anonymous:
            assert b["data"]["idea"]["authors"] == [] and b["data"]["idea"]["anonymous_authors"] == 1
        for _, _, body, _ in r.requests:
            assert str(c.bob.id) not in body.decode()  # nowhere: not in the digest either
        assert bodies[0]["data"]["idea"]["authors"] == [str(c.alice.id)]
        planned = bodies[4]["data"]
        assert (planned["old_status"], planned["new_status"], planned["reason"]) == (
            "open",
            "planned",
            "Budget approved",
        )
        assert bodies[2]["data"]["stage"] == {"number": 1, "votes": 2, "days": 30}
        assert bodies[7]["data"]["merged"] == {"number": 3, "title": "Night theme"}
        assert bodies[8]["data"]["week"] == "2030-W10" and bodies[8]["data"]["digest"]["week"] == "2030-W10"


async def test_a_receiver_that_fails_then_recovers_gets_each_event_once_in_order(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    async with receiver() as r, firm_community(emulator, tmp_path) as c:
        await add_webhook(c, r.url, events="idea.created idea.status_changed")
        r.always = 500
        for n in range(3):
            await c.submit(c.alice, title=f"Idea number {n}", details="Details of this idea, long enough")
        await c.mod.run("/ideamod status", id=1, status="planned", channel=c.general)
        await deliver(c)
        assert r.delivered() == []
        # Only the oldest event was tried: the rest wait behind it, so the order holds.
        head = {json.loads(body)["data"]["idea"]["number"] for _, _, body, _ in r.requests}
        assert head == {1}
        r.always, r.answers = None, [503]
        c.clock.advance(hours=1)
        await deliver(c)
        assert r.delivered() == []
        c.clock.advance(hours=1)
        await deliver(c)
        delivered = r.delivered()
        assert [(b["event"], b["data"]["idea"]["number"]) for b in delivered] == [
            ("idea.created", 1),
            ("idea.created", 2),
            ("idea.created", 3),
            ("idea.status_changed", 1),
        ]
        attempts = [json.loads(body)["id"] for _, _, body, _ in r.requests]
        assert attempts.count(delivered[0]["id"]) >= 3  # the same event (same key) retried
        assert all(attempts.count(b["id"]) == 1 for b in delivered[1:])
        c.clock.advance(hours=2)
        await deliver(c)
        assert len(r.delivered()) == 4


async def test_a_webhook_down_for_a_day_is_disabled_and_the_log_channel_told(
    emulator: DiscordEmulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with receiver() as r, firm_community(emulator, tmp_path) as c:
        secret = await add_webhook(c, r.url)
        r.always = 500
        await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
        await deliver(c)
        for _ in range(23):
            c.clock.advance(hours=1)
            await deliver(c)
        assert not [line for line in log_lines(c) if "disabled" in line]  # 23 hours: still trying
        c.clock.advance(hours=1, seconds=1)
        await deliver(c)
        told = [line for line in log_lines(c) if "disabled" in line]
        assert len(told) == 1 and "Webhook #1" in told[0]
        assert HOOK_PATH not in told[0] and secret not in told[0]
        listed = await c.mod.run("/ideamod webhook list", channel=c.general)
        assert "disabled" in listed.text
        tries = len(r.requests)
        c.clock.advance(days=2)
        await c.submit(c.bob, title="Export to CSV", details="Download the weekly report as a CSV file")
        await deliver(c)
        assert len(r.requests) == tries  # disabled: nothing more is sent
    for record in ours(caplog.records):
        assert HOOK_PATH not in record.getMessage() and secret not in record.getMessage()


async def test_deliveries_survive_a_restart(emulator: DiscordEmulator, tmp_path: Path, database_target: str) -> None:
    path = database_target
    db = await Database.open(path)
    clock = FakeClock(TUESDAY)
    settings = emulator_settings(emulator, path, webhook_allow_private=True)
    c = await build_community(emulator, db, clock, settings, ["alice"])
    try:
        async with receiver() as r:
            async with running_bot(settings, db, clock) as bot:
                c.bot = bot
                await set_up_guild(c)
                await add_webhook(c, r.url)
                r.always = 500
                await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
                await c.submit(c.alice, title="Export to CSV", details="Download the weekly report as a CSV file")
                await deliver(c)
            assert r.delivered() == []
            r.always = None
            clock.advance(minutes=10)
            async with running_bot(settings, db, clock) as bot:
                c.bot = bot
                await deliver(c)
            assert [b["data"]["idea"]["number"] for b in r.delivered()] == [1, 2]
    finally:
        await db.close()


async def test_redirects_are_not_followed_and_slow_or_huge_answers_do_not_hold_delivery(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    async with receiver() as r, firm_community(emulator, tmp_path, webhook_timeout_seconds=0.5) as c:
        await add_webhook(c, r.url, events="idea.created")
        r.answers = [307]
        await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
        await deliver(c)
        assert r.redirected == 0 and r.delivered() == []
        # A receiver that never answers in time.
        r.stall = 5
        c.clock.advance(seconds=31)
        started = time.monotonic()
        await deliver(c)
        assert (time.monotonic() - started < 3 and r.delivered()[-1:] == []) or len(r.requests) == 2
        async with c.db.conn.execute("SELECT last_error FROM webhook_deliveries") as cursor:
            assert [row[0] for row in await cursor.fetchall()] == ["timed out"]
        # A 200 with an endless body: the body is never read.
        r.stall = 0
        r.endless = True
        c.clock.advance(minutes=2)
        started = time.monotonic()
        assert await deliver(c) == 1
        assert time.monotonic() - started < 3


async def test_a_stalled_receiver_does_not_hold_up_another_webhook(emulator: DiscordEmulator, tmp_path: Path) -> None:
    async with (
        receiver() as slow,
        receiver() as fast,
        firm_community(emulator, tmp_path, webhook_timeout_seconds=3) as c,
    ):
        await add_webhook(c, slow.url, events="idea.created")  # webhook #1: served first
        await add_webhook(c, fast.url, events="idea.created")
        slow.stall = 10
        await c.settle()
        started = time.monotonic()
        await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
        await deliver(c)
        assert len(fast.delivered()) == 1 and fast.arrivals[0] - started < 1.5
        async with c.db.conn.execute("SELECT webhook_id, last_error FROM webhook_deliveries ORDER BY id") as cursor:
            assert [tuple(row) for row in await cursor.fetchall()] == [(1, "timed out"), (2, None)]


async def test_webhooks_only_reach_public_addresses_at_add_and_at_send_time(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    async with receiver() as r, firm_community(emulator, tmp_path, webhook_allow_private=False) as c:
        refused_urls = {
            r.url: "https://",
            "https://127.0.0.1/hook": "public",
            "https://localhost/hook": "public",
            "https://[::1]/hook": "public",
            "https://169.254.169.254/latest/meta-data": "public",
            "https://10.0.0.7/hook": "public",
            "https://192.168.1.1/hook": "public",
            "https://[::ffff:127.0.0.1]/hook": "public",
            "https://224.0.0.1/hook": "public",
            "https://0.0.0.0/hook": "public",
            "ftp://example.com/hook": "https://",
            "https://user:pw@example.com/hook": "valid URL",
        }
        for url, why in refused_urls.items():
            reply = await c.mod.run("/ideamod webhook add", url=url, channel=c.general)
            assert reply.ephemeral and why in reply.text, (url, reply.text)
        member = await c.alice.run("/ideamod webhook add", url="https://hooks.example.com/x", channel=c.general)
        assert member.ephemeral and "moderators" in member.text
        for command in ("/ideamod webhook list", "/digest email list"):
            assert "moderators" in (await c.alice.run(command, channel=c.general)).text
        assert await c.bot.services.webhooks.list(c.guild.id) == []

        # DNS answers a public address when the webhook is added, a private one later.
        answers = {"hooks.example.com": ["93.184.216.34"], "xn--bcher-kva.example": ["10.0.0.9"]}

        async def resolve(host: str, port: int) -> list[str]:
            return answers[host]

        c.bot.services.webhooks.resolve = resolve
        international = await c.mod.run("/ideamod webhook add", url="https://bücher.example/x", channel=c.general)
        assert "public" in international.text  # resolved by its DNS name, to a private address
        await add_webhook(c, "https://hooks.example.com/x")
        answers["hooks.example.com"] = ["93.184.216.34", "127.0.0.1"]
        await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
        await deliver(c)
        async with c.db.conn.execute("SELECT last_error, delivered_at FROM webhook_deliveries") as cursor:
            rows = [tuple(row) for row in await cursor.fetchall()]
        assert rows == [("host resolves to a private or local address", None)]
        assert r.requests == []
