"""`python -m msg5g.simulators.aggregator`: run the aggregator simulator with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import uvicorn

from .app import create_app
from .settings import Account, ConfigError, SimulatorSettings, parse_chatbot_flag


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m msg5g.simulators.aggregator", description="Third-party 5G message aggregator simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9104)
    parser.add_argument("--config", help="JSON settings file (SimulatorSettings fields)")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="APPID:APPKEY:PUSH_URL",
        help="customer account; repeatable; every push of the appid goes to PUSH_URL",
    )
    parser.add_argument(
        "--chatbot", action="append", default=[], metavar="CHATBOT_ID:APPID", help="chatbot of an account; repeatable"
    )
    parser.add_argument("--path-prefix", help="base path in front of /rcs/...")
    parser.add_argument("--timestamp-skew", type=float, help="allowed X-Timestamp skew in seconds")
    parser.add_argument("--delivered-delay-ms", type=float)
    parser.add_argument("--displayed-delay-ms", type=float)
    parser.add_argument("--tps-limit", type=int, help="/rcs/send requests per second and appid (0: unlimited)")
    parser.add_argument("--seed", type=int, help="random seed for error_rate faults")
    parser.add_argument("--audit-delay-seconds", type=float, help="upload/submission -> Media/Template event")
    parser.add_argument("--media-ttl-seconds", type=float, help="validity of an upload (the event's `expired`)")
    parser.add_argument("--media-max-bytes", type=int, help="largest file or thumbnail part of an upload")
    parser.add_argument("--log-level", default="warning")
    return parser


def build_settings(args: argparse.Namespace) -> SimulatorSettings:
    settings = SimulatorSettings.from_json_file(args.config) if args.config else SimulatorSettings()
    settings.accounts.extend(Account.from_flag(flag) for flag in args.account)
    settings.chatbots.update(parse_chatbot_flag(flag) for flag in args.chatbot)
    if args.path_prefix is not None:
        settings.path_prefix = args.path_prefix
    if args.timestamp_skew is not None:
        settings.timestamp_skew_seconds = args.timestamp_skew
    knobs: dict[str, float | int] = {}
    if args.delivered_delay_ms is not None:
        knobs["delivered_delay_ms"] = args.delivered_delay_ms
    if args.displayed_delay_ms is not None:
        knobs["displayed_delay_ms"] = args.displayed_delay_ms
    if args.tps_limit is not None:
        knobs["tps_limit"] = args.tps_limit
    settings.faults = settings.faults.updated(knobs)
    if args.seed is not None:
        settings.random_seed = args.seed
    if args.audit_delay_seconds is not None:
        settings.audit_delay_seconds = args.audit_delay_seconds
    if args.media_ttl_seconds is not None:
        settings.media_ttl_seconds = args.media_ttl_seconds
    if args.media_max_bytes is not None:
        settings.media_max_bytes = args.media_max_bytes
    # Re-run the checks: flags may have added chatbots of unknown appids, a bare prefix or a bad audit knob.
    settings.__post_init__()
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = build_settings(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - CLI error output
        return 2
    logging.basicConfig(level=args.log_level.upper())
    # No access log, no websockets, no proxy-header rewriting: the API path must stay lean.
    uvicorn.run(
        create_app(settings),
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        ws="none",
        server_header=False,
        lifespan="on",
        proxy_headers=False,
        # Hung requests (timeout_next fault) must not hold Ctrl+C for hang_seconds.
        timeout_graceful_shutdown=3,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
