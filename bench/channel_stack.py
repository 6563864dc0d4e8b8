"""The platform and one simulator per channel type, each a process of its own on loopback.

Like `bench.common.start_stack` (which the cmcc-only benches keep using): `msg5g migrate` and
`msg5g seed-demo` (the demo tenant, business, API key and its cmcc channel), then `bench.provision`
adds a channel and a chatbot for every other type asked for, then the simulators start, then
`msg5g serve` with its in-process workers, and last the simulators learn our webhooks: the CTCC /
CUCC MaaP registers its chatbot with a notifyPath handshake against the running gateway, the
aggregator gets its account's push URL, and the SMSC waits for the platform's bind.

The HTTP simulators get the cmcc bench's notification settings (BENCH_NOTIFY_WORKERS notifications
in flight, as many connections) and their default 50 ms delivered / displayed delays; the SMSC its
default 50 ms receipt delay.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from bench.common import free_port, wait_for
from bench.profiles import CHANNEL_TYPES, PROFILES

SMSC_ACCOUNT = (PROFILES["smpp"].channel_settings["system_id"], PROFILES["smpp"].channel_settings["password"])


@dataclass
class ChannelStack:
    data_dir: Path
    base_url: str
    api_key: str
    database_path: Path
    chatbots: dict[str, str]  # channel type -> the platform's chatbot id
    channels: dict[str, str]  # channel type -> the platform's channel id
    simulator_urls: dict[str, str]  # channel type -> the simulator's HTTP (control) root
    simulators: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    platform: subprocess.Popen[bytes] | None = None
    logs: list[IO[bytes]] = field(default_factory=list)

    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        named = {f"the {t} simulator": p for t, p in self.simulators.items()}
        return {"the platform": self.platform, **named} if self.platform is not None else named

    def stop(self, *, keep_data: bool = False) -> None:
        processes = [p for p in (self.platform, *self.simulators.values()) if p is not None]
        for process in processes:  # the platform first, so it does not log the simulators going away
            if process.poll() is None:
                process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in self.logs:
            log.close()
        if not keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def _http_json(method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def _simulator_config(data_dir: Path, name: str, values: dict[str, Any]) -> Path:
    path = data_dir / f"{name}.json"
    path.write_text(json.dumps(values))
    return path


def start_channel_stack(channel_types: Sequence[str], *, extra_env: dict[str, str] | None = None,
                        prepare: Sequence[str] | None = None) -> ChannelStack:
    """A fresh data directory, the platform, and a simulator for each of `channel_types`; `prepare`, a
    command run with the stack's environment after seeding and before the platform starts."""
    unknown = set(channel_types) - set(CHANNEL_TYPES)
    if unknown:
        raise ValueError(f"unknown channel types {sorted(unknown)}; known: {CHANNEL_TYPES}")
    data_dir = Path(tempfile.mkdtemp(prefix="msg5g-bench-channels-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MSG5G_DATA_DIR": str(data_dir), "MSG5G_PORT": str(port), "MSG5G_HOST": "127.0.0.1",
           "MSG5G_LOG_LEVEL": "WARNING", **(extra_env or {})}
    msg5g = [sys.executable, "-m", "msg5g.cli.main"]
    http_ports = {t: free_port() for t in CHANNEL_TYPES}
    smpp_port = free_port()
    simulator_urls = {t: f"http://127.0.0.1:{http_ports[t]}" for t in channel_types}
    subprocess.run([*msg5g, "migrate"], env=env, check=True, capture_output=True)
    seeded = subprocess.run([*msg5g, "seed-demo", "--simulator-url", f"http://127.0.0.1:{http_ports['cmcc']}"],
                            env=env, check=True, capture_output=True)
    demo = json.loads(seeded.stdout)
    chatbots = {"cmcc": str(demo["chatbot_id"])}
    channels = {"cmcc": str(demo["channel_id"])}
    to_provision = [f"{t}={f'smpp://127.0.0.1:{smpp_port}' if t == 'smpp' else simulator_urls[t]}"
                    for t in channel_types if t != "cmcc"]
    if to_provision:
        provisioned = subprocess.run([sys.executable, "-m", "bench.provision", *to_provision], env=env, check=True,
                                     capture_output=True)
        for channel_type, ids in json.loads(provisioned.stdout).items():
            chatbots[channel_type] = ids["chatbot_id"]
            channels[channel_type] = ids["channel_id"]
    if prepare:
        subprocess.run(list(prepare), env=env, check=True, capture_output=True)
    stack = ChannelStack(data_dir=data_dir, base_url=base_url, api_key=str(demo["api_key"]),
                         database_path=data_dir / "msg5g.db", chatbots={t: chatbots[t] for t in channel_types},
                         channels={t: channels[t] for t in channel_types}, simulator_urls=simulator_urls)
    try:
        _start_simulators(stack, channel_types, env, http_ports, smpp_port, demo)
        log = open(data_dir / "platform.log", "wb")  # noqa: SIM115 - closed by stop()
        stack.logs.append(log)
        stack.platform = subprocess.Popen([*msg5g, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
        wait_for(f"{base_url}/healthz")
        _connect_simulators(stack, channel_types)
    except Exception:
        stack.stop(keep_data=True)
        print(f"the bench stack did not start; logs are in {data_dir}", file=sys.stderr)
        raise
    return stack


def _start_simulators(stack: ChannelStack, channel_types: Sequence[str], env: dict[str, str],
                      http_ports: dict[str, int], smpp_port: int, demo: dict[str, Any]) -> None:
    # How many notifications each simulated carrier has in flight at once (BENCH_NOTIFY_WORKERS),
    # as bench.common sets it for the cmcc simulator.
    notify_workers = int(os.environ.get("BENCH_NOTIFY_WORKERS", "100"))
    notify = {"notify_workers": notify_workers, "notify_connection_limit": notify_workers}
    host = ["--host", "127.0.0.1"]
    for channel_type in channel_types:
        port = str(http_ports[channel_type])
        if channel_type == "cmcc":
            notify_url = f"{stack.base_url}/webhooks/cmcc/{demo['channel_id']}"
            chatbot = f"{demo['carrier_chatbot_id']}:{demo['carrier_app_id']}:{demo['carrier_password']}:{notify_url}"
            config = _simulator_config(stack.data_dir, "cmcc", notify)
            args = ["msg5g.simulators.cmcc", *host, "--port", port, "--chatbot", chatbot, "--config", str(config)]
        elif channel_type in {"ctcc", "cucc"}:
            config = _simulator_config(stack.data_dir, channel_type, {"dialect": channel_type, **notify})
            args = ["msg5g.simulators.maapjson", *host, "--port", port, "--config", str(config)]
        elif channel_type == "aggregator":
            config = _simulator_config(stack.data_dir, "aggregator", notify)
            args = ["msg5g.simulators.aggregator", *host, "--port", port, "--config", str(config)]
        else:
            system_id, password = SMSC_ACCOUNT
            account = f"{system_id}:{password}:{PROFILES['smpp'].carrier_chatbot_id}"
            args = ["msg5g.simulators.smsc", *host, "--smpp-port", str(smpp_port), "--http-port", port,
                    "--account", account]
        log = open(stack.data_dir / f"simulator-{channel_type}.log", "wb")  # noqa: SIM115 - closed by stop()
        stack.logs.append(log)
        stack.simulators[channel_type] = subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=log,
                                                          stderr=subprocess.STDOUT)
    for channel_type in channel_types:
        wait_for(f"{stack.simulator_urls[channel_type]}/_sim/healthz")


def _connect_simulators(stack: ChannelStack, channel_types: Sequence[str]) -> None:
    for channel_type in channel_types:
        profile = PROFILES[channel_type]
        sim_url = stack.simulator_urls[channel_type]
        webhook = f"{stack.base_url}/webhooks/{channel_type}/{stack.channels[channel_type]}"
        if channel_type in {"ctcc", "cucc"}:
            # Registering the chatbot at the simulated MaaP runs the notifyPath handshake against us.
            answer = _http_json("PUT", f"{sim_url}/_sim/chatbots/{profile.carrier_chatbot_id}",
                                {**profile.credentials, "notify_url": webhook})
            if answer.get("notify_path_verified") is not True:
                raise RuntimeError(f"{channel_type}: the notifyPath handshake failed: {answer}")
        elif channel_type == "aggregator":
            appid, appkey = profile.credentials["appid"], profile.credentials["appkey"]
            _http_json("PUT", f"{sim_url}/_sim/accounts/{appid}",
                       {"appkey": appkey, "push_url": f"{webhook}/{profile.carrier_chatbot_id}"})
            _http_json("PUT", f"{sim_url}/_sim/chatbots/{profile.carrier_chatbot_id}", {"appid": appid})
        elif channel_type == "smpp":
            deadline = time.monotonic() + 30
            while _http_json("GET", f"{sim_url}/_sim/stats").get("sessions_bound", 0) < 1:
                if time.monotonic() > deadline:
                    raise RuntimeError("the platform did not bind to the SMSC simulator")
                time.sleep(0.2)
