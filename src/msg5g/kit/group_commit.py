"""Group commit: callers that arrive while a batch is being written are written together next.

Each caller awaits its own answer. The `apply` function gets a batch and returns one answer per
item, in order: a value, or an exception for that caller alone. If `apply` itself raises, every
caller in the batch gets that exception (nothing of the batch was written).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

ItemT = TypeVar("ItemT")
AnswerT = TypeVar("AnswerT")


@dataclass
class _Waiting(Generic[ItemT, AnswerT]):
    item: ItemT
    weight: int
    answer: asyncio.Future[AnswerT] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit(Generic[ItemT, AnswerT]):
    def __init__(
        self,
        apply: Callable[[list[ItemT]], Awaitable[list[AnswerT | Exception]]],
        *,
        name: str,
        max_items: int,
        max_weight: int | None = None,
    ) -> None:
        self._apply = apply
        self._name = name
        self._max_items = max_items
        self._max_weight = max_weight
        self._queue: asyncio.Queue[_Waiting[ItemT, AnswerT]] | None = None
        self._applier: asyncio.Task[None] | None = None

    async def __call__(self, item: ItemT, *, weight: int = 1) -> AnswerT:
        waiting: _Waiting[ItemT, AnswerT] = _Waiting(item=item, weight=weight)
        self._running_queue().put_nowait(waiting)
        return await waiting.answer

    async def close(self) -> None:
        if self._applier is not None:
            self._applier.cancel()
            await asyncio.gather(self._applier, return_exceptions=True)

    def _running_queue(self) -> asyncio.Queue[_Waiting[ItemT, AnswerT]]:
        if self._queue is None or self._applier is None or self._applier.done():
            self._queue = asyncio.Queue()
            self._applier = asyncio.create_task(self._apply_forever(self._queue), name=f"group-commit-{self._name}")
        return self._queue

    async def _apply_forever(self, queue: asyncio.Queue[_Waiting[ItemT, AnswerT]]) -> None:
        while True:
            batch = [await queue.get()]
            weight = batch[0].weight
            while (not queue.empty() and len(batch) < self._max_items
                   and (self._max_weight is None or weight < self._max_weight)):
                batch.append(queue.get_nowait())
                weight += batch[-1].weight
            try:
                answers = await self._apply([w.item for w in batch])
            except Exception as exc:
                log.exception("group commit failed", extra={"group": self._name, "items": len(batch)})
                answers = [exc] * len(batch)
            for waiting, answer in zip(batch, answers, strict=True):
                if waiting.answer.done():
                    continue  # the caller went away (cancelled)
                if isinstance(answer, Exception):
                    waiting.answer.set_exception(answer)
                else:
                    waiting.answer.set_result(answer)
