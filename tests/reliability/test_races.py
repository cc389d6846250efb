"""Concurrent interactions that change the same state: the database decides, once. Each test fires
the interactions at the same moment through the emulator and checks what members saw and what
was stored."""

from __future__ import annotations

import asyncio

from bot.testing import Community
from discord_emulator import Reply


async def scalar(c: Community, sql: str, *params: object) -> int:
    async with c.db.conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def set_limits(c: Community, cooldown: int, quota: int) -> None:
    reply = await c.mod.run("/ideamod limits", cooldown_seconds=cooldown, daily_quota=quota, channel=c.general)
    assert "Members wait" in reply.text, reply.text


def texts(replies: list[Reply]) -> list[str]:
    return [r.text for r in replies]


async def test_simultaneous_submissions_respect_the_cooldown_and_the_quota(community: Community) -> None:
    c = community
    await set_limits(c, cooldown=3600, quota=1)
    titles = ["Dark mode", "Export to CSV", "Keyboard shortcuts", "Offline sync", "Bigger fonts"]
    replies = await asyncio.gather(
        *(c.alice.run("/idea submit", title=t, details=f"{t}, please, for everyone", channel=c.general) for t in titles)
    )
    await c.settle()
    posted = [r for r in replies if "is posted" in r.text]
    refused = [r for r in replies if "Slow down" in r.text or "limit" in r.text]
    assert len(posted) == 1 and len(refused) == 4, texts(replies)
    assert all(r.ephemeral for r in replies)
    assert len(c.cards()) == 1
    assert await scalar(c, "SELECT COUNT(*) FROM ideas WHERE author_id = ?", c.alice.id) == 1


async def test_crossed_merges_cannot_make_a_cycle(community: Community) -> None:
    c = community
    one = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    two = await c.submit(c.bob, title="Night theme", details="Please add a night theme")
    await c.carol.react(one, "👍")
    await c.dave.react(two, "👍")
    await c.settle()
    replies = await asyncio.gather(
        c.mod.run("/ideamod merge", source=1, target=2, channel=c.general),
        c.mod.run("/ideamod merge", source=2, target=1, channel=c.general),
    )
    await c.settle()
    merged = [r for r in replies if "is merged into" in r.text]
    refused = [r for r in replies if "cannot be merged" in r.text]
    assert len(merged) == 1 and len(refused) == 1, texts(replies)
    assert refused[0].ephemeral
    first, second = await c.bot.ideas.get(c.guild.id, 1), await c.bot.ideas.get(c.guild.id, 2)
    duplicate, survivor = (first, second) if first.status.value == "duplicate" else (second, first)
    assert survivor.status.value == "open" and survivor.merged_into is None
    assert duplicate.merged_into == survivor.id
    assert (survivor.upvotes, duplicate.upvotes) == (2, 0)  # every vote on the idea that stays
    assert await scalar(c, "SELECT COUNT(*) FROM audit_log WHERE action = 'merge'") == 1


async def test_two_merges_of_one_idea_move_its_votes_once(community: Community) -> None:
    c = community
    one = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.submit(c.bob, title="Night theme", details="Please add a night theme")
    await c.submit(c.carol, title="Black background", details="Black background everywhere")
    await c.dave.react(one, "👍")
    await c.erin.react(one, "👍")
    await c.settle()
    replies = await asyncio.gather(
        c.mod.run("/ideamod merge", source=1, target=2, channel=c.general),
        c.mod.run("/ideamod merge", source=1, target=3, channel=c.general),
    )
    await c.settle()
    merged = [r for r in replies if "is merged into" in r.text]
    refused = [r for r in replies if "cannot be merged" in r.text]
    assert len(merged) == 1 and len(refused) == 1, texts(replies)
    source = await c.bot.ideas.get(c.guild.id, 1)
    two, three = await c.bot.ideas.get(c.guild.id, 2), await c.bot.ideas.get(c.guild.id, 3)
    target = two if source.merged_into == two.id else three
    other = three if target is two else two
    assert source.status.value == "duplicate" and source.merged_into == target.id
    assert (target.upvotes, other.upvotes, source.upvotes) == (2, 0, 0)
    assert other.coauthor_ids == []
    assert len(await c.bot.ideas.history(source.id)) == 1


async def test_identical_status_commands_change_once_and_tell_once(community: Community) -> None:
    c = community
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    await c.bob.react(card, "👍")
    await c.settle()
    replies = await asyncio.gather(
        *(
            c.mod.run("/ideamod status", id=1, status="planned", reason="Shipping in Q1", channel=c.general)
            for _ in range(2)
        )
    )
    await c.settle()
    changed = [r for r in replies if "is now **Planned**" in r.text]
    already = [r for r in replies if "already planned" in r.text]
    assert len(changed) == 1 and len(already) == 1, texts(replies)
    assert already[0].ephemeral
    idea = await c.bot.ideas.get(c.guild.id, 1)
    assert [(h["old_status"], h["new_status"]) for h in await c.bot.ideas.history(idea.id)] == [("open", "planned")]
    assert len(c.emu.dms_to(c.alice)) == 1
    assert len(c.emu.dms_to(c.bob)) == 1
    assert await scalar(c, "SELECT COUNT(*) FROM audit_log WHERE action = 'status:planned'") == 1


async def test_withdraw_and_a_status_change_at_once_leave_one_history(community: Community) -> None:
    c = community
    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    replies = await asyncio.gather(
        c.alice.run("/idea withdraw", id=1, channel=c.general),
        c.mod.run("/ideamod status", id=1, status="implemented", channel=c.general),
    )
    await c.settle()
    idea = await c.bot.ideas.get(c.guild.id, 1)
    history = [(h["old_status"], h["new_status"]) for h in await c.bot.ideas.history(idea.id)]
    # Whichever came first won; the other was refused, so the history is one consistent step.
    assert history in ([("open", "withdrawn")], [("open", "implemented")]), (history, texts(replies))
    assert idea.status.value == history[0][1]
    loser = replies[1] if idea.status.value == "withdrawn" else replies[0]
    assert loser.ephemeral and "something went wrong" not in loser.text.lower()
    assert "withdrawn" in loser.text or "can no longer be changed" in loser.text


async def test_double_click_on_i_accept_posts_the_idea_once(community: Community) -> None:
    c = community
    await set_limits(c, cooldown=0, quota=0)
    await c.mod.run("/ideamod terms set", text="Ideas you share are licensed CC-BY 4.0.", version="1")
    prompt = await c.alice.run("/idea submit", title="Dark mode", details="A dark theme please", channel=c.general)
    assert "CC-BY" in prompt.text
    replies = await asyncio.gather(c.alice.click(prompt, label="I accept"), c.alice.click(prompt, label="I accept"))
    await c.settle()
    posted = [r for r in replies if "is posted" in r.text]
    done = [r for r in replies if "already" in r.text]
    assert len(posted) == 1 and len(done) == 1, texts(replies)
    assert done[0].ephemeral
    assert len(c.cards()) == 1
    assert await scalar(c, "SELECT COUNT(*) FROM consents WHERE user_id = ?", c.alice.id) == 1


async def duplicate_warning(c: Community) -> Reply:
    await set_limits(c, cooldown=0, quota=0)
    await c.submit(c.alice, title="Dark mode for the dashboard", details="A dark theme for the dashboard at night")
    reply = await c.bob.run(
        "/idea submit", title="Dark dashboard theme", details="A dark theme for the dashboard please", channel=c.general
    )
    assert "already on the board" in reply.text
    return reply


async def test_double_click_on_post_anyway_posts_once(community: Community) -> None:
    c = community
    warning = await duplicate_warning(c)
    replies = await asyncio.gather(c.bob.click(warning, label="Post anyway"), c.bob.click(warning, label="Post anyway"))
    await c.settle()
    posted = [r for r in replies if "is posted" in r.text]
    done = [r for r in replies if "already" in r.text]
    assert len(posted) == 1 and len(done) == 1, texts(replies)
    assert len(c.cards()) == 2


async def test_support_instead_and_post_anyway_at_once_do_one_of_them(community: Community) -> None:
    c = community
    warning = await duplicate_warning(c)
    replies = await asyncio.gather(
        c.bob.click(warning, label="Support #1 instead"), c.bob.click(warning, label="Post anyway")
    )
    await c.settle()
    supported = "support for **#1** is recorded" in replies[0].text
    posted = "is posted" in replies[1].text
    assert supported != posted, texts(replies)
    loser = replies[1] if supported else replies[0]
    assert loser.ephemeral and "already" in loser.text
    assert len(c.cards()) == (1 if supported else 2)
    assert (await c.bot.ideas.get(c.guild.id, 1)).upvotes == (1 if supported else 0)


async def test_two_revives_at_once_revive_once(community: Community) -> None:
    c = community
    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    idea = await c.bot.ideas.get(c.guild.id, 1)
    async with c.db.transaction() as conn:
        await conn.execute("UPDATE ideas SET archived_at = ? WHERE id = ?", (c.clock().timestamp(), idea.id))
    replies = await asyncio.gather(
        *(c.mod.run("/ideamod revive", id=1, channel=c.general) for _ in range(2)),
    )
    revived = [r for r in replies if "open for votes again" in r.text]
    refused = [r for r in replies if "nothing to revive" in r.text]
    assert len(revived) == 1 and len(refused) == 1, texts(replies)
    assert await scalar(c, "SELECT COUNT(*) FROM audit_log WHERE action = 'revive'") == 1


async def writers_waiting(c: Community, count: int) -> None:
    """Until `count` transactions wait for the write lock (the test holds it)."""
    for _ in range(1000):
        if len(c.db._write_lock._waiters or ()) >= count:
            return
        await asyncio.sleep(0.005)
    raise AssertionError(f"{count} writers never queued")


async def test_an_edit_never_lands_after_a_status_that_closed_the_idea(community: Community) -> None:
    c = community
    await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    # Remember the status each text write saw: a write seeing "implemented" is the race.
    await c.db.conn.execute("CREATE TABLE text_writes (status TEXT)")
    if c.db.dialect == "postgresql":
        await c.db.conn.execute(
            "CREATE FUNCTION note_text_write() RETURNS trigger LANGUAGE plpgsql AS"
            " 'BEGIN INSERT INTO text_writes VALUES (NEW.status); RETURN NEW; END'"
        )
        await c.db.conn.execute(
            "CREATE TRIGGER text_written AFTER UPDATE OF title ON ideas FOR EACH ROW EXECUTE FUNCTION note_text_write()"
        )
    else:
        await c.db.conn.execute(
            "CREATE TEMP TRIGGER text_written AFTER UPDATE OF title ON ideas"
            " BEGIN INSERT INTO text_writes VALUES (NEW.status); END"
        )
    modal = await c.alice.run("/idea edit", id=1, channel=c.general)
    assert modal.modal is not None
    inputs = {
        item["label"]: item["custom_id"]
        for row in modal.modal["components"]
        for item in (row.get("components") or [row.get("component", {})])
        if item.get("type") == 4
    }
    # Hold the write lock until both are queued for it, the status change first: whatever they
    # read before their transaction, the status is written before the edit.
    async with c.db.transaction():
        status_task = asyncio.create_task(c.mod.run("/ideamod status", id=1, status="implemented", channel=c.general))
        await writers_waiting(c, 1)
        edit_task = asyncio.create_task(
            c.alice.submit_modal(modal, **{inputs["Title"]: "Dark mode everywhere", inputs["Details"]: "Every page"})
        )
        await writers_waiting(c, 2)
    status, edit = await status_task, await edit_task
    async with c.db.conn.execute("SELECT status FROM text_writes") as cursor:
        writes = [row[0] for row in await cursor.fetchall()]
    assert "is now **Implemented**" in status.text, status.text
    assert writes == [], writes
    assert edit.ephemeral and "can no longer be changed" in edit.text, edit.text
    idea = await c.bot.ideas.get(c.guild.id, 1)
    assert (idea.status.value, idea.title) == ("implemented", "Dark mode")


async def test_a_submission_queued_behind_a_block_is_refused(community: Community) -> None:
    c = community
    async with c.db.transaction():
        block = asyncio.create_task(c.mod.run("/ideamod block", member=c.bob, channel=c.general))
        await writers_waiting(c, 1)
        submit = asyncio.create_task(
            c.bob.run("/idea submit", title="Dark mode", details="A dark theme for late-night work", channel=c.general)
        )
        await writers_waiting(c, 2)
    blocked, refused = await block, await submit
    assert "can no longer submit" in blocked.text, blocked.text
    assert refused.ephemeral and "blocked" in refused.text, refused.text
    assert c.cards() == []
    assert await scalar(c, "SELECT COUNT(*) FROM ideas") == 0


async def test_two_texts_for_one_terms_version_at_once_save_one(community: Community) -> None:
    c = community
    first_text, second_text = "Ideas you share are licensed CC-BY 4.0.", "Ideas you share are public domain (CC0)."
    async with c.db.transaction():
        first = asyncio.create_task(c.mod.run("/ideamod terms set", text=first_text, version="1", channel=c.general))
        await writers_waiting(c, 1)
        second = asyncio.create_task(c.mod.run("/ideamod terms set", text=second_text, version="1", channel=c.general))
        await writers_waiting(c, 2)
    saved, refused = await first, await second
    assert "version 1" in saved.text, saved.text
    assert refused.ephemeral and "Changed terms need a new version" in refused.text, refused.text
    terms = await c.bot.services.programmes.terms(c.guild.id)
    assert terms is not None and terms.text == first_text
    assert await scalar(c, "SELECT COUNT(*) FROM audit_log WHERE action = 'terms'") == 1


async def test_allowing_anonymous_ideas_twice_at_once_changes_once(community: Community) -> None:
    c = community
    async with c.db.transaction():
        tasks = [asyncio.create_task(c.mod.run("/ideamod anonymous", allow=True, channel=c.general)) for _ in range(2)]
        await writers_waiting(c, 2)
    replies = [await task for task in tasks]
    assert sorted("are already allowed" in r.text for r in replies) == [False, True], texts(replies)
    assert await scalar(c, "SELECT COUNT(*) FROM audit_log WHERE action = 'anonymous'") == 1


async def test_the_periodic_job_does_not_expire_an_idea_a_moderator_just_decided(community: Community) -> None:
    c = community
    await c.mod.run("/ideamod thresholds", stages="3/30", channel=c.general)
    card = await c.submit(c.alice, title="Dark mode", details="A dark theme for late-night work")
    c.clock.advance(days=31)  # past the deadline of stage 1: the job would expire it
    async with c.db.transaction():
        status = asyncio.create_task(c.mod.run("/ideamod status", id=1, status="planned", channel=c.general))
        await writers_waiting(c, 1)
        tick = asyncio.create_task(c.bot.services.programmes.tick(c.clock()))
        await writers_waiting(c, 2)
    planned, report = await status, await tick
    await c.settle()
    assert "is now **Planned**" in planned.text, planned.text
    idea = await c.bot.ideas.get(c.guild.id, 1)
    assert (idea.status.value, idea.expired_at) == ("planned", None)
    assert report.expired == []
    thread = c.emu.thread_of(card)
    assert thread is not None
    assert not any("expired" in str(e.get("title", "")) for m in thread.messages for e in m.embeds)
