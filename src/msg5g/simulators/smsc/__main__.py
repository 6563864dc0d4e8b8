"""`python -m msg5g.simulators.smsc`: the SMPP listener and the HTTP control API in one process."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Generator, Sequence

import uvicorn
import uvloop

from .app import create_control_app
from .server import SmscSimulator
from .settings import ConfigError, SmscAccount, SmscSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m msg5g.simulators.smsc", description="SMPP 3.4 SMSC simulator")
    parser.add_argument("--host", default="127.0.0.1", help="address for both listeners")
    parser.add_argument("--smpp-port", type=int, default=2775)
    parser.add_argument("--http-port", type=int, default=9105, help="control API port (/_sim/...)")
    parser.add_argument("--config", help="JSON settings file (SmscSettings fields)")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="SYSTEM_ID:PASSWORD[:SERVICE,NUMBERS]",
        help="ESME account; repeatable; service numbers are the MO address prefixes it owns",
    )
    parser.add_argument("--dlr-delay-ms", type=float, help="time from submit_sm to its receipt")
    parser.add_argument("--deliver-timeout-ms", type=float, help="resend a deliver_sm unacknowledged this long")
    parser.add_argument("--seed", type=int, help="random seed for the error_rate fault")
    parser.add_argument("--log-level", default="warning")
    return parser


def build_settings(args: argparse.Namespace) -> SmscSettings:
    settings = SmscSettings.from_json_file(args.config) if args.config else SmscSettings()
    settings.accounts.extend(SmscAccount.from_flag(flag) for flag in args.account)
    if args.dlr_delay_ms is not None:
        settings.faults = settings.faults.updated({"dlr_delay_ms": args.dlr_delay_ms})
    if args.deliver_timeout_ms is not None:
        settings.deliver_timeout_ms = args.deliver_timeout_ms
    if args.seed is not None:
        settings.random_seed = args.seed
    settings.__post_init__()  # re-check what the flags changed (duplicate system_ids, ...)
    return settings


class _ControlServer(uvicorn.Server):
    """uvicorn.Server that leaves signals to `serve` below.

    The stock one re-raises the captured signal once it has stopped, which would cancel the main
    task before the SMPP listener is closed.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(settings: SmscSettings, host: str, smpp_port: int, http_port: int, log_level: str) -> None:
    simulator = SmscSimulator(settings)
    port = await simulator.start(host, smpp_port)
    config = uvicorn.Config(
        create_control_app(simulator),
        host=host,
        port=http_port,
        log_level=log_level,
        access_log=False,
        ws="none",
        lifespan="off",
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=3,
    )
    server = _ControlServer(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.handle_exit, sig, None)
    print(f"SMSC simulator: SMPP on {host}:{port}, control API on http://{host}:{http_port}/_sim/", flush=True)  # noqa: T201
    try:
        await server.serve()
    finally:
        await simulator.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = build_settings(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - CLI error output
        return 2
    logging.basicConfig(level=args.log_level.upper())
    try:
        uvloop.run(serve(settings, args.host, args.smpp_port, args.http_port, args.log_level))
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201 - CLI error output
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
