"""What callers see: the API's response models, built by the services from stored rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from msg5g.domain.messages import MessageStatus, TrafficClass


class StatusChange(BaseModel):
    status: MessageStatus
    at: datetime
    reason: str | None = None
    carrier_status: str | None = Field(default=None, description="The carrier's own word for it, when it sent one.")


class AttemptView(BaseModel):
    id: str
    channel_id: str
    chatbot_id: str
    carrier_message_id: str | None
    state: str
    tries: int
    error_code: str | None
    error_reason: str | None
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime
    revoke_requested_at: datetime | None = Field(default=None, description="When a recall was asked of the carrier.")
    revoke_result: str | None = Field(default=None, description="`revoked`, or why the carrier could not recall it.")


class MessageView(BaseModel):
    id: str
    submission_id: str
    business_id: str
    chatbot_id: str
    recipient: str
    traffic_class: TrafficClass
    status: MessageStatus
    status_reason: str | None
    client_message_id: str | None = None
    created_at: datetime
    updated_at: datetime
    history: list[StatusChange] = Field(default_factory=list)
    attempts: list[AttemptView] = Field(default_factory=list)


class MessageSummary(BaseModel):
    id: str
    chatbot_id: str
    recipient: str
    traffic_class: TrafficClass
    status: MessageStatus
    status_reason: str | None
    created_at: datetime
    updated_at: datetime


class MessagePage(BaseModel):
    data: list[MessageSummary]
    next_cursor: str | None = Field(description="Pass as `before` to read the next (older) page.")


class AcceptedMessage(BaseModel):
    id: str
    recipient: str
    status: MessageStatus


class RefusedRecipient(BaseModel):
    recipient: str
    code: str
    message: str


class SendResponse(BaseModel):
    submission_id: str
    client_message_id: str | None
    replayed: bool = Field(description="True when this repeats an earlier request with the same client_message_id.")
    messages: list[AcceptedMessage]
    refused: list[RefusedRecipient] = Field(
        default_factory=list, description="Recipients beyond a cap (`quota_exceeded`): not accepted, never sent.")


class InboundView(BaseModel):
    id: str
    chatbot_id: str
    business_id: str
    sender: str
    kind: str
    content: dict[str, Any]
    carrier_message_id: str | None
    conversation_id: str | None
    in_reply_to: str | None
    received_at: datetime


class InboundPage(BaseModel):
    data: list[InboundView]


class DeadLetterView(BaseModel):
    id: int
    topic: str
    payload: dict[str, Any]
    attempts: int
    last_error: str | None


class CallbackDeliveryView(BaseModel):
    id: str
    event_type: str
    url: str
    state: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
