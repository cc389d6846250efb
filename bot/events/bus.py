"""A small in-process publish/subscribe for domain events.

Handlers run after the fact is committed. A failing handler is logged and never undoes or
blocks the use case that published the event, nor the other handlers.

Transactional handlers (`subscribe_in_transaction`) run inside the change's own transaction,
through `record(conn, event)`, and write their rows there: an outbox that commits or rolls back
with the change, so a crash right after the commit cannot lose what they owe. Their errors
abort the change."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")
Handler = Callable[[Any], Awaitable[None]]
# (connection of the open transaction, event); the connection type is the storage backend's.
TransactionHandler = Callable[[Any, Any], Awaitable[None]]
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)
        # Handlers that take every event of their type in one call: a burst of votes costs
        # them one round of work (one transaction) instead of one per event.
        self._batch_handlers: dict[type, list[Handler]] = defaultdict(list)
        self._transaction_handlers: dict[type, list[TransactionHandler]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self._handlers[event_type].append(handler)

    def subscribe_batch(self, event_type: type[E], handler: Callable[[list[E]], Awaitable[None]]) -> None:
        """`handler` gets a list of events of this type, in publication order (a single
        `publish` hands it a list of one)."""
        self._batch_handlers[event_type].append(handler)

    def subscribe_in_transaction(self, event_type: type[E], handler: Callable[[Any, E], Awaitable[None]]) -> None:
        """`handler(conn, event)` runs in the transaction that makes the change (see `record`)."""
        self._transaction_handlers[event_type].append(handler)

    async def record(self, conn: Any, event: object) -> None:
        """Called by a use case inside its write transaction, before the commit; `publish`
        follows the commit as usual."""
        for handler in list(self._transaction_handlers.get(type(event), ())):
            await handler(conn, event)

    async def publish(self, event: object) -> None:
        for handler in list(self._handlers.get(type(event), ())):
            await self._run(handler, event, type(event))
        for handler in list(self._batch_handlers.get(type(event), ())):
            await self._run(handler, [event], type(event))

    async def publish_all(self, events: list[object]) -> None:
        """Every event to its per-event handlers in order, then each type's events to its
        batch handlers in one call."""
        by_type: dict[type, list[object]] = defaultdict(list)
        for event in events:
            event_type = type(event)
            if self._batch_handlers.get(event_type):
                by_type[event_type].append(event)
            if self._handlers.get(event_type):  # most vote changes have no subscriber but the card
                for handler in list(self._handlers[event_type]):
                    await self._run(handler, event, event_type)
        for event_type, batch in by_type.items():
            for handler in list(self._batch_handlers.get(event_type, ())):
                await self._run(handler, batch, event_type)

    @staticmethod
    async def _run(handler: Handler, argument: object, event_type: type) -> None:
        try:
            await handler(argument)
        except Exception:
            log.exception("handler %s failed on %s", getattr(handler, "__qualname__", handler), event_type.__name__)
