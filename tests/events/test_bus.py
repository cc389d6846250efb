"""EventBus: per-event and batch handlers, order, and failures that stop nobody else."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from bot.events.bus import EventBus


@dataclass(frozen=True)
class Ping:
    n: int


@dataclass(frozen=True)
class Pong:
    n: int


async def test_publish_all_hands_each_batch_handler_its_type_in_order_once() -> None:
    bus = EventBus()
    singles: list[object] = []
    batches: list[tuple[str, list[object]]] = []

    async def single(event: Ping) -> None:
        singles.append(event)

    async def pings(events: list[Ping]) -> None:
        batches.append(("ping", list(events)))

    async def pongs(events: list[Pong]) -> None:
        batches.append(("pong", list(events)))

    bus.subscribe(Ping, single)
    bus.subscribe_batch(Ping, pings)
    bus.subscribe_batch(Pong, pongs)
    await bus.publish_all([Ping(1), Pong(2), Ping(3), "nobody listens"])
    assert singles == [Ping(1), Ping(3)]
    assert batches == [("ping", [Ping(1), Ping(3)]), ("pong", [Pong(2)])]

    batches.clear()
    await bus.publish(Pong(4))  # one event: a batch of one
    assert batches == [("pong", [Pong(4)])]
    await bus.publish_all([])
    assert batches == [("pong", [Pong(4)])]


async def test_a_failing_handler_is_logged_and_the_others_still_run(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    seen: list[str] = []

    async def broken_batch(events: list[Ping]) -> None:
        raise RuntimeError("boom")

    async def broken_single(event: Ping) -> None:
        raise RuntimeError("bang")

    async def working_batch(events: list[Ping]) -> None:
        seen.append(f"batch of {len(events)}")

    async def working_single(event: Ping) -> None:
        seen.append(f"single {event.n}")

    bus.subscribe(Ping, broken_single)
    bus.subscribe(Ping, working_single)
    bus.subscribe_batch(Ping, broken_batch)
    bus.subscribe_batch(Ping, working_batch)
    await bus.publish_all([Ping(1), Ping(2)])
    await bus.publish(Ping(3))
    assert seen == ["single 1", "single 2", "batch of 2", "single 3", "batch of 1"]
    failures = [record.getMessage() for record in caplog.records if "failed" in record.getMessage()]
    assert len(failures) == 5 and all("on Ping" in message for message in failures)
