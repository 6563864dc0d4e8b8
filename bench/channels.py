"""The end-to-end benchmark through every channel type, then through a mix of all five, as one table.

Each run is `bench.end_to_end.run` on a fresh stack (platform, database and simulator), the types one
after the other so only one run loads the machine at a time; with `--rounds` above 1 the types are
interleaved round by round (cmcc, ctcc, ..., mix, cmcc, ...) so slow spells of a shared machine fall
on every type, and the table shows each figure's median over the rounds. See bench/end_to_end.py
and docs/benchmarks.md for what each figure measures.
"""

from __future__ import annotations

import argparse
import traceback

from bench.common import load_average, median
from bench.end_to_end import CHANNEL_CHOICES, RunResult, run, stop_on_sigterm


def _median_of(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return median(known) if known and len(known) == len(values) else None


def _figure(value: float | None, spec: str = ",.0f") -> str:
    return "-" if value is None else format(value, spec)


def table(results: dict[str, list[RunResult]], recipients: int) -> list[str]:
    header = ("channel", "recipients", "accepted/s", "delivered/s", "median 1-s", "last delivered",
              "vs cmcc", "vs cmcc 1-s", "platform CPU/1k", "others' cores", "load 1m start-end")
    rows: list[tuple[str, ...]] = []
    cmcc = results.get("cmcc", [])
    cmcc_rate = _median_of([r.delivered_rate for r in cmcc]) if cmcc else None
    cmcc_second = _median_of([r.median_second_rate for r in cmcc]) if cmcc else None
    for channel, runs in results.items():
        if not runs:
            rows.append((channel, str(recipients), *(["failed"] + ["-"] * 8)))
            continue
        rate = _median_of([r.delivered_rate for r in runs])
        second = _median_of([r.median_second_rate for r in runs])
        last = _median_of([r.delivered_at for r in runs])
        failed = sum(r.failed for r in runs)
        loads = f"{median([r.load_start[0] for r in runs]):.2f}-{median([r.load_end[0] for r in runs]):.2f}"
        rows.append((
            channel, str(recipients),
            _figure(median([r.accept_rate for r in runs])),
            _figure(rate),
            _figure(second),
            "not all" if last is None else f"{last:.1f}s" + (f" ({failed} failed)" if failed else ""),
            "-" if rate is None or not cmcc_rate else f"{rate / cmcc_rate:.2f}",
            "-" if second is None or not cmcc_second else f"{second / cmcc_second:.2f}",
            f"{median([r.cpu_per_thousand()[0] for r in runs]):.2f}s",
            f"{median([r.others_cores for r in runs]):.2f}",
            loads,
        ))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths,
                                                                                                    strict=True)))
             for row in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return lines


def mix_lines(runs: list[RunResult]) -> list[str]:
    if not runs:
        return []
    lines = ["the mix by type (median over rounds; each type's share sent concurrently with the others):"]
    for channel_type in runs[0].by_type:
        progress = [r.by_type[channel_type] for r in runs]
        last = _median_of([p.delivered_at for p in progress])
        lines.append(f"  {channel_type:<10} {progress[0].recipients:>7} recipients, last delivered at "
                     f"{_figure(last, '.1f')}s")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=20_000, help="per run; the mix splits them over 5 types")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--channels", nargs="+", choices=CHANNEL_CHOICES, default=list(CHANNEL_CHOICES))
    parser.add_argument("--timeout", type=float, default=600, help="per run")
    args = parser.parse_args()
    stop_on_sigterm()
    start_load = load_average()
    print(f"start: {start_load}")
    results: dict[str, list[RunResult]] = {channel: [] for channel in args.channels}
    for round_number in range(1, args.rounds + 1):
        for channel in args.channels:
            print(f"round {round_number}/{args.rounds}: {channel}, {args.recipients} recipients", flush=True)
            try:
                result = run(channel, args.recipients, args.timeout)
            except Exception:
                traceback.print_exc()
                continue
            if result.delivered_at is None:
                print(f"  not all delivered: {result.delivered} delivered, {result.failed} failed")
            else:
                print(f"  last delivered after {result.delivered_at:.1f}s, {result.delivered_rate:,.0f} delivered/s",
                      flush=True)
            if result.stray_attempts:
                print(f"  WARNING: {result.stray_attempts} delivery attempts went through another channel")
            results[channel].append(result)
    print()
    print(f"end to end per channel type, {args.recipients} recipients per run, {args.rounds} round(s), "
          "embedded SQLite, platform and simulators in separate processes")
    print("delivered/s = recipients / time from the first accept to the last delivered (or displayed) status "
          "stored; median 1-s = median deliveries per second while delivering; vs cmcc = ratio to cmcc's;")
    print("platform CPU/1k = the platform process's CPU seconds per 1,000 messages; others' cores = cores kept busy "
          "by processes outside the bench meanwhile (a shared machine's noise)")
    for line in table(results, args.recipients):
        print(line)
    if args.rounds > 1:
        for channel, runs in results.items():
            print(f"  {channel} delivered/s per round: {', '.join(_figure(r.delivered_rate) for r in runs)}")
    print()
    for line in mix_lines(results.get("mix", [])):
        print(line)
    print(f"start: {start_load}")
    print(f"end:   {load_average()}")


if __name__ == "__main__":
    main()
