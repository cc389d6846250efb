"""The anonymity rule (bot/ideas/privacy.py): table tests, properties, and its SQL form
(`anonymous_credit_sql`) agreeing with it on a real SQLite database."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ideas import storage as idea_queries
from bot.ideas.privacy import (
    MODERATORS,
    PUBLIC,
    Viewer,
    coauthor_link_is_anonymous,
    credit,
    hidden_people,
    is_anonymous_link,
    may_ping_in_public,
    may_see,
    member,
    sees_all_credit_of,
    sees_everyone,
)
from bot.ideas.rules import Idea, IdeaDraft, Status
from bot.reputation import storage as rep_queries
from bot.storage import Database, migration_scripts

NOW = datetime(2026, 11, 1, 12, tzinfo=UTC)
AUTHOR, COAUTHOR, HIDDEN_COAUTHOR, OTHER = 1, 2, 3, 4


def idea(anonymous: bool, coauthors: dict[int, bool] | None = None, author: int = AUTHOR) -> Idea:
    coauthors = coauthors or {}
    return Idea(
        id=1,
        guild_id=1,
        number=1,
        author_id=author,
        title="Title",
        body="Body",
        category=None,
        status=Status.OPEN,
        status_reason=None,
        channel_id=None,
        message_id=None,
        thread_id=None,
        upvotes=0,
        downvotes=0,
        merged_into=None,
        created_at=NOW,
        updated_at=NOW,
        last_activity_at=NOW,
        coauthor_ids=sorted(coauthors),
        anonymous_coauthor_ids=sorted(user for user, hidden in coauthors.items() if hidden),
        anonymous=anonymous,
    )


@pytest.mark.parametrize(
    ("viewer", "person", "anonymous_link", "seen"),
    [
        (PUBLIC, AUTHOR, False, True),
        (PUBLIC, AUTHOR, True, False),
        (member(OTHER), AUTHOR, True, False),
        (member(AUTHOR), AUTHOR, True, True),  # yourself
        (member(OTHER, moderator=True), AUTHOR, True, True),
        (MODERATORS, AUTHOR, True, True),
        (member(OTHER), AUTHOR, False, True),
    ],
)
def test_an_anonymous_link_is_seen_by_the_person_and_moderators_only(
    viewer: Viewer, person: int, anonymous_link: bool, seen: bool
) -> None:
    assert may_see(viewer, person, anonymous_link) is seen


@pytest.mark.parametrize(
    ("the_idea", "person", "anonymous"),
    [
        (idea(False), AUTHOR, False),
        (idea(True), AUTHOR, True),
        (idea(False, {COAUTHOR: False, HIDDEN_COAUTHOR: True}), COAUTHOR, False),
        (idea(False, {COAUTHOR: False, HIDDEN_COAUTHOR: True}), HIDDEN_COAUTHOR, True),
        # A public co-author of an anonymous idea (a public duplicate merged into it) stays public.
        (idea(True, {COAUTHOR: False}), COAUTHOR, False),
        (idea(True), OTHER, False),
    ],
)
def test_which_links_are_anonymous(the_idea: Idea, person: int, anonymous: bool) -> None:
    assert is_anonymous_link(the_idea, person) is anonymous
    assert may_ping_in_public(the_idea, person) is not anonymous


def test_a_merge_carries_the_anonymity_of_each_link_of_the_source() -> None:
    source = idea(True, {COAUTHOR: False, HIDDEN_COAUTHOR: True})
    assert coauthor_link_is_anonymous(source, AUTHOR)
    assert not coauthor_link_is_anonymous(source, COAUTHOR)
    assert coauthor_link_is_anonymous(source, HIDDEN_COAUTHOR)
    assert not coauthor_link_is_anonymous(idea(False), AUTHOR)


def test_credit_keeps_the_author_first_and_counts_the_hidden() -> None:
    merged = idea(False, {COAUTHOR: False, HIDDEN_COAUTHOR: True})
    assert credit(merged, PUBLIC).shown == (AUTHOR, COAUTHOR) and credit(merged, PUBLIC).hidden == 1
    assert credit(merged, member(HIDDEN_COAUTHOR)).shown == (AUTHOR, COAUTHOR, HIDDEN_COAUTHOR)
    assert credit(merged, MODERATORS).hidden == 0
    assert credit(idea(True), PUBLIC, [AUTHOR]).shown == () and credit(idea(True), PUBLIC, [AUTHOR]).hidden == 1
    assert hidden_people(merged) == (HIDDEN_COAUTHOR,)
    assert sees_everyone(MODERATORS) and not sees_everyone(member(AUTHOR))
    assert sees_all_credit_of(member(AUTHOR), AUTHOR) and not sees_all_credit_of(PUBLIC, AUTHOR)


people = st.integers(min_value=1, max_value=6)
ideas = st.builds(
    lambda author, anonymous, coauthors: idea(anonymous, {k: v for k, v in coauthors.items() if k != author}, author),
    people,
    st.booleans(),
    st.dictionaries(people, st.booleans(), max_size=4),
)
viewers = st.builds(Viewer, st.none() | people, st.booleans())


@given(ideas, viewers)
def test_nobody_but_the_person_and_moderators_ever_sees_an_anonymous_link(the_idea: Idea, viewer: Viewer) -> None:
    seen = credit(the_idea, viewer)
    everyone = list(dict.fromkeys([the_idea.author_id, *the_idea.coauthor_ids]))
    assert len(seen.shown) + seen.hidden == len(everyone)
    assert [p for p in everyone if p in seen.shown] == list(seen.shown)  # order kept, author first
    for person in seen.shown:
        assert not is_anonymous_link(the_idea, person) or viewer.moderator or viewer.user_id == person
    if viewer.moderator:
        assert seen.hidden == 0
    public = credit(the_idea, PUBLIC)
    assert set(public.shown) == {p for p in everyone if may_ping_in_public(the_idea, p)}
    assert set(public.shown).isdisjoint(hidden_people(the_idea))
    # A member sees what the public sees, plus their own links.
    if viewer.user_id is not None and not viewer.moderator:
        own = {viewer.user_id} & set(everyone)
        assert set(seen.shown) == set(public.shown) | own


worlds = st.lists(
    st.tuples(people, st.booleans(), st.dictionaries(people, st.booleans(), max_size=3)), min_size=1, max_size=4
)


# A fresh database per example: SQLite in memory (the examples run on the SQLite backend).
@settings(max_examples=40, deadline=None)
@given(worlds, st.lists(st.tuples(people, st.integers(min_value=0, max_value=3)), max_size=12))
async def test_the_sql_form_of_the_rule_agrees_with_the_domain(
    world: list[tuple[int, bool, dict[int, bool]]], rows: list[tuple[int, int]]
) -> None:
    """Ledger rows for random people on random ideas (index 0: no idea): the database's
    `anonymous` flag, the public totals and the leaderboard follow `is_anonymous_link`."""
    db = await Database.open(":memory:")
    try:
        async with db.transaction() as conn:
            created = []
            for author, anonymous, coauthors in world:
                new = await idea_queries.insert_idea(
                    conn, 1, author, IdeaDraft("An idea", "details here"), NOW, anonymous=anonymous
                )
                for user, hidden in coauthors.items():
                    if user != author:
                        await idea_queries.add_coauthor(conn, new.id, user, anonymous=hidden)
                created.append(new.id)
            for user, which in rows:
                idea_id = created[which - 1] if 0 < which <= len(created) else None
                await rep_queries.append(conn, 1, user, 1, "row", "test", NOW, idea_id=idea_id)
        stored = {i: await idea_queries.get_idea(db.conn, i) for i in created}
        expected_public: dict[int, int] = {}
        for row in await rep_queries.ledger(db.conn, 1):
            the_idea = stored.get(row.idea_id) if row.idea_id is not None else None
            anonymous = the_idea is not None and is_anonymous_link(the_idea, row.user_id)
            assert row.anonymous is anonymous
            if not anonymous:
                expected_public[row.user_id] = expected_public.get(row.user_id, 0) + row.delta
        public = dict(await rep_queries.totals(db.conn, 1, include_anonymous=False))
        assert public == {user: points for user, points in expected_public.items() if points > 0}
        for user in {user for user, _ in rows}:
            assert await rep_queries.total(db.conn, 1, user, include_anonymous=False) == expected_public.get(user, 0)
    finally:
        await db.close()


async def test_a_public_coauthor_link_is_never_hidden_by_a_later_anonymous_one(database_target: str) -> None:
    db = await Database.open(database_target)
    try:
        async with db.transaction() as conn:
            target = await idea_queries.insert_idea(conn, 1, AUTHOR, IdeaDraft("Target", "details here"), NOW)
            await idea_queries.add_coauthor(conn, target.id, COAUTHOR, anonymous=True)
            await idea_queries.add_coauthor(conn, target.id, HIDDEN_COAUTHOR, anonymous=True)
            await idea_queries.add_coauthor(conn, target.id, COAUTHOR)  # now credited in the open too
            await idea_queries.add_coauthor(conn, target.id, COAUTHOR, anonymous=True)
        stored = await idea_queries.get_idea(db.conn, target.id)
        assert stored is not None
        assert stored.coauthor_ids == [COAUTHOR, HIDDEN_COAUTHOR]
        assert stored.anonymous_coauthor_ids == [HIDDEN_COAUTHOR]
    finally:
        await db.close()


async def test_the_migration_marks_coauthors_of_merged_anonymous_ideas(tmp_path: Path) -> None:
    """A database from before the co-author flag: links made by merging an anonymous idea
    become anonymous, the others stay public."""
    path = str(tmp_path / "old.sqlite3")
    ours = next(v for v, name, _ in migration_scripts() if name.endswith("_anonymous_coauthors.sql"))
    with sqlite3.connect(path) as old:
        for version, _, sql in migration_scripts():
            if version < ours:
                old.executescript(sql)
        old.execute(f"PRAGMA user_version={ours - 1}")
        ts = NOW.timestamp()
        columns = "id, guild_id, number, author_id, title, body, created_at, updated_at, last_activity_at"
        for idea_id, author, anonymous, merged_into in [(1, AUTHOR, 0, None), (2, 5, 1, 1), (3, 6, 0, 1)]:
            old.execute(
                f"INSERT INTO ideas ({columns}, anonymous, merged_into) VALUES (?, 1, ?, ?, 't', 'b', ?, ?, ?, ?, ?)",
                (idea_id, idea_id, author, ts, ts, ts, anonymous, merged_into),
            )
        old.executemany("INSERT INTO idea_coauthors (idea_id, user_id) VALUES (1, ?)", [(5,), (6,)])
    db = await Database.open(path)
    try:
        stored = await idea_queries.get_idea(db.conn, 1)
        assert stored is not None and stored.coauthor_ids == [5, 6] and stored.anonymous_coauthor_ids == [5]
    finally:
        await db.close()
