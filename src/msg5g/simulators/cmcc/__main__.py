"""`python -m msg5g.simulators.cmcc`: run the CMCC MaaP simulator with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import uvicorn

from .app import create_app
from .settings import ChatbotAccount, ConfigError, SimulatorSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m msg5g.simulators.cmcc", description="China Mobile MaaP chatbot API simulator"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9101)
    parser.add_argument("--config", help="JSON settings file (SimulatorSettings fields)")
    parser.add_argument(
        "--chatbot",
        action="append",
        default=[],
        metavar="ID:APPID:PASSWORD:URL",
        help="chatbot account; repeatable; URL is the CSP notify root",
    )
    parser.add_argument(
        "--strict-schema",
        action="store_true",
        default=None,
        help="validate rich content like a schema validator (no numeric strings)",
    )
    parser.add_argument("--path-prefix", help="server root in front of /messaging/...")
    parser.add_argument("--date-skew", type=float, help="allowed Date skew in seconds")
    parser.add_argument("--delivered-delay-ms", type=float)
    parser.add_argument("--displayed-delay-ms", type=float)
    parser.add_argument("--seed", type=int, help="random seed for error_rate faults")
    parser.add_argument("--log-level", default="warning")
    return parser


def build_settings(args: argparse.Namespace) -> SimulatorSettings:
    settings = SimulatorSettings.from_json_file(args.config) if args.config else SimulatorSettings()
    settings.chatbots.extend(ChatbotAccount.from_flag(flag) for flag in args.chatbot)
    if args.strict_schema:
        settings.strict_schema = True
    if args.path_prefix is not None:
        settings.path_prefix = args.path_prefix
        settings.__post_init__()
    if args.date_skew is not None:
        settings.date_skew_seconds = args.date_skew
    delays = {}
    if args.delivered_delay_ms is not None:
        delays["delivered_delay_ms"] = args.delivered_delay_ms
    if args.displayed_delay_ms is not None:
        delays["displayed_delay_ms"] = args.displayed_delay_ms
    settings.faults = settings.faults.updated(delays)
    if args.seed is not None:
        settings.random_seed = args.seed
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = build_settings(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - CLI error output
        return 2
    logging.basicConfig(level=args.log_level.upper())
    # No access log, no websockets, no proxy-header rewriting: the downlink path must stay lean.
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
