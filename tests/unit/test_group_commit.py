"""Group commit: concurrent callers share one apply, each gets its own answer or error."""

from __future__ import annotations

import asyncio

import pytest

from msg5g.kit.group_commit import GroupCommit

pytestmark = pytest.mark.asyncio


async def test_concurrent_callers_are_applied_together_and_answered_alone() -> None:
    batches: list[list[int]] = []

    async def apply(items: list[int]) -> list[int | Exception]:
        batches.append(items)
        await asyncio.sleep(0.01)
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]

    group: GroupCommit[int, int] = GroupCommit(apply, name="test", max_items=100)
    first = asyncio.create_task(group(0))
    await asyncio.sleep(0)  # the first batch starts with item 0 alone
    results = await asyncio.gather(first, *(group(i) for i in range(1, 6)), return_exceptions=True)
    await group.close()
    assert results[0] == 0
    assert [str(r) if isinstance(r, Exception) else r for r in results[1:]] == [
        "odd 1", 20, "odd 3", 40, "odd 5"]
    assert batches == [[0], [1, 2, 3, 4, 5]]


async def test_weight_limits_a_batch_and_a_failure_reaches_every_caller() -> None:
    batches: list[list[str]] = []

    async def apply(items: list[str]) -> list[str | Exception]:
        batches.append(items)
        if "boom" in items:
            raise RuntimeError("database went away")
        return items

    group: GroupCommit[str, str] = GroupCommit(apply, name="test", max_items=100, max_weight=10)
    blocker = asyncio.create_task(group("first"))
    await asyncio.sleep(0)
    calls = [group("big", weight=10), group("boom"), group("small")]
    results = await asyncio.gather(blocker, *calls, return_exceptions=True)
    await group.close()
    assert results[:2] == ["first", "big"]
    assert all(isinstance(r, RuntimeError) for r in results[2:])
    assert batches == [["first"], ["big"], ["boom", "small"]]
