"""Optional: the client and the digest themes against a real llama.cpp server.

Runs only when llama-cpp-python[server] is installed and IDEABOT_TEST_GGUF names a GGUF model
(e.g. the small gemma3-270m q4_k_m). Whatever the model answers, a digest must come out."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("llama_cpp")

from bot.llm.client import LLMClient, LLMError
from bot.llm.synthesis import IdeaForPrompt, synthesise

MODEL = os.environ.get("IDEABOT_TEST_GGUF")
pytestmark = pytest.mark.skipif(not MODEL, reason="set IDEABOT_TEST_GGUF to a GGUF model file")


@pytest.fixture(scope="module")
def llama_server() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(MODEL), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_real_llama_cpp_themes_or_a_clean_error(llama_server: str) -> None:
    client = LLMClient(llama_server, "local", timeout=120, max_retries=1, max_tokens=300)
    ideas = [
        IdeaForPrompt(1, "Dark mode", "A dark theme for the dashboard"),
        IdeaForPrompt(2, "Dark editor", "Dark colours in the code editor"),
        IdeaForPrompt(3, "CSV export", "Export reports as CSV"),
    ]
    try:
        result = await synthesise(client, ideas)
    except LLMError:
        return  # a small model may answer garbage: the digest then falls back (tested elsewhere)
    finally:
        await client.aclose()
    assert all(set(t.idea_numbers) <= {1, 2, 3} for t in result.themes)
