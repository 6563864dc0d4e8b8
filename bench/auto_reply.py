"""Uplink-to-auto-reply latency: simulated handsets send "菜单" to the demo chatbot at a fixed offered rate
(open loop, each from a number of its own), the demo's menu rule answers each, and the latency of one is
from its uplink reaching our webhook (`inbound_messages.received_at`, stamped by the platform) to its
reply being accepted by the simulated carrier (the reply attempt's `sent_at`, when the carrier's answer
arrived). Then a step search for the knee: the offered rate where p99 passes one second.

Both stamps come from the platform's own clock, so the figure includes the queue hop to the uplink worker,
the rules, the reply's accept, the send queue and the carrier call; it excludes the simulator's own
notification delay before our webhook answers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import time
from datetime import datetime

import aiohttp

from bench.common import BenchStack, load_average, percentile, start_stack

NUMBER_BASE = 8613500000000


async def offer(stack: BenchStack, carrier_chatbot_id: str, rate: float, seconds: float, first: int) -> int:
    """Offers `rate` uplinks/s for `seconds` from numbers first, first + 1, ...; returns how many failed."""
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512)) as http:
        async def one(index: int) -> None:
            nonlocal errors
            number = f"+{NUMBER_BASE + index}"
            async with http.post(f"{stack.simulator_url}/_sim/handsets/{number}/uplink",
                                 json={"chatbot_id": carrier_chatbot_id, "text": "菜单"}) as response:
                answer = await response.json()
                if response.status != 200 or answer.get("status") not in {200, 204}:
                    errors += 1

        tasks = []
        total = int(rate * seconds)
        begin = time.perf_counter()
        for index in range(total):
            delay = begin + index / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(first + index)))
        await asyncio.gather(*tasks)
    return errors


def _stamp(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def latencies(database: str, first: int, count: int) -> tuple[list[float], int]:
    """(ms from uplink to reply accepted, for every uplink of the range answered), and how many have no
    accepted reply yet."""
    numbers = [f"+{NUMBER_BASE + i}" for i in range(first, first + count)]
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        found: list[float] = []
        for start in range(0, len(numbers), 500):
            part = numbers[start:start + 500]
            marks = ",".join("?" * len(part))
            rows = connection.execute(f"""
                SELECT i.received_at, a.sent_at FROM inbound_messages i
                LEFT JOIN submissions s ON s.client_message_id = 'auto-reply:' || i.id || ':0'
                LEFT JOIN messages m ON m.submission_id = s.id
                LEFT JOIN delivery_attempts a ON a.message_id = m.id
                WHERE i.sender IN ({marks})""", part).fetchall()
            found += [(_stamp(sent) - _stamp(received)) * 1000 for received, sent in rows if sent is not None]
    finally:
        connection.close()
    return found, count - len(found)


async def step(stack: BenchStack, carrier_chatbot_id: str, rate: float, seconds: float, first: int,
               ) -> tuple[list[float], int, int]:
    errors = await offer(stack, carrier_chatbot_id, rate, seconds, first)
    count = int(rate * seconds)
    deadline = time.monotonic() + 60
    while True:
        found, missing = latencies(str(stack.database_path), first, count)
        if not missing or time.monotonic() > deadline:
            return found, missing, errors
        await asyncio.sleep(0.5)


def line(rate: float, found: list[float], missing: int, errors: int) -> str:
    if not found:
        return f"{rate:6.0f}/s: no replies ({missing} missing, {errors} refused uplinks)"
    return (f"{rate:6.0f}/s: {len(found)} replies, p50 {percentile(found, 0.5):7.1f} ms, "
            f"p99 {percentile(found, 0.99):7.1f} ms, max {max(found):7.1f} ms"
            + (f", {missing} without a reply after 60 s" if missing else "")
            + (f", {errors} uplinks refused" if errors else ""))


async def bench(stack: BenchStack, rate: float, seconds: float, knee_from: float, knee_step: float,
                knee_until: float, knee_seconds: float) -> None:
    demo = json.loads((stack.data_dir / "demo.json").read_text())
    carrier = demo["carrier_chatbot_id"]
    first = 0
    await offer(stack, carrier, 50, 2, 900_000)  # warm-up: connections, caches, the rules' compiled texts
    found, missing, errors = await step(stack, carrier, rate, seconds, first)
    first += int(rate * seconds)
    print(f"uplink -> auto-reply accepted by the carrier, {seconds:.0f} s at the target rate:")
    print("  " + line(rate, found, missing, errors))
    print("knee search (p99 over 1 s ends it):")
    current = knee_from
    while current <= knee_until:
        found, missing, errors = await step(stack, carrier, current, knee_seconds, first)
        first += int(current * knee_seconds)
        print("  " + line(current, found, missing, errors))
        if not found or percentile(found, 0.99) > 1000 or missing:
            print(f"  knee: p99 passes one second at about {current:.0f} uplinks/s")
            break
        current += knee_step
    else:
        print(f"  no knee up to {knee_until:.0f} uplinks/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--knee-from", type=float, default=300)
    parser.add_argument("--knee-step", type=float, default=100)
    parser.add_argument("--knee-until", type=float, default=1500)
    parser.add_argument("--knee-seconds", type=float, default=5)
    args = parser.parse_args()
    print(f"start: {load_average()}")
    stack = start_stack()
    try:
        asyncio.run(bench(stack, args.rate, args.seconds, args.knee_from, args.knee_step, args.knee_until,
                          args.knee_seconds))
    finally:
        stack.stop()
    print(f"end: {load_average()}")


if __name__ == "__main__":
    main()
