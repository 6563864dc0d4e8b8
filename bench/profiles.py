"""Per channel type: the chatbot the bench provisions and what its simulator is told about it.

The values are those of tests/e2e/test_every_channel.py and tests/channels/conformance.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field

CHANNEL_TYPES: tuple[str, ...] = ("cmcc", "ctcc", "cucc", "aggregator", "smpp")


@dataclass(frozen=True)
class ChannelProfile:
    type: str
    carrier_chatbot_id: str
    credentials: dict[str, str] = field(default_factory=dict)
    channel_settings: dict[str, str] = field(default_factory=dict)
    # The status after which the simulator sends nothing more (SMS has no displayed report).
    final_status: str = "displayed"


_MAAP_JSON_CREDENTIALS = {"app_id": "xSnu7777", "app_key": "key-7777", "notify_token": "tok-7777"}

PROFILES: dict[str, ChannelProfile] = {
    # cmcc is the demo channel and chatbot `msg5g seed-demo` creates; nothing is provisioned for it.
    "cmcc": ChannelProfile("cmcc", "125200401111528"),
    "ctcc": ChannelProfile("ctcc", "106598858810000006", _MAAP_JSON_CREDENTIALS),
    "cucc": ChannelProfile("cucc", "12580012011402", _MAAP_JSON_CREDENTIALS),
    "aggregator": ChannelProfile("aggregator", "agg-bot-1", {"appid": "70001", "appkey": "agg-key"}),
    "smpp": ChannelProfile("smpp", "1069009", channel_settings={"system_id": "esme9", "password": "pw9"},
                           final_status="delivered"),
}
