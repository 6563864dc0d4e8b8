"""Adapters keyed by channel type; built-in and third-party carriers load the same way."""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import entry_points

from msg5g.channels.base import ChannelAdapter

ENTRY_POINT_GROUP = "msg5g.channels"


class UnknownChannelType(LookupError):
    pass


class ChannelRegistry:
    def __init__(self, adapter_types: Iterable[type[ChannelAdapter]]) -> None:
        self._types: dict[str, type[ChannelAdapter]] = {}
        for adapter_type in adapter_types:
            if adapter_type.type in self._types:
                raise ValueError(f"two adapters claim channel type {adapter_type.type!r}")
            self._types[adapter_type.type] = adapter_type

    @classmethod
    def from_entry_points(cls) -> ChannelRegistry:
        return cls(ep.load() for ep in entry_points(group=ENTRY_POINT_GROUP))

    def adapter_type(self, channel_type: str) -> type[ChannelAdapter]:
        try:
            return self._types[channel_type]
        except KeyError:
            raise UnknownChannelType(channel_type) from None

    @property
    def types(self) -> list[str]:
        return sorted(self._types)
