"""End-to-end: /idea search ranks by relevance with word forms, filters, pages, and treats every
character a member can type as text, never as search syntax."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bot.storage.seed import seed_community
from bot.testing import Community


def numbers(text: str) -> list[int]:
    return [int(n) for n in re.findall(r"\*\*\[#(\d+)\]", text)]


async def test_word_forms_find_an_idea_and_title_matches_rank_first(community: Community) -> None:
    c = community
    await c.submit(c.alice, title="Park benches", details="More benches, and recycle bins beside each one")
    await c.submit(c.bob, title="Recycle bins on every floor", details="Sorting waste at work is hard today")
    await c.submit(c.carol, title="Dark mode", details="A dark theme for late-night work")
    reply = await c.dave.run("/idea search", query="recycling", channel=c.general)
    assert reply.ephemeral
    assert numbers(reply.text) == [2, 1]  # the title match first; "recycling" finds "recycle"
    assert "**recycle**" in reply.text.lower()  # the matched word is highlighted in the snippet
    assert "2 ideas · page 1 of 1" in reply.text


async def test_long_results_page_and_filters_narrow_them(community: Community) -> None:
    c = community
    authors = [c.alice, c.bob, c.carol, c.dave]
    for i in range(7):
        await c.submit(authors[i % 4], title=f"Garden plan {i}", details=f"A community garden idea number {i}")
    await c.mod.run("/ideamod status", id=3, status="planned", channel=c.general)
    first = await c.bob.run("/idea search", query="garden", channel=c.general)
    assert len(numbers(first.text)) == 5
    assert "7 ideas · page 1 of 2 · next: page:2" in first.text
    second = await c.bob.run("/idea search", query="garden", page=2, channel=c.general)
    assert len(numbers(second.text)) == 2
    assert set(numbers(first.text)) | set(numbers(second.text)) == set(range(1, 8))
    planned = await c.bob.run("/idea search", query="garden", status="planned", channel=c.general)
    assert numbers(planned.text) == [3]
    beyond = await c.bob.run("/idea search", query="garden", page=9, channel=c.general)
    assert "No more results" in beyond.text


async def test_an_edit_is_found_by_its_new_words_and_not_its_old_ones(community: Community) -> None:
    c = community
    await c.submit(c.alice, title="Quiet hours", details="Silence in the library after eight")
    await c.bot.ideas.edit(c.guild.id, c.alice.id, 1, "Study rooms", "Bookable rooms in the library")
    assert numbers((await c.bob.run("/idea search", query="bookable", channel=c.general)).text) == [1]
    assert "No idea matches" in (await c.bob.run("/idea search", query="silence", channel=c.general)).text


@pytest.mark.parametrize("query", ['"', "*", "-", "NEAR", 'dark" OR "x', "title:dark", "(dark", "dark^", "^*^"])
async def test_search_syntax_characters_get_a_sensible_answer(community: Community, query: str) -> None:
    c = community
    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    reply = await c.bob.run("/idea search", query=query, channel=c.general)
    assert reply.ephemeral
    assert "went wrong" not in reply.text
    words = re.findall(r"\w+", query)
    if not words:
        assert "Type a word or two" in reply.text
    elif query.startswith(("dark", "(dark", "title:dark")):
        assert numbers(reply.text) == [1] or "No idea matches" in reply.text
    else:
        assert "No idea matches" in reply.text or numbers(reply.text)


async def test_the_duplicate_check_finds_a_paraphrase_of_the_oldest_idea_on_a_large_board(
    community: Community, tmp_path: Path
) -> None:
    c = community
    texts = tmp_path / "oldest.jsonl"
    oldest = {
        "title": "Heated benches at the tram stops",
        "details": "Warm seats while waiting for the tram in winter.",
    }
    texts.write_text(json.dumps(oldest) + "\n", encoding="utf-8")
    await seed_community(c.db, c.guild.id, 3_000, 2, c.clock(), texts=texts)
    reply = await c.bob.run(
        "/idea submit",
        title="Warm seating at tram stops",
        details="In winter the benches where we wait for trams should be heated.",
        channel=c.general,
    )
    assert "already on the board" in reply.text, reply.text
    assert "**#1** Heated benches at the tram stops" in reply.text, reply.text
