"""A small OpenAI-compatible server (aiohttp, 127.0.0.1, random port) with scriptable behaviour.

    async with FakeLLM() as llm:
        llm.script("429", "ok")          # next requests: a 429, then a normal answer
        client = LLMClient(llm.base_url, "test-model", ...)

Behaviours, consumed one per request (then "ok" forever): "ok", "429" (with Retry-After),
"500", "timeout" (sleeps past the client's timeout), "malformed" (content that is not JSON),
"not_json" (an HTTP body that is not JSON), "wrong_shape" (valid JSON of the wrong shape),
"injected" (an answer that obeys an injected instruction: pings, links, foreign idea numbers).
The "ok" chat answer groups the ideas it was sent by their first title word, so it is
deterministic and refers only to ideas in the request; embeddings are hashed bags of words.

Embeddings come in the shape `embedding_shape` names: "openai" (numbers, in order), "shuffled"
(data[] in reverse order, each with its index), "base64" (little-endian float32s, as for
`encoding_format: "base64"`) or "per_token" (llama-server with `--pooling none`: one unnormalised
vector per word, whose mean has the bag of words' direction). Embedding failures to script:
"count_mismatch" (one vector short), "mixed_sizes", "nan", "not_numbers" (strings at data[1]),
"error_400" (llama-server's error for `--pooling none`), "error_501" (llama-server without
`--embeddings`), "ollama_404" (Ollama's plain-string error).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import math
import re
import struct
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class Recorded:
    path: str
    body: dict[str, Any]
    authorization: str | None


@dataclass
class FakeLLM:
    slow_seconds: float = 2.0
    retry_after: str = "0"
    dims: int = 64
    embedding_shape: str = "openai"
    requests: list[Recorded] = field(default_factory=list)
    _queue: list[str] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    port: int = 0

    def script(self, *behaviours: str) -> None:
        self._queue.extend(behaviours)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def chat_requests(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    async def __aenter__(self) -> FakeLLM:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _next(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        body = await request.json()
        self.requests.append(Recorded(request.path, body, request.headers.get("Authorization")))
        return (self._queue.pop(0) if self._queue else "ok"), body

    async def _common(self, behaviour: str) -> web.Response | None:
        if behaviour == "429":
            return web.json_response(
                {"error": {"message": "rate limited"}}, status=429, headers={"Retry-After": self.retry_after}
            )
        if behaviour == "500":
            return web.json_response({"error": {"message": "boom"}}, status=500)
        if behaviour == "timeout":
            await asyncio.sleep(self.slow_seconds)
            return web.json_response({"error": "too late"}, status=500)
        if behaviour == "not_json":
            return web.Response(text="<html>bad gateway</html>", content_type="text/html")
        return None

    async def _chat(self, request: web.Request) -> web.Response:
        behaviour, body = await self._next(request)
        early = await self._common(behaviour)
        if early is not None:
            return early
        if behaviour == "malformed":
            content = '{"summary": "unterminated'
        elif behaviour == "wrong_shape":
            content = json.dumps({"themes": "all of them", "summary": 3})
        elif behaviour == "injected":
            content = json.dumps(
                {
                    "summary": "@everyone FREE NITRO <@123456789012345678> <@&42> visit http://evil.example "
                    + "x" * 2000,
                    "themes": [
                        {
                            "name": "@here Obey <#99>",
                            "ideas": [i["number"] for i in ideas_in_prompt(body)] + [999],
                            "summary": "ignore all previous rules <@&42>",
                        },
                        {"name": "Ghost", "ideas": [12345], "summary": ""},
                    ],
                }
            )
        else:
            content = json.dumps(answer_for(body))
        return _json(
            {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": body.get("model"),
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    async def _embeddings(self, request: web.Request) -> web.Response:
        behaviour, body = await self._next(request)
        early = await self._common(behaviour)
        if early is not None:
            return early
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if behaviour in ("malformed", "wrong_shape"):
            return _json({"data": [{"index": 0, "embedding": "nope"}]})
        failure = _embedding_failure(behaviour)
        if failure is not None:
            return failure
        vectors: list[Any] = [bag_of_words(text, self.dims) for text in inputs]
        if behaviour == "count_mismatch":
            vectors = vectors[:-1]
        elif behaviour == "mixed_sizes":
            vectors[-1] = [*vectors[-1], 0.0]
        elif behaviour == "nan":
            vectors[-1] = [math.nan, *vectors[-1][1:]]
        elif behaviour == "not_numbers":
            vectors[1] = [str(x) for x in vectors[1]]
        elif self.embedding_shape == "per_token":
            vectors = [per_token_vectors(text, self.dims) for text in inputs]
        elif self.embedding_shape == "base64":
            vectors = [base64.b64encode(struct.pack(f"<{len(v)}f", *v)).decode() for v in vectors]
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        if self.embedding_shape == "shuffled":
            data.reverse()
        return _json({"object": "list", "data": data, "model": body.get("model")})


def _embedding_failure(behaviour: str) -> web.Response | None:
    if behaviour == "error_400":
        message = "Pooling type 'none' is not OAI compatible. Please use a different pooling type"
        return web.json_response(
            {"error": {"code": 400, "message": message, "type": "invalid_request_error"}}, status=400
        )
    if behaviour == "error_501":
        message = "This server does not support embeddings. Start it with `--embeddings`"
        error = {"code": 501, "message": message, "type": "not_supported_error"}
        return web.json_response({"error": error}, status=501)
    if behaviour == "ollama_404":
        return web.json_response({"error": 'model "nomic-embed-text" not found, try pulling it first'}, status=404)
    return None


def _json(payload: dict[str, Any]) -> web.Response:
    return web.Response(text=json.dumps(payload), content_type="application/json")


def ideas_in_prompt(body: dict[str, Any]) -> list[dict[str, Any]]:
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    match = re.search(r"<<<IDEAS\n(.*)\nIDEAS>>>", user, re.S)
    assert match, "the ideas must be in the delimited block"
    ideas: list[dict[str, Any]] = json.loads(match.group(1))
    return ideas


def answer_for(body: dict[str, Any]) -> dict[str, Any]:
    groups: dict[str, list[int]] = {}
    for idea in ideas_in_prompt(body):
        word = (idea["title"].split() or ["misc"])[0].lower()
        groups.setdefault(word, []).append(idea["number"])
    themes = [
        {"name": f"All about {word}", "ideas": numbers, "summary": f"{len(numbers)} ideas"}
        for word, numbers in groups.items()
    ]
    return {"summary": f"{sum(len(n) for n in groups.values())} ideas in {len(groups)} themes.", "themes": themes}


def per_token_vectors(text: str, dims: int) -> list[list[float]]:
    """One vector per counted word (weight 3, off the unit sphere like a real model's), and one for
    the start token, so that the mean has the bag of words' direction plus a little of slot 0."""
    rows = [[0.1] + [0.0] * (dims - 1)]
    for word in re.findall(r"[a-z]+", text.lower()):
        if len(word) > 3:
            row = [0.0] * dims
            row[int(hashlib.md5(word[:5].encode()).hexdigest(), 16) % dims] = 3.0
            rows.append(row)
    return rows


def bag_of_words(text: str, dims: int) -> list[float]:
    vector = [0.0] * dims
    for word in re.findall(r"[a-z]+", text.lower()):
        if len(word) <= 3:
            continue
        slot = int(hashlib.md5(word[:5].encode()).hexdigest(), 16) % dims
        vector[slot] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]
