"""End to end: accept -> sent -> delivered status stored, through the simulator on loopback.

The simulator sends both a delivery and a displayed notification for every message; no business
callback is configured. Delivered/s counts from the first accept to the moment the last message's
delivered (or displayed) status is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import time

from bench.accept import accept_round
from bench.common import load_average, start_stack


def count_delivered(database: str) -> tuple[int, int]:
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        rows = dict(connection.execute(
            "SELECT status, count(*) FROM messages GROUP BY status").fetchall())
    finally:
        connection.close()
    return rows.get("delivered", 0) + rows.get("displayed", 0), rows.get("displayed", 0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    stack = start_stack(workers=True)
    try:
        started = time.perf_counter()
        accept_rate = asyncio.run(accept_round(stack.base_url, stack.api_key, stack.chatbot_id, args.recipients,
                                               0, 2))
        accepted_at = time.perf_counter()
        delivered = displayed = 0
        delivered_at = None
        while time.perf_counter() - started < args.timeout:
            delivered, displayed = count_delivered(str(stack.database_path))
            if delivered >= args.recipients and delivered_at is None:
                delivered_at = time.perf_counter()
            if displayed >= args.recipients:
                break
            time.sleep(0.25)
        finished = time.perf_counter()
    finally:
        stack.stop()
    print(f"end to end, {args.recipients} recipients, embedded SQLite, platform and simulator in separate processes")
    print(f"  accepted in {accepted_at - started:.1f}s ({accept_rate:,.0f} recipients/s while sending)")
    if delivered_at is None:
        print(f"  NOT all delivered within {args.timeout:.0f}s: {delivered} delivered, {displayed} displayed")
    else:
        print(f"  all delivered after {delivered_at - started:.1f}s: {args.recipients / (delivered_at - started):,.0f}"
              f" delivered messages/s")
        print(f"  all displayed after {finished - started:.1f}s: {displayed / (finished - started):,.0f} displayed/s")
    print(f"  {load_average()}")


if __name__ == "__main__":
    main()
