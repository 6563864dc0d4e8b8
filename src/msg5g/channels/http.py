"""The one outbound HTTP client session per process.

aiohttp rather than httpx: measured on this machine at concurrency 64, aiohttp's client does about
13,000 requests/s where httpx 0.28's async client does about 320 with p99 above a second; the
carrier calls and business callbacks would be capped by the client otherwise.
"""

from __future__ import annotations

import aiohttp


def make_http_session(connection_limit: int = 256, timeout_seconds: float = 30.0) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=connection_limit, limit_per_host=connection_limit, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        # Carriers answer errors with bodies we must read; we interpret statuses ourselves.
        raise_for_status=False,
        auto_decompress=True,
    )
