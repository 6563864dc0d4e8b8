"""Connections that persistent channels (SMPP) keep to their carrier, opened when the platform starts.

HTTP channels need nothing at start: the carrier calls our webhooks. A persistent channel receives
its reports and uplinks on its own connection, so it must be connected before anything is sent.
"""

from __future__ import annotations

import logging

from msg5g.channels import ChannelEndpoint
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory
from msg5g.storage.repositories import PlatformRepository

log = logging.getLogger(__name__)


class ChannelSessions:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        # True in a process that runs workers: a channel created at runtime is connected at once.
        self.active = False

    async def opened(self, endpoint: ChannelEndpoint) -> None:
        """A channel was created or changed: (re)connect it if it is persistent and this process works."""
        if self.active and self._ctx.registry.adapter_type(endpoint.type).persistent:
            adapter = self._ctx.adapter(endpoint.type)
            if endpoint.enabled:
                await adapter.open(endpoint)
            else:
                await adapter.disconnect(endpoint.channel_id)

    async def open_all(self, directory: Directory) -> None:
        async with self._ctx.db.reader() as session:
            channels = await PlatformRepository(session).channels()
        for channel in channels:
            try:
                adapter_type = self._ctx.registry.adapter_type(channel.type)
            except LookupError:
                log.warning("channel of an unknown type", extra={"channel_id": channel.id, "type": channel.type})
                continue
            if adapter_type.persistent and channel.enabled:
                await self._ctx.adapter(channel.type).open(directory.endpoint(channel))

    async def close_all(self) -> None:
        for adapter in self._ctx.adapters:
            await adapter.close()
