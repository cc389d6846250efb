"""The ownership rule and the shard settings: pure, and the same rule as Discord's routing."""

from __future__ import annotations

import pytest

from bot.core.shards import EVERY_GUILD, ShardPlan, parse_shard_ids, shard_of
from bot.settings import SettingsError, load_settings
from bot.storage.shards import owned_guilds
from discord_emulator import shard_for

GUILD_IDS = [(n << 22) + 7 for n in range(12)] + [1_234_567_890_123_456_789, 80351110224678912]


def test_shard_of_is_discords_formula() -> None:
    for guild_id in GUILD_IDS:
        for count in (1, 2, 3, 4, 16):
            assert shard_of(guild_id, count) == shard_for(guild_id, count) == (guild_id >> 22) % count


@pytest.mark.parametrize(
    ("text", "count", "expected"),
    [("0-3", 4, (0, 1, 2, 3)), ("0,2", 4, (0, 2)), ("3, 0-1", 4, (0, 1, 3)), ("5", 6, (5,))],
)
def test_shard_ids_parse(text: str, count: int, expected: tuple[int, ...]) -> None:
    assert parse_shard_ids(text, count) == expected


@pytest.mark.parametrize(
    ("text", "count", "reason"),
    [
        ("0-4", 4, "shard 4 is out of range"),
        ("0,0", 2, "more than once"),
        ("0-2,1", 4, "more than once"),
        ("2-1", 4, "backwards"),
        ("a", 4, "not a shard id"),
        ("-1", 4, "not a shard id"),
        ("0,", 4, "empty entry"),
    ],
)
def test_bad_shard_ids_are_refused_with_the_reason(text: str, count: int, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_shard_ids(text, count)


def test_a_plan_owns_exactly_its_shards_guilds() -> None:
    plan = ShardPlan.of(4, "1,3")
    assert plan.sharded and not plan.holds_every_shard
    for guild_id in GUILD_IDS:
        assert plan.owns(guild_id) == (shard_of(guild_id, 4) in (1, 3))
        assert plan.owner(guild_id) == plan.owns(guild_id)
    whole = ShardPlan.of(4, None)
    assert whole.ids == (0, 1, 2, 3) and whole.holds_every_shard
    assert all(whole.owns(g) and EVERY_GUILD.owns(g) for g in GUILD_IDS)
    assert not EVERY_GUILD.sharded and EVERY_GUILD.describe() == "unsharded"
    assert plan.describe() == "shards 1,3 of 4"


def test_the_sql_condition_agrees_with_the_rule() -> None:
    import sqlite3

    plan = ShardPlan.of(3, "0,2")
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE g (guild_id INTEGER)")
    conn.executemany("INSERT INTO g VALUES (?)", [(g,) for g in GUILD_IDS])
    found = {row[0] for row in conn.execute(f"SELECT guild_id FROM g WHERE {owned_guilds('guild_id', plan)}")}
    assert found == {g for g in GUILD_IDS if plan.owns(g)}
    assert owned_guilds("guild_id", ShardPlan.of(3, None)) == "1 = 1"


def test_settings_read_the_shard_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IDEABOT_SHARD_COUNT", "4")
    monkeypatch.setenv("IDEABOT_SHARD_IDS", "2-3")
    assert load_settings().shards == ShardPlan(4, (2, 3), True)
    monkeypatch.delenv("IDEABOT_SHARD_IDS")
    assert load_settings().shards == ShardPlan(4, (0, 1, 2, 3), True)
    monkeypatch.delenv("IDEABOT_SHARD_COUNT")
    assert load_settings().shards == EVERY_GUILD


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IDEABOT_SHARD_COUNT": "2", "IDEABOT_SHARD_IDS": "0-2"}, "IDEABOT_SHARD_IDS: .*shard 2 is out of range"),
        ({"IDEABOT_SHARD_COUNT": "4", "IDEABOT_SHARD_IDS": "1,1"}, "IDEABOT_SHARD_IDS: .*more than once"),
        ({"IDEABOT_SHARD_IDS": "0"}, "IDEABOT_SHARD_IDS: .*needs IDEABOT_SHARD_COUNT"),
        ({"IDEABOT_SHARD_COUNT": "0"}, "IDEABOT_SHARD_COUNT: "),
        ({"IDEABOT_SHARD_COUNT": "two"}, "IDEABOT_SHARD_COUNT: "),
    ],
)
def test_bad_shard_settings_stop_start_up_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=message):
        load_settings()
