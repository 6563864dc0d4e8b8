"""[invented] China Mobile's template submission and its audit notification.

The reference (shared/reference/protocols.md §3.2) shows how an approved template is sent
(`static-template` with `templateID`) but not how one is submitted or how its audit comes back. The
shapes here are the project's invention, specified in docs/protocol-choices.md "Templates (模板) on
each carrier", and kept in this module alone so that the carrier's real interface replaces one file.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from msg5g.domain.errors import TransientChannelError, WebhookRejected
from msg5g.domain.media import TemplateAuditReport

AUDIT_NOTIFICATION = "TemplateAuditNotification"  # {notifyURL}/TemplateAuditNotification/{chatbotId}


def submission_url(base_url: str, chatbot_address: str) -> str:
    return f"{base_url.rstrip('/')}/messaging/v1/templates/{quote(chatbot_address, safe='')}"


def submission_body(name: str, content_type: str, body_text: str) -> bytes:
    """The template as a message of its layout would carry it (§1.1 contentType and bodyText)."""
    return json.dumps({"templateName": name, "contentType": content_type, "bodyText": body_text},
                      ensure_ascii=False).encode()


def template_id_of(payload: bytes) -> str:
    try:
        template_id = json.loads(payload).get("templateID")
    except (ValueError, AttributeError):
        template_id = None
    if not template_id:
        raise TransientChannelError("the carrier answered the template without a templateID")
    return str(template_id)


def audit_report(document: Any) -> TemplateAuditReport:
    if not isinstance(document, dict):
        raise WebhookRejected("a template audit is a JSON object")
    template_id, status = document.get("templateID"), document.get("status")
    if not template_id or status not in {"approved", "rejected"}:
        raise WebhookRejected("a template audit needs templateID and status approved|rejected")
    reason = document.get("reason")
    return TemplateAuditReport(str(template_id), status == "approved", str(reason) if reason else None)
