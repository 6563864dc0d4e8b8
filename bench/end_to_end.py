"""End to end: accept -> sent -> delivered status stored, through a channel type's simulator on loopback.

`--channel` picks the simulator: cmcc (the default), ctcc, cucc, aggregator, smpp, or mix (the
recipients split evenly over all five types, one chatbot each, the types sent concurrently since a
request names one chatbot). The RCS simulators send a delivery and a displayed notification for
every message, the SMSC a delivery receipt only (SMS has no displayed status); no business callback
is configured.

Progress is read from the `messages` table of the platform's SQLite database every 0.25 s. The
figures, all timed from the first accept request:
  accepted/s      recipients / the time until the last 202 of the bulk requests (1,000 recipients
                  each, 2 concurrent clients per chatbot)
  delivered/s     recipients / time to last delivered (delivered or displayed stored)
  median 1-s rate the median of the delivered counts per whole second between the first and the
                  last delivery (the steady rate, without the ramp and the tail)
  CPU / 1k msgs   CPU seconds the platform (and the simulators together) used per 1,000 messages
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import time
from dataclasses import dataclass, field

from bench.accept import accept_round
from bench.channel_stack import start_channel_stack
from bench.common import load_average, median
from bench.cpu_split import cpu_seconds
from bench.profiles import CHANNEL_TYPES, PROFILES

CHANNEL_CHOICES = (*CHANNEL_TYPES, "mix")
POLL_SECONDS = 0.25
CLIENTS_PER_CHATBOT = 2


def count_delivered(database: str) -> tuple[int, int]:
    """(delivered or displayed, displayed) over the whole messages table."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        rows = dict(connection.execute(
            "SELECT status, count(*) FROM messages GROUP BY status").fetchall())
    finally:
        connection.close()
    return rows.get("delivered", 0) + rows.get("displayed", 0), rows.get("displayed", 0)


def count_by_chatbot(database: str) -> dict[str, dict[str, int]]:
    """chatbot id -> status -> messages."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        rows = connection.execute("SELECT chatbot_id, status, count(*) FROM messages GROUP BY chatbot_id, status")
        counts: dict[str, dict[str, int]] = {}
        for chatbot_id, status, count in rows.fetchall():
            counts.setdefault(str(chatbot_id), {})[str(status)] = int(count)
    finally:
        connection.close()
    return counts


@dataclass
class TypeProgress:
    """One channel type's messages within a run."""

    recipients: int
    final_status: str
    delivered: int = 0  # delivered or displayed
    final: int = 0  # reached the type's last status (displayed; delivered for SMS)
    failed: int = 0  # failed or expired
    delivered_at: float | None = None  # seconds from the first accept
    final_at: float | None = None

    def update(self, statuses: dict[str, int], now: float) -> None:
        self.delivered = statuses.get("delivered", 0) + statuses.get("displayed", 0)
        self.final = statuses.get(self.final_status, 0)
        self.failed = statuses.get("failed", 0) + statuses.get("expired", 0)
        if self.delivered_at is None and self.delivered + self.failed >= self.recipients:
            self.delivered_at = now
        if self.final_at is None and self.final + self.failed >= self.recipients:
            self.final_at = now

    @property
    def delivered_rate(self) -> float | None:
        return None if not self.delivered_at else self.recipients / self.delivered_at


@dataclass
class RunResult:
    channel: str
    recipients: int
    accept_seconds: float
    accept_rate: float
    by_type: dict[str, TypeProgress]
    samples: list[tuple[float, int]] = field(default_factory=list)  # (seconds, delivered) per poll
    platform_cpu: float = 0.0  # CPU seconds during the run
    simulator_cpu: float = 0.0
    load_start: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_end: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @property
    def delivered(self) -> int:
        return sum(p.delivered for p in self.by_type.values())

    @property
    def failed(self) -> int:
        return sum(p.failed for p in self.by_type.values())

    @property
    def delivered_at(self) -> float | None:
        times = [p.delivered_at for p in self.by_type.values()]
        return None if any(t is None for t in times) else max(t for t in times if t is not None)

    @property
    def final_at(self) -> float | None:
        times = [p.final_at for p in self.by_type.values()]
        return None if any(t is None for t in times) else max(t for t in times if t is not None)

    @property
    def delivered_rate(self) -> float | None:
        at = self.delivered_at
        return None if not at else self.recipients / at

    @property
    def median_second_rate(self) -> float | None:
        """Median of the deliveries per whole second from the first delivery to the last."""
        end = self.delivered_at
        first = next((t for t, d in self.samples if d > 0), None)
        if end is None or first is None or end - first < 2.0:
            return self.delivered_rate
        counts: list[float] = []
        second = first
        while second + 1.0 <= end:
            counts.append(_delivered_by(self.samples, second + 1.0) - _delivered_by(self.samples, second))
            second += 1.0
        return median(counts)

    def cpu_per_thousand(self) -> tuple[float, float]:
        return self.platform_cpu / self.recipients * 1000, self.simulator_cpu / self.recipients * 1000


def _delivered_by(samples: list[tuple[float, int]], moment: float) -> float:
    """Deliveries counted by `moment`, linear between the two polls around it."""
    before = (0.0, 0)
    for at, delivered in samples:
        if at >= moment:
            span = at - before[0]
            share = (moment - before[0]) / span if span > 0 else 1.0
            return before[1] + share * (delivered - before[1])
        before = (at, delivered)
    return float(before[1])


def split(recipients: int, parts: int) -> list[int]:
    return [recipients // parts + (1 if i < recipients % parts else 0) for i in range(parts)]


async def send_all(base_url: str, api_key: str, shares: dict[str, tuple[str, int, int]]) -> float:
    """Sends every type's share concurrently; `shares` is type -> (chatbot id, recipients, number offset).
    Returns the recipients accepted per second over the whole."""
    started = time.perf_counter()
    await asyncio.gather(*(accept_round(base_url, api_key, chatbot_id, recipients, offset, CLIENTS_PER_CHATBOT)
                           for chatbot_id, recipients, offset in shares.values() if recipients))
    return sum(r for _, r, _ in shares.values()) / (time.perf_counter() - started)


def run(channel: str, recipients: int, timeout: float = 600) -> RunResult:
    """One run on a fresh stack: accept `recipients`, wait for every final status, stop the stack."""
    types = list(CHANNEL_TYPES) if channel == "mix" else [channel]
    stack = start_channel_stack(types)
    shares = dict(zip(types, split(recipients, len(types)), strict=True))
    by_type = {t: TypeProgress(shares[t], PROFILES[t].final_status) for t in types}
    type_of = {stack.chatbots[t]: t for t in types}
    load_start = _load()
    assert stack.platform is not None
    pids = stack.platform.pid, [p.pid for p in stack.simulators.values()]
    try:
        cpu_before = cpu_seconds(pids[0]), sum(cpu_seconds(p) for p in pids[1])
        started = time.perf_counter()
        offsets = {t: i * recipients for i, t in enumerate(types)}
        accept_rate = asyncio.run(send_all(stack.base_url, stack.api_key,
                                           {t: (stack.chatbots[t], shares[t], offsets[t]) for t in types}))
        result = RunResult(channel, recipients, time.perf_counter() - started, accept_rate, by_type)
        while time.perf_counter() - started < timeout:
            counts = count_by_chatbot(str(stack.database_path))
            now = time.perf_counter() - started
            for chatbot_id, statuses in counts.items():
                if chatbot_id in type_of:
                    by_type[type_of[chatbot_id]].update(statuses, now)
            result.samples.append((now, result.delivered))
            if result.final_at is not None:
                break
            time.sleep(POLL_SECONDS)
        result.platform_cpu = cpu_seconds(pids[0]) - cpu_before[0]
        result.simulator_cpu = sum(cpu_seconds(p) for p in pids[1]) - cpu_before[1]
        result.load_start, result.load_end = load_start, _load()
    except BaseException:
        stack.stop(keep_data=True)
        print(f"the run failed; the stack's data and logs are in {stack.data_dir}")
        raise
    stack.stop(keep_data=result.final_at is None)
    if result.final_at is None:
        print(f"  (not finished within {timeout:.0f}s: data and logs kept in {stack.data_dir})")
    return result


def _load() -> tuple[float, float, float]:
    return os.getloadavg()


def report(result: RunResult) -> None:
    print(f"end to end through {result.channel}, {result.recipients} recipients, embedded SQLite, "
          f"platform and simulator{'s' if len(result.by_type) > 1 else ''} in separate processes")
    print(f"  accepted in {result.accept_seconds:.1f}s ({result.accept_rate:,.0f} recipients/s while sending)")
    if result.delivered_at is None:
        print(f"  NOT all delivered: {result.delivered} delivered, {result.failed} failed")
    else:
        failed = f" ({result.failed} failed)" if result.failed else ""
        print(f"  all delivered after {result.delivered_at:.1f}s{failed}: {result.delivered_rate:,.0f} delivered"
              f" messages/s; median per second {result.median_second_rate or 0:,.0f}")
    if result.final_at is not None:
        finals = sum(p.final for p in result.by_type.values())
        print(f"  all at their final status after {result.final_at:.1f}s: {finals / result.final_at:,.0f}/s")
    if len(result.by_type) > 1:
        for channel_type, progress in result.by_type.items():
            at = "not all" if progress.delivered_at is None else f"{progress.delivered_at:.1f}s"
            print(f"    {channel_type:<10} {progress.recipients:>7} recipients, last delivered at {at},"
                  f" {progress.delivered_rate or 0:,.0f} delivered/s, {progress.failed} failed")
    platform_k, simulator_k = result.cpu_per_thousand()
    print(f"  CPU per 1,000 messages: platform {platform_k:.2f}s, simulator{'s' if len(result.by_type) > 1 else ''}"
          f" {simulator_k:.2f}s")
    print(f"  {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channel", choices=CHANNEL_CHOICES, default="cmcc")
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=600)
    args = parser.parse_args()
    print(f"start: {load_average()}")
    report(run(args.channel, args.recipients, args.timeout))


if __name__ == "__main__":
    main()
