"""A small in-process publish/subscribe for domain events.

Handlers run after the fact is committed. A failing handler is logged and never undoes or
blocks the use case that published the event."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[Any], Awaitable[None]]
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self._handlers[event_type].append(handler)

    async def publish(self, event: object) -> None:
        for handler in list(self._handlers.get(type(event), ())):
            try:
                await handler(event)
            except Exception:
                log.exception(
                    "handler %s failed on %s", getattr(handler, "__qualname__", handler), type(event).__name__
                )

    async def publish_all(self, events: list[object]) -> None:
        for event in events:
            if self._handlers.get(type(event)):  # most vote changes have no subscriber but the card
                await self.publish(event)
