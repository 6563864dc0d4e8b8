"""`msg5g serve | worker | migrate | seed-demo | send | dev | operator-key`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Coroutine
from typing import Annotated, Any

import typer
import uvloop

from msg5g.config import Settings, get_settings
from msg5g.kit.logging import configure_logging
from msg5g.platform import Platform
from msg5g.services.demo import seed_demo

app = typer.Typer(help="msg5g: a multi-tenant 5G Messaging platform.", no_args_is_help=True)


def run_fast(main: Coroutine[Any, Any, None]) -> None:
    """Long-running commands use uvloop: about twice the HTTP throughput of asyncio's own loop."""
    uvloop.run(main)


def _settings(host: str | None = None, port: int | None = None) -> Settings:
    settings = get_settings()
    updates = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    return settings.model_copy(update=updates) if updates else settings


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on")] = None,
    workers: Annotated[bool, typer.Option(help="Run the queue workers in this process too")] = True,
) -> None:
    """Serve the API, carrier webhooks and admin (and, by default, the workers)."""
    settings = _settings(host, port).model_copy(update={"run_workers": workers})
    configure_logging(settings.log_level)
    run_fast(Platform(settings).serve())


@app.command()
def worker() -> None:
    """Run only the queue workers (start several, on several machines, to share the work)."""
    settings = get_settings()
    configure_logging(settings.log_level)

    async def main() -> None:
        platform = Platform(settings)
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, platform.request_stop)
        await platform.run_workers_until_stopped()

    run_fast(main())


@app.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = get_settings()
    asyncio.run(Platform(settings).migrate())
    typer.echo(f"migrated {settings.resolved_database_url()}")


@app.command("seed-demo")
def seed_demo_command(
    simulator_url: Annotated[str, typer.Option(help="Base URL of the China Mobile simulator")] = "http://127.0.0.1:9101",
) -> None:
    """Create the demo tenant (idempotent) and print its credentials as JSON."""
    settings = get_settings()

    async def main() -> None:
        platform = Platform(settings)
        await platform.start(workers=False)
        try:
            account = await seed_demo(platform.services, simulator_url=simulator_url,
                                      state_file=settings.data_dir / "demo.json")
        finally:
            await platform.stop()
        typer.echo(json.dumps(account.__dict__, indent=2))

    asyncio.run(main())


@app.command()
def send(
    to: Annotated[list[str], typer.Option("--to", help="Recipient; repeat for several")],
    text: Annotated[str, typer.Option(help="Text to send")],
    chatbot: Annotated[str | None, typer.Option(help="Chatbot id (default: the demo chatbot)")] = None,
    api_key: Annotated[str | None, typer.Option(envvar="MSG5G_API_KEY", help="API key (default: the demo key)")] = None,
    api_url: Annotated[str, typer.Option(help="Gateway base URL")] = "http://127.0.0.1:8000",
) -> None:
    """Send a text message through a running platform."""
    settings = get_settings()
    demo_file = settings.data_dir / "demo.json"
    if (chatbot is None or api_key is None) and demo_file.exists():
        demo = json.loads(demo_file.read_text())
        chatbot = chatbot or demo["chatbot_id"]
        api_key = api_key or demo["api_key"]
    if chatbot is None or api_key is None:
        raise typer.BadParameter("give --chatbot and --api-key (or run `make run` once to seed the demo)")
    body = json.dumps({"chatbot_id": chatbot, "recipients": to, "content": {"kind": "text", "text": text}}).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own gateway
        f"{api_url.rstrip('/')}/v1/messages", data=body, method="POST",
        headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            typer.echo(response.read().decode())
    except urllib.error.HTTPError as exc:
        typer.echo(exc.read().decode(), err=True)
        raise typer.Exit(1) from exc


@app.command()
def dev(
    port: Annotated[int, typer.Option(help="Platform port")] = 8000,
    simulator_port: Annotated[int, typer.Option(help="China Mobile simulator port")] = 9101,
) -> None:
    """What `make run` does: migrate, start the simulator, seed the demo, print how to use it, serve."""
    settings = _settings("127.0.0.1", port)
    configure_logging(settings.log_level)
    simulator_url = f"http://127.0.0.1:{simulator_port}"
    demo_file = settings.data_dir / "demo.json"
    asyncio.run(Platform(settings).migrate())

    async def seed() -> dict[str, str]:
        platform = Platform(settings)
        await platform.start(migrate=False, workers=False)
        try:
            account = await seed_demo(platform.services, simulator_url=simulator_url, state_file=demo_file)
        finally:
            await platform.stop()
        return dict(account.__dict__)

    demo = asyncio.run(seed())
    notify_url = f"{settings.resolved_public_base_url()}/webhooks/cmcc/{demo['channel_id']}"
    chatbot_arg = f"{demo['carrier_chatbot_id']}:{demo['carrier_app_id']}:{demo['carrier_password']}:{notify_url}"
    simulator = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "msg5g.simulators.cmcc", "--host", "127.0.0.1", "--port", str(simulator_port),
         "--chatbot", chatbot_arg],
        env={**os.environ},
    )
    try:
        _wait_for(f"{simulator_url}/_sim/healthz")
        _print_banner(settings, demo, simulator_url)
        run_fast(Platform(settings).serve())
    finally:
        simulator.terminate()
        simulator.wait(timeout=10)


@app.command("operator-key")
def operator_key_command(name: Annotated[str, typer.Argument(help="Who or what the key is for")]) -> None:
    """Create a platform operator key (for /v1/platform); it is shown this once."""
    settings = get_settings()

    async def create() -> str:
        platform = Platform(settings)
        await platform.start(workers=False)
        try:
            _, key = await platform.services.operator_keys.create(name)
        finally:
            await platform.stop()
        return key

    typer.echo(asyncio.run(create()))


def _wait_for(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback health check
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _print_banner(settings: Settings, demo: dict[str, str], simulator_url: str) -> None:
    base = settings.resolved_public_base_url()
    curl = (
        f"curl -s -X POST {base}/v1/messages -H 'Authorization: Bearer {demo['api_key']}' "
        f"-H 'Content-Type: application/json' -d '{{\"chatbot_id\": \"{demo['chatbot_id']}\", "
        f"\"recipients\": [\"13800138000\"], \"content\": {{\"kind\": \"text\", \"text\": \"你好, msg5g\"}}}}'"
    )
    lines = [
        "",
        "msg5g is running",
        f"  API base URL     {base}/v1        (docs: {base}/docs, OpenAPI: {base}/openapi.json)",
        f"  Admin            {base}/admin     login {demo['admin_email']} / {demo['admin_password']}",
        f"  API key (demo)   {demo['api_key']}",
        f"  Operator key     {demo.get('operator_key') or '(msg5g operator-key create)'}   (/v1/platform: channels)",
        f"  Chatbot id       {demo['chatbot_id']}",
        f"  Simulator        {simulator_url}/_sim/   (China Mobile MaaP + simulated handsets)",
        "",
        "Send a message:",
        f"  {curl}",
        "",
        f"Then: curl -s {base}/v1/messages/<id> -H 'Authorization: Bearer {demo['api_key']}'",
        "",
    ]
    print("\n".join(lines), flush=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
