"""Bulk accept: recipients/s through POST /v1/messages in 1,000-recipient requests (no workers)."""

from __future__ import annotations

import argparse
import asyncio
import time

import aiohttp

from bench.common import load_average, median, start_stack


async def accept_round(base_url: str, api_key: str, chatbot_id: str, recipients: int, offset: int,
                       concurrency: int) -> float:
    numbers = [f"+86138{(offset + i) % 100_000_000:08d}" for i in range(recipients)]
    batches = [numbers[i:i + 1000] for i in range(0, len(numbers), 1000)]
    headers = {"Authorization": f"Bearer {api_key}"}
    queue: asyncio.Queue[list[str]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def client(http: aiohttp.ClientSession) -> None:
        while not queue.empty():
            batch = queue.get_nowait()
            body = {"chatbot_id": chatbot_id, "recipients": batch, "content": {"kind": "text", "text": "账单提醒"}}
            async with http.post(f"{base_url}/v1/messages", json=body, headers=headers) as response:
                if response.status != 202:
                    raise RuntimeError(f"{response.status}: {await response.text()}")
                await response.read()

    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(concurrency)))
        return recipients / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    stack = start_stack(workers=False)
    try:
        rates = [asyncio.run(accept_round(stack.base_url, stack.api_key, stack.chatbot_id, args.recipients,
                                          r * args.recipients, args.concurrency)) for r in range(args.rounds)]
    finally:
        stack.stop()
    print(f"bulk accept, {args.recipients} recipients per round in 1,000-recipient requests, "
          f"{args.concurrency} concurrent clients, embedded SQLite, workers off")
    print(f"  recipients/s per round: {', '.join(f'{r:,.0f}' for r in rates)}; median {median(rates):,.0f}")
    print(f"  {load_average()}")


if __name__ == "__main__":
    main()
