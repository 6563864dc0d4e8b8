"""Materials: how long 1,000 existing materials take to reach a newly added chatbot, against the
China Unicom simulator in a process of its own (upload, then its asynchronous `check` audit, then
approved on our side).

The platform runs in this process (served by uvicorn, with its workers), its SQLite database in a
temporary folder; the materials are stored first with no chatbot to sync to, then the channel and
chatbot are added and the clock runs until every copy on it is approved.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import uvicorn
from PIL import Image

from bench.common import free_port, wait_for
from msg5g.config import Settings
from msg5g.domain.messages import TrafficClass
from msg5g.platform import Platform
from msg5g.services.access import BusinessAccess

BOT = "12580012011402"
CREDENTIALS = {"app_id": "xSnuBench", "app_key": "bench-key", "notify_token": "bench-token"}


def image(index: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (index % 256, (index // 256) % 256, 77)).save(out, format="PNG")
    return out.getvalue()


async def run(materials: int, audit_delay: float) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="msg5g-bench-materials-"))
    port, sim_port = free_port(), free_port()
    platform = Platform(Settings(data_dir=folder, host="127.0.0.1", port=port, log_level="WARNING"))
    server = uvicorn.Server(uvicorn.Config(platform.app, host="127.0.0.1", port=port, log_config=None,
                                           access_log=False))
    serving = asyncio.create_task(server.serve())
    config = folder / "simulator.json"
    config.write_text(json.dumps({"dialect": "cucc", "audit_delay_seconds": audit_delay, "max_media": materials * 3}))
    simulator = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "msg5g.simulators.maapjson", "--port", str(sim_port), "--config", str(config),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sim_url = f"http://127.0.0.1:{sim_port}"
    try:
        await asyncio.to_thread(wait_for, f"{sim_url}/_sim/healthz")
        while not server.started:
            await asyncio.sleep(0.05)
        services = platform.services
        tenant = await services.provisioning.create_tenant("Bench")
        business, _ = await services.provisioning.create_business(tenant, "Bench", TrafficClass.NOTIFICATION)
        access = BusinessAccess(tenant_id=tenant, business_id=business, api_key_id="bench")
        started = time.perf_counter()
        for index in range(materials):
            await services.materials.upload(access, data=image(index), file_name=f"m{index}.png")
        stored = time.perf_counter() - started
        channel = await services.provisioning.create_channel("cucc", "Unicom (sim)", sim_url)
        # Known to the MaaP before the platform has it (the notifyPath handshake runs once it does).
        async with aiohttp.ClientSession() as http, http.put(f"{sim_url}/_sim/chatbots/{BOT}?verify=false", json={
                **CREDENTIALS, "notify_url": f"http://127.0.0.1:{port}/webhooks/cucc/{channel}"}) as response:
            assert response.status < 300, await response.text()
        started = time.perf_counter()
        chatbot = await services.provisioning.create_chatbot(tenant, channel_id=channel, business_id=business,
                                                              name="bench", carrier_chatbot_id=BOT,
                                                              credentials=CREDENTIALS)
        while True:
            counts = (await services.materials.progress(tenant, chatbot, {})).materials
            if counts.get("approved", 0) >= materials:
                break
            if counts.get("failed") or counts.get("rejected"):
                raise RuntimeError(f"materials did not sync: {counts}")
            await asyncio.sleep(0.1)
        synced = time.perf_counter() - started
        return {"stored": stored, "synced": synced}
    finally:
        simulator.terminate()
        await asyncio.wait_for(simulator.wait(), 20)
        server.should_exit = True
        await serving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--materials", type=int, default=1000)
    parser.add_argument("--audit-delay", type=float, default=0.2, help="the simulator's audit delay, seconds")
    args = parser.parse_args()
    figures = asyncio.run(run(args.materials, args.audit_delay))
    print(f"materials: {args.materials}; stored in {figures['stored']:.1f} s "
          f"({args.materials / figures['stored']:.0f}/s, checked, thumbnails made)")
    print(f"synced to a new China Unicom chatbot (upload + audit + approved): {figures['synced']:.1f} s "
          f"({args.materials / figures['synced']:.0f} materials/s; target: 1,000 in under 60 s)")


if __name__ == "__main__":
    main()
