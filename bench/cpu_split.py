"""Where the CPU goes end to end: seconds of CPU per 1,000 messages in the platform and the simulator."""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import time

from bench.accept import accept_round
from bench.common import load_average, start_stack


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--worker-processes", type=int, default=0,
                        help="send from separate `msg5g worker` processes instead of the server process")
    args = parser.parse_args()
    stack = start_stack(workers=args.worker_processes == 0, worker_processes=args.worker_processes)
    simulator, platform = stack.processes[:2]
    try:
        before = cpu_seconds(platform.pid), cpu_seconds(simulator.pid)
        started = time.perf_counter()
        asyncio.run(accept_round(stack.base_url, stack.api_key, stack.chatbot_id, args.recipients, 0, 2))
        while True:
            connection = sqlite3.connect(f"file:{stack.database_path}?mode=ro", uri=True, timeout=30)
            displayed = connection.execute("SELECT count(*) FROM messages WHERE status='displayed'").fetchone()[0]
            connection.close()
            if displayed >= args.recipients:
                break
            time.sleep(0.25)
        elapsed = time.perf_counter() - started
        after = cpu_seconds(platform.pid), cpu_seconds(simulator.pid)
    finally:
        stack.stop()
    per_k = [(a - b) / args.recipients * 1000 for a, b in zip(after, before, strict=True)]
    print(f"{args.recipients} messages accepted -> displayed in {elapsed:.1f}s")
    print(f"  CPU per 1,000 messages: platform {per_k[0]:.2f}s, simulator {per_k[1]:.2f}s")
    print(f"  {load_average()}")


if __name__ == "__main__":
    main()
