"""Who reads which language, through the emulator: replies in the member's locale, public
messages in the server's language, DMs in the member's last seen locale, and localised slash
commands registered with Discord for every catalogue language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.i18n import DISCORD_LOCALES, TRANSLATED
from bot.i18n.translator import valid_name
from bot.testing import Community, running_community
from discord_emulator import DiscordEmulator


async def test_each_member_reads_replies_in_their_own_language(community: Community) -> None:
    c = community
    c.alice.locale = "de"
    german = await c.alice.run("/idea show", id=99, channel=c.general)
    english = await c.bob.run("/idea show", id=99, channel=c.general)
    assert german.content == "Auf diesem Server gibt es keine Idee #99."
    assert english.content == "There is no idea #99 in this server."

    reply = await c.alice.run(
        "/idea submit", title="Dunkler Modus", details="Ein dunkles Design für das Dashboard.", channel=c.general
    )
    assert reply.followups[-1].content.startswith("Deine Idee **#1** ist gepostet: ")
    # The card is public: the server's language (English here); the idea's own text as written.
    card = c.card(1)
    embed = card.embeds[0]
    assert embed["title"] == "#1 Dunkler Modus" and embed["description"] == "Ein dunkles Design für das Dashboard."
    assert [f["name"] for f in embed["fields"]][:3] == ["Votes", "Status", "Author"]
    assert embed["footer"]["text"] == "Idea #1 · react 👍 or 👎 to vote"

    listed = await c.bob.run("/idea top", channel=c.general)
    assert listed.message is not None and listed.message.embeds[0]["title"] == "Top ideas · best · all time"
    c.bob.locale = "de"  # bob switches his Discord client to German
    listed = await c.bob.run("/idea top", channel=c.general)
    assert listed.message is not None and listed.message.embeds[0]["title"] == "Top-Ideen · best · gesamte Zeit"


async def test_a_status_dm_speaks_the_members_last_seen_locale(community: Community) -> None:
    c = community
    c.alice.locale = "de"
    await c.submit(c.alice, "Dark mode", "A dark theme for the dashboard.")
    await c.mod.run("/ideamod status", id=1, status="planned", channel=c.general)
    await c.settle()
    dm = c.emu.dms_to(c.alice)[-1].embeds[0]
    assert dm["title"] == "Neuigkeiten zu #1 Dark mode"
    assert dm["description"] == "Status: **Offen** → **Geplant**"
    thread = c.emu.thread_of(c.card(1))
    assert thread is not None
    public = [m for m in c.emu.messages_in(thread) if m.embeds]
    assert public[-1].embeds[0]["title"] == "Update on #1 Dark mode"  # the thread speaks the server's language


async def test_the_servers_preferred_locale_is_the_default_language(emulator: DiscordEmulator, tmp_path: Path) -> None:
    async with running_community(emulator, tmp_path, ["alice"], locale="de") as c:
        card = await c.submit(c.alice, "Dunkler Modus", "Ein dunkles Design für das Dashboard.")
        fields = [f["name"] for f in card.embeds[0]["fields"]]
        assert fields[:3] == ["Stimmen", "Status", "Autor:in"]
        assert card.embeds[0]["footer"]["text"] == "Idee #1 · reagiere mit 👍 oder 👎, um abzustimmen"


def _localised(payload: dict[str, Any], problems: list[str], where: str) -> None:
    names = payload.get("name_localizations") or {}
    wanted = {DISCORD_LOCALES[language] for language in TRANSLATED}
    if not set(names) >= wanted:
        problems.append(f"{where}: name_localizations {sorted(names)}")
    problems += [f"{where}: invalid {locale} name {name!r}" for locale, name in names.items() if not valid_name(name)]
    if "description" in payload and not set(payload.get("description_localizations") or {}) >= wanted:
        problems.append(f"{where}: description_localizations")
    siblings: dict[str, set[str]] = {}
    for option in payload.get("options") or []:
        _localised(option, problems, f"{where} {option['name']}")
        for locale, name in (option.get("name_localizations") or {}).items():
            if name in siblings.setdefault(locale, set()):
                problems.append(f"{where}: two options named {name!r} in {locale}")
            siblings[locale].add(name)
        for choice in option.get("choices") or []:
            if not set(choice.get("name_localizations") or {}) >= wanted:
                problems.append(f"{where} {option['name']}: choice {choice['name']!r} not localised")


async def test_command_localisations_are_registered_for_every_language(community: Community) -> None:
    world = community.emu.world
    commands = world.global_commands + [c for listed in world.guild_commands.values() for c in listed]
    assert {c.name for c in commands} >= {"idea", "ideamod", "rep", "digest", "challenge"}
    problems: list[str] = []
    for command in commands:
        _localised(command.to_payload(), problems, f"/{command.name}")
    assert not problems, "\n".join(problems)
    idea = next(c for c in commands if c.name == "idea").to_payload()
    assert idea["name_localizations"]["de"] == "idee"
    submit = next(o for o in idea["options"] if o["name"] == "submit")
    assert submit["name_localizations"]["de"] == "einreichen"
    assert submit["description_localizations"]["de"].startswith("Eine Idee einreichen")
    assert submit["name_localizations"]["es-419"] == submit["name_localizations"]["es-ES"] == "enviar"
    assert "zh-CN" not in submit["name_localizations"]  # no catalogue: Discord shows the English name


async def test_a_server_set_to_french_gets_french_cards_and_a_french_digest(community: Community) -> None:
    c = community
    reply = await c.mod.run(
        "/ideamod setup",
        ideas_channel=c.ideas,
        digest_channel=c.digest,
        log_channel=c.log,
        language="fr",
        channel=c.general,
    )
    # The moderator's own reply stays in their language; the server's public messages change.
    assert "cards, announcements and digests are in Français" in reply.content
    submitted = await c.alice.run(
        "/idea submit", title="Dark mode", details="A dark theme for the dashboard.", channel=c.general
    )
    assert submitted.followups[-1].content.startswith("Your idea **#1** is posted: ")
    card = c.card(1).embeds[0]
    assert card["title"] == "#1 Dark mode" and card["description"] == "A dark theme for the dashboard."
    assert [(f["name"], f["value"]) for f in card["fields"][:2]] == [("Votes", "👍 0   👎 0"), ("Statut", "Ouverte")]
    assert card["fields"][2]["name"] == "Auteur"
    assert card["footer"]["text"] == "Idée #1 · réagissez avec 👍 ou 👎 pour voter"

    await c.bob.react(c.card(1), "👍")
    await c.settle()
    await c.mod.run("/digest post", week="current", channel=c.general, timeout=30)
    await c.settle()
    digest = [m for m in c.emu.messages_in(c.digest) if m.embeds]
    assert digest, "no digest was posted"
    first = digest[0].embeds[0]
    assert first["title"].startswith("La semaine en cours · ")
    assert "Nouvelles idées : 1, aucune la semaine précédente" in first["description"]
    names = [f["name"] for m in digest for e in m.embeds for f in e.get("fields", [])]
    assert "Meilleures nouvelles idées" in names
    assert any("Dark mode" in f["value"] for m in digest for e in m.embeds for f in e.get("fields", []))
