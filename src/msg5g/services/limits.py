"""Sends per second that every worker process together keeps to: a carrier's TPS per channel and
per chatbot. The buckets live in the database, where every worker of the embedded default sees
them; a batch draws all its tokens in one transaction, so the cost is one write per channel per
batch, not per message. (A Redis limiter for multi-machine deployments is the scale-out work.)
"""

from __future__ import annotations

import time

from sqlalchemy import select

from msg5g.services.context import ServiceContext
from msg5g.storage.tables import RateBucket


class RateLimiter:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def take(self, limits: dict[str, float], wanted: int) -> int:
        """Draw up to `wanted` sends from every bucket in `limits` (key -> per second); returns how
        many all of them allow. Tokens for the whole grant are taken from each bucket."""
        if not limits or wanted <= 0:
            return wanted
        now = time.time()
        async with self._ctx.db.transaction(urgent=True) as session:
            rows = {row.key: row for row in await session.scalars(
                select(RateBucket).where(RateBucket.key.in_(list(limits))).with_for_update())}
            granted = wanted
            for key, rate in limits.items():
                row = rows.get(key)
                available = rate if row is None else min(rate, row.tokens + (now - row.updated_at) * rate)
                granted = min(granted, int(available))
            for key, rate in limits.items():
                row = rows.get(key)
                available = rate if row is None else min(rate, row.tokens + (now - row.updated_at) * rate)
                if row is None:
                    session.add(RateBucket(key=key, tokens=available - granted, updated_at=now))
                else:
                    row.tokens, row.updated_at = available - granted, now
        return max(granted, 0)
