"""The cost of capacity caps on the send path: the end-to-end bench (bench/end_to_end.py, China Mobile
simulator) without caps and with them, alternately, on fresh stacks.

With caps the demo tenant has a price plan (text 5 fen on CMCC, SMS 3 fen), a daily message cap on its
business and a monthly cost cap on the tenant, both far above what the run sends: every message then
reserves on two ledger rows at accept, is charged once when it reaches the carrier and settles its
reservation, which is the work measured. Prints each round and the medians; the ratio is what to read on
a noisy machine.

`python -m bench.capacity --configure` is the step that sets the caps (run in the stack's environment,
before the platform starts).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys

from bench.common import load_average, median
from bench.end_to_end import RunResult, run, stop_on_sigterm


async def configure() -> None:
    from msg5g.config import get_settings
    from msg5g.domain.capacity import CapSpec, PriceSpec
    from msg5g.platform import Platform

    settings = get_settings()
    demo = json.loads((settings.data_dir / "demo.json").read_text())
    platform = Platform(settings)
    await platform.start(migrate=False, workers=False)
    try:
        capacity = platform.services.capacity
        await capacity.set_prices(demo["tenant_id"], [
            PriceSpec(content_kind="text", channel_type="cmcc", price_fen=5),
            PriceSpec(content_kind="sms", price_fen=3)])
        await capacity.add_cap(demo["tenant_id"], CapSpec(scope="business", scope_id=demo["business_id"],
                                                          metric="count", period="day", limit=10**9))
        await capacity.add_cap(demo["tenant_id"], CapSpec(scope="tenant", metric="cost", period="month",
                                                          limit=10**12))
    finally:
        await platform.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipients", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--configure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.configure:
        asyncio.run(configure())
        return
    stop_on_sigterm()
    print(f"start: {load_average()}")
    results: dict[str, list[RunResult]] = {"without caps": [], "with caps": []}
    for round_number in range(1, args.rounds + 1):
        for label, prepare in (("without caps", None),
                               ("with caps", [sys.executable, "-m", "bench.capacity", "--configure"])):
            result = run("cmcc", args.recipients, prepare=prepare)
            results[label].append(result)
            print(f"round {round_number} {label:<13} accepted {result.accept_rate:>7,.0f}/s  delivered "
                  f"{result.delivered_rate or 0:>6,.0f}/s  median 1-s {result.median_second_rate or 0:>6,.0f}/s  "
                  f"platform CPU/1k {result.cpu_per_thousand()[0]:.2f}s  others {result.others_cores:.2f} cores")
    medians = {label: (median([r.accept_rate for r in runs]), median([r.delivered_rate or 0 for r in runs]),
                       median([r.cpu_per_thousand()[0] for r in runs])) for label, runs in results.items()}
    base, capped = medians["without caps"], medians["with caps"]
    print(f"medians over {args.rounds} rounds of {args.recipients:,} recipients:")
    for label, (accepted, delivered, cpu) in medians.items():
        print(f"  {label:<13} accepted {accepted:>7,.0f}/s  delivered {delivered:>6,.0f}/s  platform CPU/1k {cpu:.2f}s")
    print(f"  with caps / without: accepted {capped[0] / base[0]:.2f}x, delivered {capped[1] / base[1]:.2f}x, "
          f"platform CPU per message {capped[2] / base[2]:.2f}x")
    print(f"  {load_average()}")


if __name__ == "__main__":
    main()
