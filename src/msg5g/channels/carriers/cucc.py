"""China Unicom: the JSON Chatbot interface (protocols.md §3.3), CUCC's own readings of it."""

from __future__ import annotations

from typing import ClassVar

from msg5g.channels.carriers.maap_json import ChatbotJsonChannel

TOKEN_SCHEME = "accessToken "  # noqa: S105 - the header scheme word, not a secret


class ChinaUnicomChannel(ChatbotJsonChannel):
    type: ClassVar[str] = "cucc"
    display_name: ClassVar[str] = "China Unicom (中国联通)"
    carrier: ClassVar[str | None] = "cucc"
    chatbot_domain: ClassVar[str] = "botplatform.rcs.chinaunicom.cn"  # §0
    # §3.1: "联通的会返回新的msgid": CUCC answers with a messageId of its own, which its status
    # reports use; the attempt stores it as the carrier message id.
    carrier_assigns_message_id: ClassVar[bool] = True
    notify_path_method: ClassVar[str] = "GET"  # §3.3.6
    audits_temp_uploads: ClassVar[bool] = False  # §3.3.4: "只有永久素材会审核"


    def authorization(self, token: str) -> str:
        # §3.1: CUCC issues a bare UUID and wants it sent as "accessToken <uuid>".
        return token if token.startswith(TOKEN_SCHEME) else TOKEN_SCHEME + token
