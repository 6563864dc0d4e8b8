"""Messages, delivery attempts and the status they derive.

A message (one recipient) has delivery attempts; each attempt is one try through one chatbot on one
channel. The message's status is derived from its attempts: later issues add SMS fallback, failover
and revoke as further attempts, so `failed` is final only when no further attempt is planned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from msg5g.domain.chatbots import ChatbotInfoReport
from msg5g.domain.content import UplinkContent
from msg5g.domain.media import MediaAuditReport, TemplateAuditReport


class TrafficClass(StrEnum):
    """Set by the business type; decides the queue lane. Lower rank is served first."""

    NOTIFICATION = "notification"
    CUSTOMER_SERVICE = "customer_service"
    SERVICE = "service"
    MARKETING = "marketing"

    @property
    def rank(self) -> int:
        return _TRAFFIC_RANK[self]

    def allows(self, requested: TrafficClass) -> bool:
        """A caller may lower its traffic class for a message, never raise it."""
        return requested.rank >= self.rank


_TRAFFIC_RANK = {
    TrafficClass.NOTIFICATION: 0,
    TrafficClass.CUSTOMER_SERVICE: 1,
    TrafficClass.SERVICE: 2,
    TrafficClass.MARKETING: 3,
}


class MessageStatus(StrEnum):
    ACCEPTED = "accepted"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    DISPLAYED = "displayed"
    FAILED = "failed"
    EXPIRED = "expired"
    REVOKED = "revoked"  # recalled before it reached the handset

    @property
    def progress(self) -> int:
        return _PROGRESS[self]

    @property
    def is_final(self) -> bool:
        return self in {MessageStatus.DISPLAYED, MessageStatus.FAILED, MessageStatus.EXPIRED, MessageStatus.REVOKED}


# A status never moves backwards: out-of-order or repeated carrier notifications are ignored when
# they would lower the progress. A failure after delivery is not believable and is ignored too.
_PROGRESS = {
    MessageStatus.ACCEPTED: 0,
    MessageStatus.QUEUED: 1,
    MessageStatus.SENT: 2,
    MessageStatus.FAILED: 3,
    MessageStatus.EXPIRED: 3,
    MessageStatus.DELIVERED: 4,
    MessageStatus.REVOKED: 4,  # from sent only: once delivered, a recall cannot succeed
    MessageStatus.DISPLAYED: 5,
}


def advances(current: MessageStatus, new: MessageStatus) -> bool:
    """Whether a report of `new` moves a message that is at `current`."""
    if current.is_final and current != MessageStatus.FAILED:
        return False
    if current == MessageStatus.FAILED:
        # A carrier can report delivery after we saw a transient failure report; delivery wins.
        return new in {MessageStatus.DELIVERED, MessageStatus.DISPLAYED}
    return new.progress > current.progress


class AttemptState(StrEnum):
    PENDING = "pending"  # created, the carrier call is in flight or queued for retry
    SENT = "sent"
    DELIVERED = "delivered"
    DISPLAYED = "displayed"
    FAILED = "failed"
    REVOKED = "revoked"

    @property
    def progress(self) -> int:
        """Attempts move forward in the same order as the statuses they give their message."""
        return ATTEMPT_TO_MESSAGE_STATUS[self].progress


ATTEMPT_TO_MESSAGE_STATUS = {
    AttemptState.PENDING: MessageStatus.QUEUED,
    AttemptState.SENT: MessageStatus.SENT,
    AttemptState.DELIVERED: MessageStatus.DELIVERED,
    AttemptState.DISPLAYED: MessageStatus.DISPLAYED,
    AttemptState.FAILED: MessageStatus.FAILED,
    AttemptState.REVOKED: MessageStatus.REVOKED,
}


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A carrier's delivery report, normalised by the adapter."""

    carrier_message_id: str
    status: MessageStatus
    recipient: str | None = None
    reason: str | None = None
    occurred_at: datetime | None = None
    raw_status: str | None = None
    # What the outcome says of the handset: it took a chatbot message ("rcs") or cannot ("sms_only").
    handset_capability: str | None = None


class FallbackPolicy(StrEnum):
    """What happens when a handset cannot take a 5G message (回落)."""

    CARRIER = "carrier"  # the carrier converts to SMS with the fallback text
    SMS = "sms"  # the platform sends the fallback text over its SMS channel
    H5 = "h5"  # the platform sends an SMS with a link to a page that shows the rich message
    NONE = "none"


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A user's uplink, normalised by the adapter."""

    carrier_message_id: str | None
    sender: str  # E.164
    chatbot_address: str
    content: UplinkContent
    conversation_id: str | None = None
    contribution_id: str | None = None
    in_reply_to: str | None = None
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RevokeReport:
    """The carrier's answer to a recall: done before delivery, or too late."""

    carrier_message_id: str
    succeeded: bool
    recipient: str | None = None
    reason: str | None = None
    occurred_at: datetime | None = None


@dataclass(slots=True)
class WebhookParseResult:
    statuses: list[StatusReport] = field(default_factory=list)
    inbound: list[InboundMessage] = field(default_factory=list)
    revokes: list[RevokeReport] = field(default_factory=list)
    media_audits: list[MediaAuditReport] = field(default_factory=list)
    template_audits: list[TemplateAuditReport] = field(default_factory=list)
    chatbot_reports: list[ChatbotInfoReport] = field(default_factory=list)
