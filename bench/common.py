"""Start the platform and the China Mobile simulator as separate processes on loopback."""

from __future__ import annotations

import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@dataclass
class BenchStack:
    data_dir: Path
    base_url: str
    simulator_url: str
    api_key: str
    chatbot_id: str
    database_path: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def start_stack(*, workers: bool = True, worker_processes: int = 0,
                extra_env: dict[str, str] | None = None) -> BenchStack:
    """The platform (with in-process workers unless `workers` is False, plus `worker_processes`
    separate `msg5g worker` processes) and the simulator, each a process of its own."""
    data_dir = Path(tempfile.mkdtemp(prefix="msg5g-bench-"))
    port, sim_port = free_port(), free_port()
    env = {**os.environ, "MSG5G_DATA_DIR": str(data_dir), "MSG5G_PORT": str(port), "MSG5G_HOST": "127.0.0.1",
           "MSG5G_LOG_LEVEL": "WARNING", **(extra_env or {})}
    msg5g = [sys.executable, "-m", "msg5g.cli.main"]
    simulator_url = f"http://127.0.0.1:{sim_port}"
    subprocess.run([*msg5g, "migrate"], env=env, check=True, capture_output=True)
    seeded = subprocess.run([*msg5g, "seed-demo", "--simulator-url", simulator_url], env=env, check=True,
                            capture_output=True)
    demo = json.loads(seeded.stdout)
    base_url = f"http://127.0.0.1:{port}"
    notify = f"{base_url}/webhooks/cmcc/{demo['channel_id']}"
    chatbot = f"{demo['carrier_chatbot_id']}:{demo['carrier_app_id']}:{demo['carrier_password']}:{notify}"
    simulator_config = data_dir / "simulator.json"
    # How many notifications the simulated carrier has in flight at once (BENCH_NOTIFY_WORKERS).
    notify_workers = int(os.environ.get("BENCH_NOTIFY_WORKERS", "100"))
    simulator_config.write_text(json.dumps({"notify_workers": notify_workers,
                                            "notify_connection_limit": notify_workers}))
    simulator = subprocess.Popen([sys.executable, "-m", "msg5g.simulators.cmcc", "--host", "127.0.0.1",
                                  "--port", str(sim_port), "--chatbot", chatbot, "--config", str(simulator_config)],
                                 env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    serve_args = [*msg5g, "serve"] + ([] if workers else ["--no-workers"])
    platform = subprocess.Popen(serve_args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    extra_workers = [subprocess.Popen([*msg5g, "worker"], env=env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL) for _ in range(worker_processes)]
    stack = BenchStack(data_dir=data_dir, base_url=base_url, simulator_url=simulator_url, api_key=demo["api_key"],
                       chatbot_id=demo["chatbot_id"], database_path=data_dir / "msg5g.db",
                       processes=[simulator, platform, *extra_workers])
    try:
        wait_for(f"{simulator_url}/_sim/healthz")
        wait_for(f"{base_url}/healthz")
    except Exception:
        stack.stop()
        raise
    return stack


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def median(values: list[float]) -> float:
    return statistics.median(values)


def machine_busy_seconds() -> float:
    """CPU seconds all cores together have spent busy since boot (from /proc/stat)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
