"""Every moderator command, run by a plain member, is refused with an ephemeral message and
changes nothing in the database.

The commands come from what the bot synced to the emulator, so a new command is covered the day
it is added: anything not on the short list of member commands below counts as a moderator
command (deny by default)."""

from __future__ import annotations

from typing import Any

from bot.storage.copy import describe
from bot.testing import Community

# Commands every member may use. Keep this list short and deliberate.
MEMBER_COMMANDS = {
    "idea submit",
    "idea show",
    "idea top",
    "idea search",
    "idea mine",
    "idea edit",
    "idea withdraw",
    "rep show",
    "rep top",
    "challenge list",
}
SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER = 3, 4, 5, 6, 7, 8, 9, 10


def leaf_commands(c: Community) -> list[tuple[str, list[dict[str, Any]]]]:
    """("ideamod status", options) for every synced chat-input command, subcommands flattened."""
    found: list[tuple[str, list[dict[str, Any]]]] = []

    def walk(path: str, options: list[dict[str, Any]]) -> None:
        nested = [o for o in options if o.get("type") in (SUB_COMMAND, SUB_COMMAND_GROUP)]
        if not nested:
            found.append((path, options))
        for option in nested:
            walk(f"{path} {option['name']}", option.get("options", []))

    world = c.emu.world
    for command in [*world.global_commands, *world.guild_commands.get(c.guild.id, [])]:
        if command.type == 1:
            walk(command.name, command.options)
    return found


def sample_values(c: Community, options: list[dict[str, Any]]) -> dict[str, Any]:
    """A valid value for every option (all of them, not only the required ones)."""
    values: dict[str, Any] = {}
    for option in options:
        kind, name = option["type"], option["name"]
        if option.get("choices"):
            values[name] = option["choices"][0]["value"]
        elif kind == STRING:
            values[name] = "x" * max(option.get("min_length", 0), 8) if name != "schedule" else "monday 09:00"
        elif kind in (INTEGER, NUMBER):
            values[name] = max(int(option.get("min_value", 1)), 1)
        elif kind == BOOLEAN:
            values[name] = True
        elif kind in (USER, MENTIONABLE):
            values[name] = c.bob
        elif kind == CHANNEL:
            values[name] = c.ideas
        elif kind == ROLE:
            values[name] = c.mod_role
    return values


async def dump(c: Community) -> dict[str, list[tuple[Any, ...]]]:
    conn = c.db.conn
    tables = sorted(await describe(c.db))  # every data table, on either backend
    state = {}
    for table in tables:
        async with conn.execute(f'SELECT * FROM "{table}"') as cursor:
            state[table] = sorted((tuple(row) for row in await cursor.fetchall()), key=repr)
    return state


async def test_a_plain_member_is_refused_every_moderator_command(community: Community) -> None:
    c = community
    await c.submit(c.alice, title="Dark mode please", details="Concrete details for the matrix")
    await c.submit(c.bob, title="Export to CSV files", details="Concrete details for the matrix")
    await c.settle()
    moderator_commands = [(path, options) for path, options in leaf_commands(c) if path not in MEMBER_COMMANDS]
    assert len(moderator_commands) >= 10, [path for path, _ in moderator_commands]
    assert "ideamod setup" in [path for path, _ in moderator_commands]
    plain = c.carol
    assert not plain.role_ids
    before = await dump(c)
    public_before = {ch.id: len(ch.messages) for ch in c.guild.channels}
    refused = []
    for path, options in moderator_commands:
        reply = await plain.run(f"/{path}", channel=c.general, **sample_values(c, options))
        assert reply.ephemeral, f"/{path}: the refusal is not ephemeral: {reply.text!r}"
        text = reply.text.lower()
        assert "moderator" in text or "cannot use" in text, f"/{path} was not refused: {reply.text!r}"
        assert "something went wrong" not in text, f"/{path} crashed"
        refused.append(path)
    print(f"refused {len(refused)} moderator commands: {', '.join(refused)}")
    await c.settle()
    after = await dump(c)
    # Any interaction tells the bot the member's Discord language (kept for later DMs): that is
    # bookkeeping, not an effect of the refused command.
    remembered = set(after.pop("member_locales")) - set(before.pop("member_locales"))
    assert [row[:2] for row in remembered] == [(plain.id, "en-US")]
    assert after == before, "a refused command changed the database"
    assert {ch.id: len(ch.messages) for ch in c.guild.channels} == public_before, "a refused command posted"
    # And the moderator may use them: the matrix is not refusing everyone.
    reply = await c.mod.run("/ideamod queue", channel=c.general)
    assert "moderator" not in reply.text.lower()
