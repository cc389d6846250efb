"""Which guilds this process owns when shard ranges run in several processes.

Discord routes a guild to shard `(guild_id >> 22) % shard_count`; the process holding that
shard receives the guild's events and interactions, so it is also the one that runs the
guild's jobs (digest, recounts, repairs, challenge closes). Pure: no discord, no database."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# A predicate over guild ids: the services take one and skip guilds it rejects.
Owns = Callable[[int], bool]


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that owns a guild, by Discord's formula."""
    return (guild_id >> 22) % shard_count


def owns_every_guild(guild_id: int) -> bool:
    """An unsharded process, or one holding every shard, owns every guild."""
    return True


def parse_shard_ids(text: str, shard_count: int) -> tuple[int, ...]:
    """`0-3`, `0,2` or `0-1,4` as sorted shard ids; ValueError with a reason a person can act on."""
    ids: list[int] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            raise ValueError("has an empty entry; write e.g. 0-3 or 0,2")
        low_text, dash, high_text = part.partition("-")
        if not low_text.isdigit() or (dash and not high_text.isdigit()):
            raise ValueError(f"'{part}' is not a shard id or range; write e.g. 0-3 or 0,2")
        low = int(low_text)
        high = int(high_text) if dash else low
        if high < low:
            raise ValueError(f"range '{part}' runs backwards")
        if high >= shard_count:
            last = shard_count - 1
            raise ValueError(f"shard {high} is out of range: IDEABOT_SHARD_COUNT={shard_count} means ids 0-{last}")
        ids.extend(range(low, high + 1))
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"names shard {duplicates[0]} more than once")
    return tuple(sorted(ids))


@dataclass(frozen=True)
class ShardPlan:
    """This process's shards out of `count`; `sharded` is False for a plain, unsharded client."""

    count: int = 1
    ids: tuple[int, ...] = (0,)
    sharded: bool = False

    @classmethod
    def of(cls, shard_count: int | None, shard_ids: str | None) -> ShardPlan:
        if shard_count is None:
            return cls()
        ids = parse_shard_ids(shard_ids, shard_count) if shard_ids else tuple(range(shard_count))
        return cls(shard_count, ids, True)

    @property
    def holds_every_shard(self) -> bool:
        return len(self.ids) == self.count

    def owns(self, guild_id: int) -> bool:
        return self.holds_every_shard or shard_of(guild_id, self.count) in self.ids

    @property
    def owner(self) -> Owns:
        """The cheapest predicate for this plan (services call it per guild and per row)."""
        return owns_every_guild if self.holds_every_shard else self.owns

    def describe(self) -> str:
        if not self.sharded:
            return "unsharded"
        return f"shards {','.join(map(str, self.ids))} of {self.count}"


# The plan of a process that owns every guild: the default wherever a plan is optional.
EVERY_GUILD = ShardPlan()
