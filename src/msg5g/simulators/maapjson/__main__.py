"""`python -m msg5g.simulators.maapjson`: run the CTCC / CUCC MaaP simulator with uvicorn."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import uvicorn

from .app import create_app
from .constants import DIALECTS
from .settings import ChatbotAccount, ConfigError, SimulatorSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m msg5g.simulators.maapjson",
        description="China Telecom / China Unicom MaaP chatbot API (JSON) simulator",
    )
    parser.add_argument("--dialect", choices=DIALECTS, help="carrier to play (default ctcc, or the config's)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9102)
    parser.add_argument("--config", help="JSON settings file (SimulatorSettings fields)")
    parser.add_argument(
        "--chatbot",
        action="append",
        default=[],
        metavar="ID:APPID:APPKEY:TOKEN:URL",
        help="chatbot account; repeatable; TOKEN signs notifications, URL is the CSP callback root",
    )
    parser.add_argument("--path-prefix", help="server root in front of /bot/v1/...")
    parser.add_argument("--public-url", help="`url` to put in token answers")
    parser.add_argument("--token-ttl", type=int, help="token lifetime in seconds (default 7200)")
    parser.add_argument("--delivered-delay-ms", type=float)
    parser.add_argument("--displayed-delay-ms", type=float)
    parser.add_argument("--seed", type=int, help="random seed for error_rate faults")
    parser.add_argument("--log-level", default="warning")
    return parser


def build_settings(args: argparse.Namespace) -> SimulatorSettings:
    settings = SimulatorSettings.from_json_file(args.config) if args.config else SimulatorSettings()
    settings.chatbots.extend(ChatbotAccount.from_flag(flag) for flag in args.chatbot)
    if args.dialect is not None:
        settings.dialect = args.dialect
    if args.path_prefix is not None:
        settings.path_prefix = args.path_prefix
    if args.public_url is not None:
        settings.public_url = args.public_url
    if args.token_ttl is not None:
        settings.token_ttl_seconds = args.token_ttl
    delays = {}
    if args.delivered_delay_ms is not None:
        delays["delivered_delay_ms"] = args.delivered_delay_ms
    if args.displayed_delay_ms is not None:
        delays["displayed_delay_ms"] = args.displayed_delay_ms
    settings.faults = settings.faults.updated(delays)
    if args.seed is not None:
        settings.random_seed = args.seed
    # Re-run the checks: flags may have changed validated fields.
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
    # No access log, no websockets, no proxy-header rewriting: the chatbot API path must stay lean.
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
