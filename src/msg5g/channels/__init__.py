"""The channel layer: one adapter per carrier dialect behind one interface, and their registry.

Third parties import from here to add a carrier; see docs/architecture.md "Adding a carrier".
"""

from msg5g.channels.base import (
    Capabilities,
    ChannelAdapter,
    ChannelEndpoint,
    ChatbotAccount,
    InboundSink,
    OutboundMessage,
    SendResult,
    WebhookReply,
    WebhookRequest,
)
from msg5g.channels.registry import ChannelRegistry, UnknownChannelType

__all__ = [
    "Capabilities",
    "ChannelAdapter",
    "ChannelEndpoint",
    "ChannelRegistry",
    "ChatbotAccount",
    "InboundSink",
    "OutboundMessage",
    "SendResult",
    "UnknownChannelType",
    "WebhookReply",
    "WebhookRequest",
]
