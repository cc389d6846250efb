"""Bad input through the emulator: text with nothing visible in it, unknown time zones, option
values Discord would never send (numbers beyond 64 bits, unknown choices) and forged button custom
ids. Each gets a clear ephemeral answer naming the problem, never "Something went wrong", and
nothing is stored or posted."""

from __future__ import annotations

from typing import Any

from bot.testing import Community
from discord_emulator import Reply

CRASH = "something went wrong"
# Zero-width space, joiners, word joiner, BOM, Hangul fillers, Braille blank, soft hyphen, a tag.
INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u3164\u115f\uffa0\u2800\u00ad\U000e0041"


def clear_refusal(reply: Reply, *needles: str) -> None:
    assert reply.ephemeral, reply.text
    assert CRASH not in reply.text.lower(), reply.text
    for needle in needles:
        assert needle in reply.text, reply.text


async def idea_count(c: Community) -> int:
    async with c.db.conn.execute("SELECT COUNT(*) FROM ideas") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def test_text_with_nothing_visible_is_refused_everywhere(community: Community) -> None:
    c = community
    say = c.alice
    fine = "Fine details, long enough."
    blank_title = await say.run("/idea submit", title=INVISIBLE, details=fine, channel=c.general)
    clear_refusal(blank_title, "title has no visible text")
    blank_both = await say.run("/idea submit", title=f" {INVISIBLE} ", details=INVISIBLE * 3, channel=c.general)
    clear_refusal(blank_both, "no visible text")
    padded = await say.run(
        "/idea submit", title="Ab" + INVISIBLE, details="Fine details, long enough.", channel=c.general
    )
    clear_refusal(padded, "title is too short")  # two visible characters, however many invisible ones
    category = await say.run(
        "/idea submit", title="Dark mode", details="Fine details, long enough.", category=INVISIBLE, channel=c.general
    )
    clear_refusal(category, "category has no visible text")
    assert await idea_count(c) == 0 and c.cards() == []

    # Idea text with invisible characters inside visible words is stored as given.
    title = "Dark\u200bmode\u2060 please"
    card = await c.submit(say, title=title, details="A dark theme for late-night work")
    assert card.embeds[0]["title"] == f"#1 {title}"

    decline = await c.mod.run("/ideamod status", id=1, status="declined", reason="\u200b", channel=c.general)
    clear_refusal(decline, "needs a reason with visible text")
    planned = await c.mod.run("/ideamod status", id=1, status="planned", reason=INVISIBLE, channel=c.general)
    clear_refusal(planned, "reason has no visible text")
    idea = await c.bot.ideas.get(c.guild.id, 1)
    assert idea.status.value == "open" and idea.status_reason is None

    terms = await c.mod.run("/ideamod terms set", text=INVISIBLE * 10, version="1", channel=c.general)
    clear_refusal(terms, "terms text has no visible text")
    version = await c.mod.run(
        "/ideamod terms set", text="Ideas you share are licensed CC-BY 4.0.", version="\u3164", channel=c.general
    )
    clear_refusal(version, "The version must be")
    challenge = await c.mod.run(
        "/challenge open", title=INVISIBLE, brief="Cut our energy use", deadline="2099-01-01", channel=c.general
    )
    clear_refusal(challenge, "challenge title has no visible text")
    async with c.db.conn.execute("SELECT COUNT(*) FROM challenges") as cursor:
        row = await cursor.fetchone()
    assert row is not None and row[0] == 0


async def test_unknown_time_zones_get_a_clear_answer(community: Community) -> None:
    c = community
    for timezone in ("Europe", "A" * 300, "../etc", "Europe/../../etc/passwd", "Europe/Berlin\x00"):
        reply = await c.mod.run("/digest schedule", weekday="monday", hour=9, timezone=timezone, channel=c.general)
        clear_refusal(reply, "Unknown time zone")
    reply = await c.mod.run("/digest schedule", weekday="monday", hour=9, timezone="Europe/Berlin", channel=c.general)
    assert "Europe/Berlin" in reply.text and CRASH not in reply.text.lower()


async def test_option_values_discord_would_refuse_get_a_clear_answer(community: Community) -> None:
    """A modified client is not bound by the synced schema: it can send any integer and any
    string for a choice."""
    c = community
    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    cases: list[tuple[Any, str, dict[str, Any], str]] = [
        (c.alice, "/idea show", {"id": 2**64}, "`id` must be a number from 1"),
        (c.alice, "/idea show", {"id": 10**30}, "`id` must be a number from 1"),
        (c.alice, "/idea show", {"id": -(2**70)}, "`id` must be a number from 1"),
        (c.alice, "/idea show", {"id": 0}, "`id` must be a number from 1"),
        (c.mod, "/ideamod status", {"id": 2**63, "status": "planned"}, "`id` must be a number"),
        (c.mod, "/ideamod merge", {"source": 1, "target": 2**80}, "`target` must be a number"),
        (c.mod, "/ideamod status", {"id": 1, "status": "withdrawn"}, "`status` must be one of"),
        (c.alice, "/rep top", {"period": "decade"}, "`period` must be one of"),
        (c.alice, "/idea top", {"sort": "random"}, "`sort` must be one of"),
        (c.mod, "/digest schedule", {"weekday": "funday", "hour": 9, "timezone": "UTC"}, "`weekday` must be one of"),
        (c.mod, "/digest schedule", {"weekday": "monday", "hour": 99, "timezone": "UTC"}, "`hour` must be"),
        (c.mod, "/ideamod limits", {"cooldown_seconds": -1, "daily_quota": 2**64}, "must be a number"),
    ]
    for member, command, options, needle in cases:
        reply = await member.run(command, channel=c.general, forged=True, **options)
        clear_refusal(reply, needle)
    idea = await c.bot.ideas.get(c.guild.id, 1)
    assert idea.status.value == "open" and await idea_count(c) == 1


def forge_custom_id(reply: Reply, label: str, custom_id: str) -> None:
    """Rewrites a button's custom id on the message, as a modified client could claim it."""
    assert reply.message is not None
    for button in reply.message.buttons():
        if button.get("label") == label:
            button["custom_id"] = custom_id
            return
    raise AssertionError(f"no button {label!r}")


async def test_forged_button_custom_ids_get_a_clear_answer(community: Community) -> None:
    c = community
    await c.submit(c.alice, title="Dark mode for the dashboard", details="A dark theme for the dashboard at night")
    huge = str(2**64 + 5)
    for label, custom_id, needle in [
        ("Support #1 instead", "ideabot:dup:support:{pid}:" + huge, "no longer exists"),
        ("Support #1 instead", "ideabot:dup:support:{pid}:" + "9" * 40, "no longer exists"),
        ("Support #1 instead", "ideabot:dup:support:{pid}:-1", "no longer exists"),
        ("Post anyway", "ideabot:dup:delete:{pid}", "no longer waiting"),
        ("Post anyway", "ideabot:dup:post:x", "no longer waiting"),
    ]:
        reply = await c.bob.run(
            "/idea submit", title="Dark dashboard theme", details="A dark theme for the dashboard please"
        )
        assert "already on the board" in reply.text, reply.text
        original = next(b["custom_id"] for b in reply.message.buttons() if b["label"] == "Post anyway")  # type: ignore[union-attr]
        pid = original.split(":")[3]
        forge_custom_id(reply, label, custom_id.format(pid=pid))
        clicked = await c.bob.click(reply, label=label)
        clear_refusal(clicked, needle)
    assert await idea_count(c) == 1
    assert (await c.bot.ideas.get(c.guild.id, 1)).upvotes == 0

    await c.mod.run("/ideamod terms set", text="Ideas you share are licensed CC-BY 4.0.", version="1")
    for custom_id in ("ideabot:terms:" + huge, "ideabot:terms:١٢", "ideabot:terms:", "ideabot:terms:1e5"):
        prompt = await c.bob.run("/idea submit", title="Export CSV", details="Download reports as CSV files")
        assert "CC-BY" in prompt.text, prompt.text
        forge_custom_id(prompt, "I accept", custom_id)
        clicked = await c.bob.click(prompt, label="I accept")
        clear_refusal(clicked, "no longer waiting")
    assert await idea_count(c) == 1
