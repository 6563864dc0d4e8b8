"""The carrier's audit of materials and templates, and the Media / Template events it pushes (§3.6).

The policy in force when something is uploaded or submitted decides its fate: approve (unless an
automatic rejection applies), reject, or hold until the control API settles it. The verdict lands
after the policy's delay; the event goes to the appid's push URL signed like every other push, with
the notifier's retry policy. Audits are rare next to sends, so each push is a plain task rather than
a chain in the sender pool.
"""

from __future__ import annotations

import asyncio
import logging
import time

from .constants import AUDIT_APPROVED, AUDIT_REJECTED, EVENT_MEDIA, EVENT_TEMPLATE
from .notifier import Notifier
from .settings import AuditMode
from .state import Push, SimState, Template, Upload
from .wire import beijing_time, expired_time, media_event, template_event

log = logging.getLogger(__name__)

# (approved, reason) of an audit; None while the policy holds it.
Verdict = tuple[bool, str | None]


def verdict(mode: AuditMode, defect: str | None, policy_reason: str) -> Verdict | None:
    """What the policy makes of a record; an automatic rejection (defect) wins over "approve"."""
    if mode == "hold":
        return None
    if mode == "reject":
        return False, defect or policy_reason
    return (False, defect) if defect is not None else (True, None)


class AuditDesk:
    def __init__(self, state: SimState, notifier: Notifier) -> None:
        self.state = state
        self.notifier = notifier
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def close(self) -> None:
        self._closed = True
        records: list[Upload | Template] = [*self.state.uploads.values(), *self.state.templates.values()]
        for record in records:
            self._cancel(record)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    # -- what the policy does on arrival --

    def uploaded(self, upload: Upload) -> None:
        policy = self.state.audit
        decided = verdict(policy.media, upload.defect, policy.reason)
        if decided is not None:
            loop = asyncio.get_running_loop()
            upload.timer = loop.call_later(policy.delay_seconds, self.settle_media, upload, *decided)

    def submitted(self, template: Template) -> None:
        policy = self.state.audit
        decided = verdict(policy.templates, template.defect, policy.reason)
        if decided is not None:
            loop = asyncio.get_running_loop()
            template.timer = loop.call_later(policy.delay_seconds, self.settle_template, template, *decided)

    # -- verdicts (from the timer or the control API) --

    def settle_media(self, upload: Upload, approved: bool, reason: str | None) -> None:
        """Record the verdict now and push the Media event; a re-audit of a settled upload is allowed."""
        self._cancel(upload)
        if self.state.uploads.get(upload.media_id) is not upload:
            return  # forgotten by a reset or evicted
        now = time.time()
        if approved:
            # A re-approved expired upload is valid again for a full ttl.
            if upload.until <= now:
                upload.until = now + self.state.audit.ttl_seconds
            upload.state, upload.reason = "approved", None
        else:
            upload.state, upload.reason = "rejected", reason or self.state.audit.reason
        self._count(approved)
        status = AUDIT_APPROVED if approved else AUDIT_REJECTED
        body = media_event(
            upload.media_id,
            upload.file.url,
            len(upload.file.data),
            status,
            expired_time(upload.until),
            beijing_time(now),
            upload.reason,
        )
        self._push(upload.appid, upload.pushes, EVENT_MEDIA, status, body)

    def settle_template(self, template: Template, approved: bool, reason: str | None) -> None:
        self._cancel(template)
        if self.state.templates.get(template.template_id) is not template:
            return
        if approved:
            template.state, template.reason = "approved", None
        else:
            template.state, template.reason = "rejected", reason or self.state.audit.reason
        self._count(approved)
        status = AUDIT_APPROVED if approved else AUDIT_REJECTED
        body = template_event(template.template_id, status, beijing_time(time.time()), template.reason)
        self._push(template.appid, template.pushes, EVENT_TEMPLATE, status, body)

    def expire(self, upload: Upload) -> None:
        """Mark an upload expired now; an audit still owed is dropped (it would revive the URL)."""
        self._cancel(upload)
        upload.state = "expired"
        upload.until = min(upload.until, time.time() - 1.0)

    @staticmethod
    def _cancel(record: Upload | Template) -> None:
        if record.timer is not None:
            record.timer.cancel()
            record.timer = None

    def _count(self, approved: bool) -> None:
        if approved:
            self.state.stats.audits_approved += 1
        else:
            self.state.stats.audits_rejected += 1

    # -- the push --

    def _push(self, appid: str, pushes: list[Push], event: str, status: str, body: bytes) -> None:
        if self._closed:
            return
        task = asyncio.ensure_future(self._deliver(appid, pushes, event, status, body))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, appid: str, pushes: list[Push], event: str, status: str, body: bytes) -> None:
        stats = self.state.stats
        # Same as the Message events: the duplicate_notifications fault sends every event twice.
        copies = 2 if self.state.faults.duplicate_notifications else 1
        for _ in range(copies):
            account = self.state.accounts.get(appid)
            if account is None:
                pushes.append(Push(event, status, False, None, 0, time.time()))
                stats.pushes_failed += 1
                return
            http_status, error, attempts = await self.notifier.post_with_retries(account, body)
            ok = http_status is not None and 200 <= http_status < 300
            pushes.append(Push(event, status, ok, http_status, attempts, time.time()))
            if ok:
                stats.pushes_sent += 1
            else:
                stats.pushes_failed += 1
                log.warning("gave up on %s event for appid %s (HTTP %s, %s)", event, appid, http_status, error)
