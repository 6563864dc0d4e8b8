"""Accept latency of single-recipient requests at a fixed offered rate (open loop), workers on."""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from bench.common import load_average, percentile, start_stack


async def run(base_url: str, api_key: str, chatbot_id: str, rate: float, seconds: float,
              warmup_seconds: float = 2.0) -> tuple[list[float], int]:
    """Offers `rate` requests/s for warmup + `seconds`; only the requests after the warm-up count
    (the warm-up opens the client's connections and fills the server's caches)."""
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {api_key}"}
    connector = aiohttp.TCPConnector(limit=256)

    async with aiohttp.ClientSession(connector=connector) as http:
        async def one(index: int, counted: bool) -> None:
            nonlocal errors
            body = {"chatbot_id": chatbot_id, "recipients": [f"+86139{index:08d}"],
                    "content": {"kind": "text", "text": "验证码 123456"}}
            started = time.perf_counter()
            async with http.post(f"{base_url}/v1/messages", json=body, headers=headers) as response:
                await response.read()
                if response.status != 202:
                    errors += counted
                    return
            if counted:
                latencies.append(time.perf_counter() - started)

        tasks = []
        warmup = int(rate * warmup_seconds)
        total = warmup + int(rate * seconds)
        begin = time.perf_counter()
        for index in range(total):
            delay = begin + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(index, index >= warmup)))
        await asyncio.gather(*tasks)
    return latencies, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--no-workers", action="store_true", help="accept only; nothing is sent meanwhile")
    args = parser.parse_args()
    stack = start_stack(workers=not args.no_workers)
    try:
        latencies, errors = asyncio.run(run(stack.base_url, stack.api_key, stack.chatbot_id, args.rate, args.seconds))
    finally:
        stack.stop()
    ms = [v * 1000 for v in latencies]
    sending = "nothing sent meanwhile" if args.no_workers else "workers sending meanwhile"
    print(f"single-recipient accept at {args.rate:.0f} requests/s for {args.seconds:.0f}s after a 2 s warm-up"
          f" ({sending})")
    print(f"  {len(ms)} accepted, {errors} errors; p50 {percentile(ms, 0.5):.1f} ms, p99 {percentile(ms, 0.99):.1f} ms,"
          f" max {max(ms):.1f} ms")
    print(f"  {load_average()}")


if __name__ == "__main__":
    main()
