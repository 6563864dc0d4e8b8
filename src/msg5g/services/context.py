"""What every use case needs, built once by the platform (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass, field

import aiohttp

from msg5g.channels import ChannelAdapter, ChannelRegistry, InboundSink
from msg5g.config import Settings
from msg5g.kit.secrets import SecretBox
from msg5g.pipeline.queue import Queue
from msg5g.storage.database import Database


@dataclass
class ServiceContext:
    settings: Settings
    db: Database
    queue: Queue
    registry: ChannelRegistry
    http: aiohttp.ClientSession
    secrets: SecretBox
    # Where persistent channels deliver what arrives on their connections (set by Services.build).
    inbound_sink: InboundSink | None = None
    _adapters: dict[str, ChannelAdapter] = field(default_factory=dict)

    def adapter(self, channel_type: str) -> ChannelAdapter:
        # Adapters hold no per-tenant state, so one per channel type per process is enough.
        adapter = self._adapters.get(channel_type)
        if adapter is None:
            adapter_type = self.registry.adapter_type(channel_type)
            adapter = adapter_type(self.http, timeout_seconds=self.settings.carrier_timeout_seconds,
                                   inbound=self.inbound_sink)
            self._adapters[channel_type] = adapter
        return adapter

    @property
    def adapters(self) -> list[ChannelAdapter]:
        return list(self._adapters.values())
