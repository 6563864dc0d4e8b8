"""End to end: accept -> sent -> delivered status stored, through a channel type's simulator on loopback.

`--channel` picks the simulator: cmcc (the default), ctcc, cucc, aggregator, smpp, or mix (the
recipients split evenly over all five types, one chatbot each, the types sent concurrently since a
request names one chatbot). The RCS simulators send a delivery and a displayed notification for
every message (the CTCC / CUCC one a sent notification too, as our adapter asks for it), the SMSC a
delivery receipt only (SMS has no displayed status); no business callback is configured.

Progress is read from the `messages` table of the platform's SQLite database every 0.25 s. The
figures, all timed from the first accept request:
  accepted/s      recipients / the time until the last 202 of the bulk requests (1,000 recipients
                  each, 2 concurrent clients per chatbot)
  delivered/s     recipients / time to last delivered (delivered or displayed stored)
  median 1-s rate the median of the delivered counts per whole second between the first and the
                  last delivery (the steady rate, without the ramp and the tail)
  CPU / 1k msgs   CPU seconds the platform (and the simulators together) used per 1,000 messages,
                  from the first accept to the last final status
  others' cores   CPU the rest of the machine used meanwhile (all busy time in /proc/stat less the
                  stack's and this driver's), in cores: the noise of a shared machine
Each run starts a fresh stack (bench/channel_stack.py) and removes its data directory afterwards
unless BENCH_KEEP_DATA is set or the run did not finish.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import time
from dataclasses import dataclass, field
from types import FrameType

from bench.accept import accept_round
from bench.channel_stack import start_channel_stack
from bench.common import load_average, machine_busy_seconds, median
from bench.cpu_split import cpu_seconds
from bench.profiles import CHANNEL_TYPES, PROFILES

CHANNEL_CHOICES = (*CHANNEL_TYPES, "mix")
POLL_SECONDS = 0.25
CLIENTS_PER_CHATBOT = 2


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


def attempts_by_channel(database: str) -> dict[str, int]:
    """channel id -> delivery attempts: which channels the messages actually went out through."""
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        rows = connection.execute("SELECT channel_id, count(*) FROM delivery_attempts GROUP BY channel_id")
        return {str(channel_id): int(count) for channel_id, count in rows.fetchall()}
    finally:
        connection.close()


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
    elapsed: float = 0.0  # seconds from the first accept to the end of the run
    # CPU seconds the machine spent busy outside the stack and this driver during the run: the other
    # engineers' work on a shared machine (the load average also counts the stack itself).
    others_cpu: float = 0.0
    # Delivery attempts through a channel other than the chatbots' own (routing, fallback): should be 0.
    stray_attempts: int = 0
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

    @property
    def others_cores(self) -> float:
        """Cores busy on average with processes outside the stack during the run."""
        return self.others_cpu / self.elapsed if self.elapsed else 0.0

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


def timeline(samples: list[tuple[float, int]]) -> list[float]:
    """Deliveries in each whole second from the first accept to the last poll."""
    end = samples[-1][0] if samples else 0.0
    return [_delivered_by(samples, s + 1.0) - _delivered_by(samples, float(s)) for s in range(int(end))]


def split(recipients: int, parts: int) -> list[int]:
    return [recipients // parts + (1 if i < recipients % parts else 0) for i in range(parts)]


async def send_all(base_url: str, api_key: str, shares: dict[str, tuple[str, int, int]]) -> float:
    """Sends every type's share concurrently; `shares` is type -> (chatbot id, recipients, number offset).
    Returns the recipients accepted per second over the whole."""
    started = time.perf_counter()
    await asyncio.gather(*(accept_round(base_url, api_key, chatbot_id, recipients, offset, CLIENTS_PER_CHATBOT)
                           for chatbot_id, recipients, offset in shares.values() if recipients))
    return sum(r for _, r, _ in shares.values()) / (time.perf_counter() - started)


def run(channel: str, recipients: int, timeout: float = 600, stall: float = 30,
        prepare: list[str] | None = None) -> RunResult:
    """One run on a fresh stack: accept `recipients`, wait for every final status, stop the stack.

    Gives up after `timeout` seconds, or when no message has changed status for `stall` seconds, or
    when a process of the stack has exited (the stack's data and logs are kept then)."""
    types = list(CHANNEL_TYPES) if channel == "mix" else [channel]
    stack = start_channel_stack(types, prepare=prepare)
    shares = dict(zip(types, split(recipients, len(types)), strict=True))
    by_type = {t: TypeProgress(shares[t], PROFILES[t].final_status) for t in types}
    type_of = {stack.chatbots[t]: t for t in types}
    load_start = _load()
    assert stack.platform is not None
    pids = stack.platform.pid, [p.pid for p in stack.simulators.values()]
    try:
        cpu_before = cpu_seconds(pids[0]), sum(cpu_seconds(p) for p in pids[1])
        busy_before, driver_before = machine_busy_seconds(), time.process_time()
        started = time.perf_counter()
        offsets = {t: i * recipients for i, t in enumerate(types)}
        accept_rate = asyncio.run(send_all(stack.base_url, stack.api_key,
                                           {t: (stack.chatbots[t], shares[t], offsets[t]) for t in types}))
        result = RunResult(channel, recipients, time.perf_counter() - started, accept_rate, by_type)
        last_counts: dict[str, dict[str, int]] = {}
        changed_at = 0.0
        while time.perf_counter() - started < timeout:
            counts = count_by_chatbot(str(stack.database_path))
            now = time.perf_counter() - started
            for chatbot_id, statuses in counts.items():
                if chatbot_id in type_of:
                    by_type[type_of[chatbot_id]].update(statuses, now)
            result.samples.append((now, result.delivered))
            if result.final_at is not None:
                break
            if counts != last_counts:
                last_counts, changed_at = counts, now
            elif now - changed_at > stall:
                print(f"  no message changed status for {stall:.0f}s: giving up on this run")
                break
            exited = [name for name, p in stack.processes().items() if p.poll() is not None]
            if exited:
                print(f"  {', '.join(exited)} exited during the run: giving up on it")
                break
            time.sleep(POLL_SECONDS)
        result.platform_cpu = cpu_seconds(pids[0]) - cpu_before[0]
        result.simulator_cpu = sum(cpu_seconds(p) for p in pids[1]) - cpu_before[1]
        result.elapsed = time.perf_counter() - started
        driver_cpu = time.process_time() - driver_before
        result.others_cpu = max(0.0, machine_busy_seconds() - busy_before - result.platform_cpu
                                - result.simulator_cpu - driver_cpu)
        result.load_start, result.load_end = load_start, _load()
        own_channels = set(stack.channels.values())
        result.stray_attempts = sum(count for channel_id, count in attempts_by_channel(str(stack.database_path)).items()
                                    if channel_id not in own_channels)
    except BaseException:
        stack.stop(keep_data=True)
        print(f"the run failed; the stack's data and logs are in {stack.data_dir}")
        raise
    keep = result.final_at is None or bool(os.environ.get("BENCH_KEEP_DATA"))
    stack.stop(keep_data=keep)
    if keep:
        print(f"  (data and logs kept in {stack.data_dir})")
    return result


def stop_on_sigterm() -> None:
    """SIGTERM (a `timeout`, a CI runner) unwinds like Ctrl+C, so the stack's processes are stopped."""
    def exit_now(signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_now)


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
            print(f"    {channel_type:<10} {progress.recipients:>7} recipients, last delivered at {at}"
                  f" ({progress.delivered_rate or 0:,.0f}/s for its share), {progress.failed} failed")
    if result.stray_attempts:
        print(f"  WARNING: {result.stray_attempts} delivery attempts went through other channels than the bench's")
    platform_k, simulator_k = result.cpu_per_thousand()
    print(f"  CPU per 1,000 messages: platform {platform_k:.2f}s, simulator{'s' if len(result.by_type) > 1 else ''}"
          f" {simulator_k:.2f}s; other processes kept {result.others_cores:.2f} cores busy meanwhile")
    print(f"  {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--channel", choices=CHANNEL_CHOICES, default="cmcc")
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--stall", type=float, default=30, help="give up when nothing progresses this long")
    parser.add_argument("--timeline", action="store_true", help="also print the deliveries of every second")
    args = parser.parse_args()
    stop_on_sigterm()
    print(f"start: {load_average()}")
    result = run(args.channel, args.recipients, args.timeout, args.stall)
    report(result)
    if args.timeline:
        print("  delivered per second: " + " ".join(f"{n:.0f}" for n in timeline(result.samples)))


if __name__ == "__main__":
    main()
