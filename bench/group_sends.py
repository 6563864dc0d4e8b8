"""Group sends against one recipient per request: carrier-accepted recipients per second.

The same N recipients (1,000 per API request, identical content) through the China Mobile
simulator twice, once with group sends (up to 100 recipients per carrier request) and once with
MSG5G_GROUP_SENDS=false (one request per recipient). What is timed is accept -> every attempt
answered by the carrier (state past pending), read from the database; delivery reports still flow
but are not waited for.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import time

from bench.accept import accept_round
from bench.channel_stack import start_channel_stack
from bench.common import load_average


def answered(database: str) -> int:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        row = connection.execute("SELECT count(*) FROM delivery_attempts WHERE state != 'pending'").fetchone()
    finally:
        connection.close()
    return int(row[0])


def run(recipients: int, group_sends: bool, timeout: float) -> float:
    stack = start_channel_stack(["cmcc"], extra_env={"MSG5G_GROUP_SENDS": "true" if group_sends else "false"})
    try:
        started = time.perf_counter()
        asyncio.run(accept_round(stack.base_url, stack.api_key, stack.chatbots["cmcc"], recipients, 0, 2))
        while answered(str(stack.database_path)) < recipients:
            if time.perf_counter() - started > timeout:
                raise SystemExit(f"not every recipient was answered within {timeout:.0f} s")
            time.sleep(0.1)
        return recipients / (time.perf_counter() - started)
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    print(f"load average at start: {load_average()}")
    single = run(args.recipients, False, args.timeout)
    grouped = run(args.recipients, True, args.timeout)
    print(f"{args.recipients} recipients, carrier-accepted recipients/s")
    print(f"  one per request : {single:8.0f}")
    print(f"  group sends     : {grouped:8.0f}   ({grouped / single:.1f}x)")
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
