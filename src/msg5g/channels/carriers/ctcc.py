"""China Telecom: the JSON Chatbot interface (protocols.md §3.3), CTCC's own readings of it."""

from __future__ import annotations

from typing import ClassVar

from msg5g.channels.carriers.maap_json import ChatbotJsonChannel


class ChinaTelecomChannel(ChatbotJsonChannel):
    type: ClassVar[str] = "ctcc"
    display_name: ClassVar[str] = "China Telecom (中国电信)"
    carrier: ClassVar[str | None] = "ctcc"
    chatbot_domain: ClassVar[str] = "botplatform.rcs.vnet.cn"  # §0
    # §3.3.2: CTCC echoes our messageId, so its reports are matched before its answer arrives.
    carrier_assigns_message_id: ClassVar[bool] = False
    notify_path_method: ClassVar[str] = "POST"  # §3.3.6, per rcs-web

    def authorization(self, token: str) -> str:
        # §3.1: CTCC's token already starts with "accessToken " (2021-02); an older environment
        # issued a bare value, which goes out unchanged as well.
        return token
