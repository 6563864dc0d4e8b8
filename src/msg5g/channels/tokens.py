"""Access tokens that a carrier issues per chatbot, cached until shortly before they expire.

CT/CU issue a token per chatbot (7200 s) from an `/accessToken` call; asking for one per message
would double the carrier calls and trip their rate limits. One fetch per key is in flight at a
time, so a burst of sends after expiry costs one token call, not one per send.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

# easy5g refreshes 100 s before the carrier's expiry (protocols.md §3.3.1): a token that expires
# while a request is on its way costs a failed call and a retry.
REFRESH_MARGIN_SECONDS = 100.0

TokenFetch = Callable[[], Awaitable[tuple[str, float]]]  # -> (token, lifetime in seconds)


@dataclass(slots=True)
class _Cached:
    value: str
    refresh_at: float  # time.monotonic()


class TokenCache:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 margin_seconds: float = REFRESH_MARGIN_SECONDS) -> None:
        self._clock = clock
        self._margin = margin_seconds
        self._tokens: dict[Hashable, _Cached] = {}
        self._locks: dict[Hashable, asyncio.Lock] = {}

    async def get(self, key: Hashable, fetch: TokenFetch) -> str:
        cached = self._tokens.get(key)
        if cached is not None and cached.refresh_at > self._clock():
            return cached.value
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(key)  # another task may have refreshed it while we waited
            if cached is not None and cached.refresh_at > self._clock():
                return cached.value
            value, lifetime = await fetch()
            # A lifetime shorter than the margin still gets used once rather than never.
            refresh_in = lifetime - self._margin if lifetime > self._margin * 2 else lifetime / 2
            self._tokens[key] = _Cached(value, self._clock() + refresh_in)
            return value

    def invalidate(self, key: Hashable, value: str) -> None:
        """Forget `value` (the carrier refused it), unless a newer token already replaced it."""
        cached = self._tokens.get(key)
        if cached is not None and cached.value == value:
            del self._tokens[key]
