"""An OpenAI-compatible client (`/chat/completions`, `/embeddings`) on httpx.

A deadline on every attempt (the whole attempt, not each read: a server dripping a byte at a time
cannot hold it), an optional overall deadline across the retries, a size cap enforced while the
answer streams in, retries with exponential backoff on 429, 5xx, timeouts and
connection errors (a server's Retry-After is honoured, within a cap), a cap on generated tokens,
and one error type, `LLMError`, whose message is safe to log: it never contains the key, the
prompt or the server's body. Callers always have a non-LLM fallback; nothing here reaches members.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential

from bot.settings import Settings

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 1_000_000
MAX_EMBED_BATCH = 64
MAX_INPUT_CHARS = 24_000


class LLMError(Exception):
    """The LLM could not give a usable answer. The message names what failed, never secrets."""


class LLMUnavailable(LLMError):
    """Network error, timeout, or an HTTP error status after the retries."""


class LLMBadOutput(LLMError):
    """The server answered, but not in the shape we asked for."""


class _Retryable(LLMUnavailable):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds) or seconds < 0:
        return 0.0
    return seconds


class LLMClient:
    def __init__(
        self,
        base_url: str,
        model: str | None,
        *,
        embedding_model: str | None = None,
        api_key: str | None = None,
        timeout: float = 20.0,
        max_retries: int = 3,
        max_tokens: int = 800,
        backoff_base: float = 0.5,
        backoff_max: float = 8.0,
        deadline: float | None = None,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.embedding_model = embedding_model
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.timeout = timeout
        # Whole request including retries and backoff; None: only the per-attempt deadline.
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        headers = {"Accept": "application/json", "User-Agent": "ideabot"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> LLMClient | None:
        """A client when an LLM base URL is configured, else None (the fallbacks are used)."""
        if not settings.llm_base_url:
            return None
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(
            settings.llm_base_url,
            settings.llm_model,
            embedding_model=settings.llm_embedding_model,
            api_key=key,
            timeout=settings.llm_timeout_seconds,
            max_retries=settings.llm_max_retries,
            max_tokens=settings.llm_max_tokens,
            # Retries included, a request never takes more than twice the per-attempt timeout.
            deadline=options.pop("deadline", 2 * settings.llm_timeout_seconds),
            **options,
        )

    @property
    def chat_enabled(self) -> bool:
        return bool(self.model)

    @property
    def embeddings_enabled(self) -> bool:
        return bool(self.embedding_model)

    def __repr__(self) -> str:  # never shows the key
        return f"<LLMClient {self.base_url} model={self.model!r} embeddings={self.embedding_model!r}>"

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- transport with retries ------------------------------------------------------------------

    def _wait(self, state: RetryCallState) -> float:
        exponential = wait_exponential(multiplier=self.backoff_base, max=self.backoff_max)(state)
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return min(max(error.retry_after, 0.0), self.backoff_max)
        return float(exponential)

    async def _post(self, path: str, payload: dict[str, Any]) -> Any:
        try:
            async with asyncio.timeout(self.deadline):
                return await self._post_with_retries(path, payload)
        except TimeoutError:
            raise LLMUnavailable(f"LLM request to {path} missed its deadline ({self.deadline} s)") from None

    async def _post_with_retries(self, path: str, payload: dict[str, Any]) -> Any:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._post_once(path, payload)
        except _Retryable as exc:
            raise LLMUnavailable(f"{exc} (after {self.max_retries + 1} attempts)") from None
        raise LLMUnavailable(f"LLM request to {path} failed")  # pragma: no cover - tenacity reraises

    async def _post_once(self, path: str, payload: dict[str, Any]) -> Any:
        # httpx's timeout applies per read; the attempt as a whole gets the same budget.
        try:
            async with asyncio.timeout(self.timeout):
                status, retry_after, content = await self._fetch(path, payload)
        except TimeoutError:
            raise _Retryable(f"LLM request to {path} timed out") from None
        except httpx.TimeoutException:
            raise _Retryable(f"LLM request to {path} timed out") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"LLM request to {path} failed: {type(exc).__name__}") from None
        if status == 429 or status >= 500:
            log.info("LLM %s answered HTTP %d; retrying", path, status)
            raise _Retryable(f"LLM {path} answered HTTP {status}", _retry_after(retry_after))
        if status >= 400:
            raise LLMUnavailable(f"LLM {path} answered HTTP {status}")
        if content is None:
            raise LLMBadOutput(f"LLM {path} answer is too large")
        try:
            return json.loads(content)
        except ValueError:
            raise LLMBadOutput(f"LLM {path} answer is not JSON") from None

    async def _fetch(self, path: str, payload: dict[str, Any]) -> tuple[int, str | None, bytes | None]:
        """Status, Retry-After and body; the body is None when it is over the size cap, which is
        checked while it streams in (the rest is never downloaded)."""
        async with self._http.stream("POST", path, json=payload) as response:
            status, retry_after = response.status_code, response.headers.get("Retry-After")
            if status >= 400:
                return status, retry_after, b""
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > self.max_response_bytes:
                return status, retry_after, None
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > self.max_response_bytes:
                    return status, retry_after, None
                chunks.append(chunk)
            return status, retry_after, b"".join(chunks)

    # --- the two endpoints -------------------------------------------------------------------------

    async def chat(self, system: str, user: str, *, json_mode: bool = True, temperature: float = 0.2) -> str:
        """The assistant's text for one system + user message (at most `max_tokens` tokens)."""
        if not self.model:
            raise LLMUnavailable("no chat model is configured")
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user[:MAX_INPUT_CHARS]},
            ],
            "max_tokens": self.max_tokens,
            "temperature": temperature,
            "stream": False,
        }
        if json_mode:
            payload["response_format"] = {"type": "json_object"}
        body = await self._post("/chat/completions", payload)
        try:
            content = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise LLMBadOutput("LLM chat answer has no choices[0].message.content") from None
        if not isinstance(content, str):
            raise LLMBadOutput("LLM chat content is not text")
        return content

    async def chat_json(self, system: str, user: str) -> Any:
        """The assistant's answer parsed as JSON (a fenced ```json block is accepted)."""
        return parse_json_answer(await self.chat(system, user))

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order; batched."""
        if not self.embedding_model:
            raise LLMUnavailable("no embedding model is configured")
        vectors: list[list[float]] = []
        for start in range(0, len(texts), MAX_EMBED_BATCH):
            batch = [text[:MAX_INPUT_CHARS] for text in texts[start : start + MAX_EMBED_BATCH]]
            body = await self._post("/embeddings", {"model": self.embedding_model, "input": batch})
            vectors.extend(_parse_embeddings(body, len(batch)))
        return vectors


def parse_json_answer(content: str) -> Any:
    text = content.strip()
    if text.startswith("```"):
        text = text.strip("`")
        if text.lower().startswith("json"):
            text = text[4:]
    try:
        return json.loads(text)
    except ValueError:
        raise LLMBadOutput("LLM answer is not valid JSON") from None


def _parse_embeddings(body: Any, expected: int) -> list[list[float]]:
    try:
        items = sorted(body["data"], key=lambda item: item.get("index", 0))
        vectors = [[float(x) for x in item["embedding"]] for item in items]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise LLMBadOutput("LLM embeddings answer has no data[].embedding") from None
    if len(vectors) != expected or not vectors or any(len(v) != len(vectors[0]) or not v for v in vectors):
        raise LLMBadOutput("LLM embeddings answer has the wrong number or size of vectors")
    if any(math.isnan(x) or math.isinf(x) for v in vectors for x in v):
        raise LLMBadOutput("LLM embeddings contain NaN or infinity")
    return vectors
