"""End-to-end: idea intake, reading, editing and withdrawing, through the emulator."""

from __future__ import annotations

from bot.testing import Community


async def count_ideas(c: Community) -> int:
    async with c.db.conn.execute("SELECT COUNT(*) FROM ideas") as cursor:
        row = await cursor.fetchone()
    return int(row[0])


async def test_submit_with_options_posts_a_card_and_answers_privately(community: Community) -> None:
    c = community
    reply = await c.alice.run(
        "/idea submit", title="Dark mode", details="A dark theme for late-night work", category="UX", channel=c.general
    )
    assert reply.ephemeral
    assert "#1" in reply.text
    await c.settle()  # the thread link comes with the card's first edit
    card = c.card(1)
    embed = card.embeds[0]
    assert embed["title"] == "#1 Dark mode"
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert "👍 0" in fields["Votes"] and "👎 0" in fields["Votes"]
    assert fields["Status"] == "Open"
    assert str(c.alice.id) in fields["Author"]
    assert fields["Category"] == "UX"
    thread = c.emu.thread_of(card)
    assert thread is not None and thread.id and str(thread.id) in fields["Discussion"]
    assert set(card.reactions) == {"👍", "👎"}
    assert card.reactions["👍"] == [c.emu.bot_user.id]
    assert card.allowed_mentions == {"parse": []}


async def test_submit_without_options_opens_the_guided_modal(community: Community) -> None:
    c = community
    reply = await c.bob.run("/idea submit", channel=c.general)
    assert reply.modal is not None
    ids = {field["custom_id"] for field in _modal_inputs(reply.modal)}
    assert len(ids) == 4
    values = dict(
        zip(
            sorted(ids),
            ["Slow CI runs block everyone", "Cache dependencies between runs", "Offline builds", "Every contributor"],
            strict=True,
        )
    )
    labels = {f["custom_id"]: f["label"] for f in _modal_inputs(reply.modal)}
    by_label = {
        "Title": "Faster CI",
        "Problem": "Slow CI runs block everyone",
        "Proposal": "Cache dependencies between runs",
        "Who benefits": "Every contributor",
    }
    values = {custom_id: by_label[label] for custom_id, label in labels.items()}
    done = await c.bob.submit_modal(reply, **values)
    assert "#1" in done.text and done.ephemeral
    body = c.card(1).embeds[0]["description"]
    assert "**Problem**\nSlow CI runs block everyone" in body
    assert "**Who benefits**\nEvery contributor" in body


def _modal_inputs(modal: dict) -> list[dict]:
    found = []
    for row in modal["components"]:
        inner = row.get("components") or ([row["component"]] if "component" in row else [])
        found.extend(item for item in inner if item.get("type") == 4)
    return found


async def test_user_text_is_stored_exactly_and_never_pings(community: Community) -> None:
    c = community
    details = "@everyone look <@123> <@&456> **bold** ‮rtl‬ zero​width '; DROP TABLE ideas; --"
    await c.submit(c.alice, title="@here ping test", details=details)
    idea = await c.bot.ideas.get(c.guild.id, 1)
    assert idea.body == details and idea.title == "@here ping test"
    for message in c.emu.messages_in(c.ideas):
        assert message.allowed_mentions == {"parse": []}


async def test_bad_input_gets_an_ephemeral_error_and_writes_nothing(community: Community) -> None:
    c = community
    too_long = await c.alice.run("/idea submit", title="x" * 101, details="fine details here", channel=c.general)
    assert too_long.ephemeral and "too long" in too_long.text
    short = await c.alice.run("/idea submit", title="Good title", details="short", channel=c.general)
    assert short.ephemeral and "too short" in short.text
    unknown = await c.alice.run("/idea show", id=42, channel=c.general)
    assert unknown.ephemeral and "no idea #42" in unknown.text
    assert await count_ideas(c) == 0
    assert c.cards() == []


async def test_cooldown_and_daily_quota(community: Community) -> None:
    c = community
    first = await c.alice.run("/idea submit", title="First idea", details="details of the first", channel=c.general)
    assert "#1" in first.text
    again = await c.alice.run("/idea submit", title="Second idea", details="details of the second", channel=c.general)
    assert again.ephemeral and "Slow down" in again.text
    assert await count_ideas(c) == 1
    for n in range(2, 6):
        c.clock.advance(minutes=2)
        reply = await c.alice.run("/idea submit", title=f"Idea {n}", details="more details here", channel=c.general)
        assert f"#{n}" in reply.text
    c.clock.advance(minutes=2)
    over = await c.alice.run("/idea submit", title="One too many", details="more details here", channel=c.general)
    assert over.ephemeral and "today's limit" in over.text
    assert await count_ideas(c) == 5


async def test_blocked_member_cannot_submit_until_unblocked(community: Community) -> None:
    c = community
    blocked = await c.mod.run("/ideamod block", member=c.bob, channel=c.general)
    assert "can no longer submit" in blocked.text
    refused = await c.bob.run("/idea submit", title="Let me in", details="please let me submit", channel=c.general)
    assert refused.ephemeral and "blocked" in refused.text
    modal = await c.bob.run("/idea submit", channel=c.general)
    assert modal.modal is None and "blocked" in modal.text
    assert await count_ideas(c) == 0
    await c.mod.run("/ideamod unblock", member=c.bob, channel=c.general)
    ok = await c.bob.run("/idea submit", title="Let me in", details="please let me submit", channel=c.general)
    assert "#1" in ok.text


async def test_card_post_failure_leaves_no_half_written_idea(community: Community) -> None:
    c = community
    c.emu.fail_next("POST", rf"/channels/{c.ideas.id}/messages$", status=403, times=1)
    reply = await c.alice.run("/idea submit", title="Doomed", details="Discord refuses the card", channel=c.general)
    assert reply.ephemeral and "could not be posted" in reply.text
    assert await count_ideas(c) == 0
    again = await c.alice.run("/idea submit", title="Second try", details="this one should work", channel=c.general)
    assert "#1" in again.text


async def test_top_search_mine_show(community: Community) -> None:
    c = community
    dark = await c.submit(c.alice, title="Dark mode", details="A dark theme for the dashboard")
    await c.submit(c.bob, title="Export to CSV", details="Download the report as a CSV file")
    await c.submit(c.alice, title="Keyboard shortcuts", details="Shortcuts for power users")
    for member in (c.bob, c.carol, c.dave):
        await member.react(dark, "👍")
    await c.settle()
    top = await c.erin.run("/idea top", sort="best", period="all", channel=c.general)
    assert top.ephemeral
    assert top.embeds[0]["description"].splitlines()[0].startswith("**[#1]")
    new = await c.erin.run("/idea top", sort="new", channel=c.general)
    assert new.embeds[0]["description"].splitlines()[0].startswith("**[#3]")
    found = await c.erin.run("/idea search", query="csv", channel=c.general)
    assert "Export to CSV" in found.embeds[0]["description"]
    assert "Dark mode" not in found.embeds[0]["description"]
    mine = await c.alice.run("/idea mine", channel=c.general)
    assert "Dark mode" in mine.embeds[0]["description"] and "Keyboard" in mine.embeds[0]["description"]
    assert "Export" not in mine.embeds[0]["description"]
    shown = await c.erin.run("/idea show", id=1, channel=c.general)
    assert shown.embeds[0]["title"] == "#1 Dark mode"


async def test_edit_and_withdraw_by_the_author_only(community: Community) -> None:
    c = community
    await c.submit(c.alice, title="Dark mode", details="A dark theme for the dashboard")
    refused = await c.bob.run("/idea edit", id=1, channel=c.general)
    assert refused.ephemeral and "Only the author" in refused.text
    modal = await c.alice.run("/idea edit", id=1, channel=c.general)
    assert modal.modal is not None
    inputs = {f["label"]: f["custom_id"] for f in _modal_inputs(modal.modal)}
    done = await c.alice.submit_modal(
        modal, **{inputs["Title"]: "Dark mode everywhere", inputs["Details"]: "A dark theme for every page"}
    )
    assert "updated" in done.text
    await c.settle()
    assert c.card(1).embeds[0]["title"] == "#1 Dark mode everywhere"
    not_yours = await c.bob.run("/idea withdraw", id=1, channel=c.general)
    assert "Only the author" in not_yours.text
    gone = await c.alice.run("/idea withdraw", id=1, channel=c.general)
    assert "withdrawn" in gone.text
    await c.settle()
    fields = {f["name"]: f["value"] for f in c.card(1).embeds[0]["fields"]}
    assert fields["Status"] == "Withdrawn"
    # Votes on a withdrawn idea no longer count.
    await c.bob.react(c.card(1), "👍")
    await c.settle()
    assert (await c.bot.ideas.get(c.guild.id, 1)).upvotes == 0


async def test_moderators_configure_cooldown_and_quota(community: Community) -> None:
    c = community
    reply = await c.mod.run("/ideamod limits", cooldown_seconds=0, daily_quota=2, channel=c.general)
    assert "may submit 2 a day" in reply.text
    for n in (1, 2):  # no cooldown: back to back
        ok = await c.alice.run("/idea submit", title=f"Idea {n}", details="more details here", channel=c.general)
        assert f"#{n}" in ok.text
    over = await c.alice.run("/idea submit", title="Idea 3", details="more details here", channel=c.general)
    assert "today's limit of 2" in over.text
    refused = await c.alice.run("/ideamod limits", cooldown_seconds=0, daily_quota=0, channel=c.general)
    assert "for moderators" in refused.text
