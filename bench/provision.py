"""`python -m bench.provision TYPE=BASE_URL ...`: add one channel and one chatbot per channel type to
the demo tenant of a seeded data directory (MSG5G_DATA_DIR), and print their ids as JSON.

Run by bench/channels.py in a process of its own before the platform starts, as `msg5g seed-demo`
is: the bench driver never opens the database for writing. The cmcc channel is the demo's own.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from bench.profiles import PROFILES
from msg5g.config import get_settings
from msg5g.platform import Platform


async def provision(base_urls: dict[str, str]) -> dict[str, dict[str, str]]:
    settings = get_settings()
    demo: dict[str, Any] = json.loads((settings.data_dir / "demo.json").read_text())
    platform = Platform(settings)
    await platform.start(migrate=False, workers=False)
    created: dict[str, dict[str, str]] = {}
    try:
        provisioning = platform.services.provisioning
        for channel_type, base_url in base_urls.items():
            profile = PROFILES[channel_type]
            channel_id = await provisioning.create_channel(
                channel_type, f"{channel_type} (bench simulator)", base_url, settings=profile.channel_settings or None)
            chatbot_id = await provisioning.create_chatbot(
                demo["tenant_id"], channel_id=channel_id, business_id=demo["business_id"],
                name=f"bench {channel_type}", carrier_chatbot_id=profile.carrier_chatbot_id,
                credentials=dict(profile.credentials))
            created[channel_type] = {"channel_id": channel_id, "chatbot_id": chatbot_id}
    finally:
        await platform.stop()
    return created


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("channels", nargs="+", metavar="TYPE=BASE_URL")
    args = parser.parse_args()
    base_urls = dict(pair.split("=", 1) for pair in args.channels)
    unknown = set(base_urls) - set(PROFILES)
    if unknown or "cmcc" in base_urls:
        parser.error(f"channel types to add are {sorted(set(PROFILES) - {'cmcc'})}, got {sorted(base_urls)}")
    print(json.dumps(asyncio.run(provision(base_urls))))


if __name__ == "__main__":
    main()
