"""Audit of uploads (素材审核) and templates (模板审核), and their result notifications to the CSP.

The policy in force when something is uploaded or submitted decides what happens to it: approve
or reject `delay_seconds` later, or "hold" until a test settles it through the control API. The
carrier-like automatic rejections (bytes contradicting the declared type, a template containing
the forbidden word) win over "approve" and "reject" but not over "hold": a held item waits for
whatever the test decides. The state changes before the notification leaves, so a CSP that sends
the moment it hears "approved" finds the material usable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson
from yarl import URL

from .constants import (
    AUTHSTATUS_APPROVED,
    AUTHSTATUS_REJECTED,
    FORBIDDEN_WORD,
    HEADER_AUTHDESC,
    HEADER_AUTHSTATUS,
    HEADER_TID,
    MEDIA_AUDIT_NOTIFY_PATH,
    REASON_FORBIDDEN_WORD,
    TEMPLATE_NOTIFY_PATH,
)
from .materials import AuditNotice, MediaItem, TemplateItem
from .notifier import Notifier
from .state import SimState
from .wire import chatbot_uri


def forbidden_word_reason(item: TemplateItem) -> str | None:
    """The automatic rejection of a template whose name or text carries the forbidden word."""
    if FORBIDDEN_WORD in item.body or FORBIDDEN_WORD in item.name:
        return f"{REASON_FORBIDDEN_WORD}: {FORBIDDEN_WORD}"
    return None


class AuditDesk:
    def __init__(self, state: SimState, notifier: Notifier) -> None:
        self.state = state
        self.notifier = notifier

    # -- media --

    async def media_uploaded(self, item: MediaItem) -> None:
        """Schedule the audit the upload's policy chose; runs once the upload's answer is written.

        A coroutine so that Starlette's BackgroundTask runs it on the loop, not in a worker thread.
        """
        if item.planned == "hold":
            return
        store = self.state.materials
        self._later(store.policy.delay_seconds, self._media_due, item, store.generation, store.policy.reason)

    def _media_due(self, item: MediaItem, generation: int, policy_reason: str) -> None:
        store = self.state.materials
        # Reset, forgotten, settled by hand or deleted meanwhile: nothing is owed any more.
        if generation != store.generation or store.media.get(item.tid) is not item:
            return
        if item.current_state(time.time()) != "pending":
            return
        if item.mismatch is not None:
            self.settle_media(item, approved=False, reason=item.mismatch)
        elif item.planned == "reject":
            self.settle_media(item, approved=False, reason=policy_reason)
        else:
            self.settle_media(item, approved=True, reason=None)

    def settle_media(self, item: MediaItem, *, approved: bool, reason: str | None) -> None:
        item.state = "approved" if approved else "rejected"
        item.reason = None if approved else (reason or self.state.materials.policy.reason)
        self.notifier.spawn(self._notify_media(item, approved))

    async def _notify_media(self, item: MediaItem, approved: bool) -> None:
        """§3.2 audit result: InboundMessageNotification with tid / Authstatus (/ Authdesc) headers."""
        entry = self.state.accounts.get(item.chatbot_id)
        if entry is None:  # the chatbot was removed: nobody to tell
            self._record(item.notices, approved, None, 0)
            return
        uri = quote(chatbot_uri(item.chatbot_id), safe="")
        root = entry.account.notify_url.rstrip("/")
        # encoded=True keeps the chatbotURI percent-encoded on the wire, as it was built.
        url = URL(f"{root}/{MEDIA_AUDIT_NOTIFY_PATH}/{item.chatbot_id}?chatbotURI={uri}", encoded=True)
        headers = {HEADER_TID: item.tid, HEADER_AUTHSTATUS: AUTHSTATUS_APPROVED if approved else AUTHSTATUS_REJECTED}
        if not approved and item.reason:
            # [invented] header values are latin-1 on the wire, so the UTF-8 reason is percent-encoded.
            headers[HEADER_AUTHDESC] = quote(item.reason, safe="")
        status, _error, attempts = await self.notifier.post_with_retries(
            url, entry, item.descriptor().encode("utf-8"), extra_headers=headers
        )
        self._record(item.notices, approved, status, attempts)

    # -- templates --

    async def template_submitted(self, item: TemplateItem) -> None:
        """As media_uploaded, for a template submission."""
        if item.planned == "hold":
            return
        store = self.state.materials
        self._later(store.policy.delay_seconds, self._template_due, item, store.generation, store.policy.reason)

    def _template_due(self, item: TemplateItem, generation: int, policy_reason: str) -> None:
        store = self.state.materials
        if generation != store.generation or store.templates.get(item.template_id) is not item:
            return
        if item.state != "pending":
            return
        forbidden = forbidden_word_reason(item)
        if forbidden is not None:
            self.settle_template(item, approved=False, reason=forbidden)
        elif item.planned == "reject":
            self.settle_template(item, approved=False, reason=policy_reason)
        else:
            self.settle_template(item, approved=True, reason=None)

    def settle_template(self, item: TemplateItem, *, approved: bool, reason: str | None) -> None:
        item.state = "approved" if approved else "rejected"
        item.reason = None if approved else (reason or self.state.materials.policy.reason)
        self.notifier.spawn(self._notify_template(item, approved))

    async def _notify_template(self, item: TemplateItem, approved: bool) -> None:
        """[invented] TemplateAuditNotification: JSON {"templateID","status","reason"?}."""
        entry = self.state.accounts.get(item.chatbot_id)
        if entry is None:
            self._record(item.notices, approved, None, 0)
            return
        url = f"{entry.account.notify_url.rstrip('/')}/{TEMPLATE_NOTIFY_PATH}/{item.chatbot_id}"
        payload: dict[str, str] = {"templateID": item.template_id, "status": item.state}
        if not approved and item.reason:
            payload["reason"] = item.reason
        status, _error, attempts = await self.notifier.post_with_retries(
            url, entry, orjson.dumps(payload), content_type="application/json"
        )
        self._record(item.notices, approved, status, attempts)

    # -- helpers --

    def _record(self, notices: list[AuditNotice], approved: bool, status: int | None, attempts: int) -> None:
        ok = status is not None and 200 <= status < 300
        notices.append(AuditNotice(approved, ok, status, attempts, time.time()))
        stats = self.state.stats
        if ok:
            stats.audit_notifications_sent += 1
        else:
            stats.audit_notifications_failed += 1

    @staticmethod
    def _later(delay_s: float, callback: Callable[..., object], *args: Any) -> None:
        # A loop timer, not a sleeping task: a held-up audit costs nothing while it waits.
        loop = asyncio.get_running_loop()
        if delay_s <= 0:
            loop.call_soon(callback, *args)
        else:
            loop.call_later(delay_s, callback, *args)
