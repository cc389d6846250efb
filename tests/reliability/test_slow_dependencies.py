"""Slow dependencies never cost a member their interaction: the duplicate check is acknowledged
first and falls back to lexical similarity when embeddings are slow; the LLM client keeps a
deadline for the whole request and caps an answer's size while it streams (real HTTP on
127.0.0.1); a board of 2,000 open ideas does not stall the event loop."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.llm.client import LLMBadOutput, LLMClient, LLMUnavailable
from bot.settings import Settings
from bot.testing import (
    Community,
    running_community,
)
from discord_emulator import DiscordEmulator
from tests.conftest import MEMBER_NAMES
from tests.llm_server import FakeLLM
from tests.reliability.test_hostile_input import modal_fields

# --- a raw HTTP server for the misbehaving answers ------------------------------------------------


class HostileServer:
    """Answers /v1/embeddings by dripping a byte at a time, or with an endless 60 MB body."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.sent = 0
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def __aenter__(self) -> HostileServer:
        app = web.Application()
        app.router.add_post("/v1/embeddings", self._answer)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None and site._server.sockets
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        try:
            if self.mode == "drip":
                body = b'{"data": [{"index": 0, "embedding": [0.5, 0.5]}]}'
                for byte in body:  # ~10 s in all, never 1 s without a byte
                    await response.write(bytes([byte]))
                    self.sent += 1
                    await asyncio.sleep(0.2)
            else:
                chunk = b" " * 65536
                await response.write(b'{"data": [')
                for _ in range(60 * 16):  # 60 MB of whitespace inside valid JSON
                    await response.write(chunk)
                    self.sent += len(chunk)
                await response.write(b"]}")
        except (ConnectionError, asyncio.CancelledError):  # the client hung up
            pass
        return response


async def test_a_dripping_server_cannot_hold_a_request_past_its_timeout() -> None:
    async with HostileServer("drip") as server:
        client = LLMClient(server.base_url, None, embedding_model="e", timeout=1.0, max_retries=0)
        started = time.monotonic()
        with pytest.raises(LLMUnavailable, match="timed out"):
            await client.embed(["hello"])
        elapsed = time.monotonic() - started
        await client.aclose()
    assert elapsed < 2.0, f"held {elapsed:.1f} s against a 1 s timeout"


async def test_the_overall_deadline_covers_the_retries() -> None:
    async with HostileServer("drip") as server:
        client = LLMClient(
            server.base_url, None, embedding_model="e", timeout=1.0, max_retries=5, backoff_base=0.01, deadline=1.5
        )
        started = time.monotonic()
        with pytest.raises(LLMUnavailable, match="deadline"):
            await client.embed(["hello"])
        elapsed = time.monotonic() - started
        await client.aclose()
    assert elapsed < 2.5


async def test_a_configured_client_has_an_overall_deadline() -> None:
    settings = Settings(_env_file=None, llm_base_url="http://127.0.0.1:1/v1", llm_timeout_seconds=3)  # type: ignore[call-arg]
    client = LLMClient.from_settings(settings)
    assert client is not None and client.deadline == 6
    await client.aclose()


async def test_a_huge_answer_is_cut_off_while_it_streams() -> None:
    async with HostileServer("huge") as server:
        client = LLMClient(server.base_url, None, embedding_model="e", timeout=10.0, max_retries=0)
        with pytest.raises(LLMBadOutput, match="too large"):
            await client.embed(["hello"])
        await client.aclose()
        await asyncio.sleep(0.2)
    # The client hung up after its 1 MB cap; the server never got to write the 60 MB.
    assert server.sent < 20_000_000, f"{server.sent / 1e6:.0f} MB were sent"


# --- the duplicate check through the emulator -----------------------------------------------------


@pytest.fixture
async def embedding_server() -> AsyncIterator[FakeLLM]:
    async with FakeLLM(slow_seconds=3.5) as llm:
        yield llm


@pytest.fixture
async def community_with_embeddings(
    emulator: DiscordEmulator, tmp_path: Path, embedding_server: FakeLLM
) -> AsyncIterator[Community]:
    async with running_community(
        emulator, tmp_path, MEMBER_NAMES, llm_base_url=embedding_server.base_url, llm_embedding_model="test-embed"
    ) as c:
        yield c


async def test_slow_embeddings_the_submission_is_acknowledged_and_checked_lexically(
    community_with_embeddings: Community, embedding_server: FakeLLM
) -> None:
    c = community_with_embeddings
    await c.submit(c.alice, title="Dark mode for the dashboard", details="A dark theme for the dashboard at night")
    # The embeddings server takes 3.5 s from here on: past Discord's 3 s to acknowledge.
    embedding_server.script("timeout", "timeout", "timeout")
    started = time.monotonic()
    reply = await c.bob.run(
        "/idea submit",
        title="Night theme for the dashboard",
        details="Please give the dashboard a dark colour scheme for late work",
        channel=c.general,
    )
    assert "already on the board" in reply.text, reply.text
    assert c.bot.services.duplicates.last_method == "lexical"
    assert time.monotonic() - started < 3.4  # the embeddings were given up, not awaited
    posted = await c.carol.run(
        "/idea submit",
        title="Export reports to CSV",
        details="Download the monthly report as a CSV file",
        channel=c.general,
    )
    assert "#2" in posted.text and "is posted" in posted.text
    # The guided form (a modal submit) is acknowledged in time too.
    form = await c.dave.run("/idea submit", channel=c.general)
    fields = modal_fields(form)
    done = await c.dave.submit_modal(
        form,
        **{
            fields["Title"]: "Calendar sync for events",
            fields["Problem"]: "Events are missed because nobody sees them",
            fields["Proposal"]: "Sync community events to members' calendars",
        },
    )
    assert "#3" in done.text and "is posted" in done.text


# --- a large board ---------------------------------------------------------------------------------

_VOCABULARY_TEXT = (
    "dashboard export calendar badge forum thread search filter report mobile widget reminder archive "
    "profile avatar language timezone keyboard shortcut sidebar upload gallery playlist poll survey "
    "leaderboard streak quest invite referral moderation spam filter webhook integration billing invoice "
    "discount coupon checkout wishlist bookmark folder label colour font contrast audio caption transcript "
    "offline sync backup restore password login session privacy consent cookie newsletter digest summary"
)
_VOCABULARY = _VOCABULARY_TEXT.split()


async def seed_open_ideas(c: Community, count: int) -> None:
    rng = random.Random(11)
    now = c.clock().timestamp()
    rows = []
    for number in range(1, count + 1):
        title = " ".join(rng.choice(_VOCABULARY) for _ in range(5)).capitalize()
        body = " ".join(rng.choice(_VOCABULARY) for _ in range(70))
        rows.append((c.guild.id, number, c.alice.id, title, body, c.ideas.id, 10**15 + number, now, now, now - number))
    async with c.db.transaction() as conn:
        await conn.executemany(
            "INSERT INTO ideas (guild_id, number, author_id, title, body, channel_id, message_id, created_at,"
            " updated_at, last_activity_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )


async def test_three_submissions_at_once_on_a_board_of_2000_open_ideas_are_all_answered(
    community: Community,
) -> None:
    c = community
    await seed_open_ideas(c, 2000)
    lags: list[float] = []

    async def watch_the_loop() -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.005)
            lags.append(time.monotonic() - before - 0.005)

    watcher = asyncio.create_task(watch_the_loop())
    try:
        replies = await asyncio.gather(
            c.bob.run(
                "/idea submit", title="Carpool board", details="Members offer rides to meetups", channel=c.general
            ),
            c.carol.run(
                "/idea submit", title="Recipe swap", details="A weekly recipe exchange channel", channel=c.general
            ),
            c.dave.run(
                "/idea submit",
                title="Plant care tips",
                details="Share watering schedules for houseplants",
                channel=c.general,
            ),
        )
    finally:
        watcher.cancel()
    for reply in replies:
        assert "is posted" in reply.text or "already on the board" in reply.text, reply.text
    print(f"longest event-loop stall during the checks: {max(lags) * 1000:.0f} ms")
    assert max(lags) < 0.25


async def test_candidates_embedded_once_are_reused_by_the_next_check(
    community_with_embeddings: Community, embedding_server: FakeLLM
) -> None:
    c = community_with_embeddings
    await seed_open_ideas(c, 100)  # no embeddings yet
    draft = " ".join(_VOCABULARY[:12])  # shares words with the seeded ideas: they are candidates
    first = await c.bob.run("/idea submit", title="Board words", details=draft, channel=c.general)
    assert "is posted" in first.text or "already on the board" in first.text, first.text
    assert c.bot.services.duplicates.last_method == "hybrid"
    requests = [r for r in embedding_server.requests if r.path.endswith("/embeddings")]
    assert len(requests) >= 1 and len(requests[0].body["input"]) > 10  # the draft and its candidates, at once
    async with c.db.conn.execute("SELECT COUNT(*) FROM idea_embeddings") as cursor:
        stored = (await cursor.fetchone())[0]
    assert stored >= len(requests[0].body["input"]) - 1
    c.clock.advance(minutes=5)
    before = len(embedding_server.requests)
    second = await c.carol.run("/idea submit", title="Board words again", details=draft, channel=c.general)
    assert "is posted" in second.text or "already on the board" in second.text, second.text
    assert c.bot.services.duplicates.last_method == "hybrid"
    # Only the new texts are sent (the draft, and the first check's idea if it was posted).
    later = [r for r in embedding_server.requests[before:] if r.path.endswith("/embeddings")]
    assert later and len(later[0].body["input"]) <= 2
