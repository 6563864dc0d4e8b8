"""ORM tables.

Platform-wide tables (tenants and their credentials index, channels, the queue) and tenant-owned
tables (everything a tenant's traffic produces) live on two separate metadata objects, so that a
later isolation option can put one tenant's tables in a schema or database of its own. Tenant-owned
tables therefore carry no foreign keys into platform tables, and every one has `tenant_id`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.sql.expression import false, true


def core_table(model: type[PlatformBase] | type[TenantBase]) -> Table:
    """The Core table of a model, for bulk inserts that need none of the ORM's per-row work."""
    return cast(Table, model.__table__)


Id = String(36)
Timestamp = DateTime(timezone=True)
# SQLite needs INTEGER PRIMARY KEY for autoincrement; PostgreSQL gets a BIGINT identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")


class PlatformBase(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: Timestamp}


class TenantBase(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: Timestamp}


# ---- platform-wide -----------------------------------------------------------------------------


class Tenant(PlatformBase):
    __tablename__ = "tenants"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # Days after which message content and numbers are purged (services/retention.py); None: kept.
    retention_days: Mapped[int | None] = mapped_column(Integer)


class ApiKey(PlatformBase):
    """The credential index: resolved before the tenant is known, so it is platform-wide."""

    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id, index=True)
    business_id: Mapped[str] = mapped_column(Id)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    # domain.roles.ApiScope values; None: every scope (keys made before scopes existed).
    scopes: Mapped[list[str] | None] = mapped_column(JSON)
    # CIDR ranges the key may be used from; None: anywhere.
    allowed_ips: Mapped[list[str] | None] = mapped_column(JSON)


class OperatorKey(PlatformBase):
    """A platform operator's API key: manages what is platform-wide (channels), belongs to no tenant."""

    __tablename__ = "operator_keys"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]


class AdminUser(PlatformBase):
    __tablename__ = "admin_users"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(Id, index=True)  # None: platform admin
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    # domain.roles.Role; None: the role before roles existed (platform admin without a tenant, tenant
    # admin with one).
    role: Mapped[str | None] = mapped_column(String(20))
    business_ids: Mapped[list[str] | None] = mapped_column(JSON)  # None: every business of the tenant
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    totp_secret_sealed: Mapped[str | None] = mapped_column(Text)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    disabled_at: Mapped[datetime | None]


class Channel(PlatformBase):
    """A carrier endpoint plus the CSP's own credentials for it."""

    __tablename__ = "channels"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    type: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(500))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the adapter's non-secret settings
    secrets_sealed: Mapped[str | None] = mapped_column(Text)  # its secret ones, encrypted (kit/secrets.py)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    tps_limit: Mapped[float | None] = mapped_column(Float)  # the carrier contract's sends per second
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime | None]


class CarrierChatbotIndex(PlatformBase):
    """Which tenant's chatbot a carrier callback for (channel, carrier chatbot id) belongs to."""

    __tablename__ = "carrier_chatbot_index"
    channel_id: Mapped[str] = mapped_column(Id, primary_key=True)
    carrier_chatbot_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    chatbot_id: Mapped[str] = mapped_column(Id)


class NumberFact(PlatformBase):
    """What the platform knows of one mobile number beyond its prefix: the carrier that really
    serves it (携号转网) and whether it takes chatbot messages, each learned or set, with a TTL."""

    __tablename__ = "number_facts"
    number: Mapped[str] = mapped_column(String(20), primary_key=True)  # E.164
    carrier: Mapped[str | None] = mapped_column(String(10))  # overrides the prefix's carrier
    carrier_source: Mapped[str | None] = mapped_column(String(10))  # manual | learned
    not_carriers: Mapped[list[str]] = mapped_column(JSON, default=list)  # carriers that refused it
    carrier_expires_at: Mapped[datetime | None]
    capability: Mapped[str | None] = mapped_column(String(20))  # rcs | sms_only
    capability_source: Mapped[str | None] = mapped_column(String(10))
    capability_expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class ChannelHealthEvent(PlatformBase):
    """A channel's circuit opening or closing: what alerts are made from."""

    __tablename__ = "channel_health_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    channel_id: Mapped[str] = mapped_column(Id, index=True)
    state: Mapped[str] = mapped_column(String(20))  # open | half_open | closed
    reason: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime]


class RateBucket(PlatformBase):
    """A token bucket every worker process draws from (the embedded limiter): `tokens` as of
    `updated_at`, refilled at the key's rate up to one second's worth."""

    __tablename__ = "rate_buckets"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)  # epoch seconds


class QueueEntry(PlatformBase):
    """The durable embedded queue, which is also the transactional outbox.

    Times are epoch seconds (float) so claims compare numbers, not timestamp strings, on SQLite.
    """

    __tablename__ = "queue_entries"
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    topic: Mapped[str] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(Integer, default=0)
    tenant_id: Mapped[str | None] = mapped_column(Id)
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(10), default="ready")  # ready | dead
    not_before: Mapped[float] = mapped_column(Float)
    locked_until: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_queue_claim", "topic", "state", "priority", "not_before"),)


# ---- tenant-owned ------------------------------------------------------------------------------


class Business(TenantBase):
    __tablename__ = "businesses"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id, index=True)
    name: Mapped[str] = mapped_column(String(200))
    traffic_class: Mapped[str] = mapped_column(String(30))
    callback_url: Mapped[str | None] = mapped_column(String(1000))
    callback_secret: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime]


class Chatbot(TenantBase):
    __tablename__ = "chatbots"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id, index=True)
    channel_id: Mapped[str] = mapped_column(Id)
    business_id: Mapped[str] = mapped_column(Id)  # receives this chatbot's uplinks
    name: Mapped[str] = mapped_column(String(200))
    carrier_chatbot_id: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(300))
    # The chatbot's carrier API credentials, encrypted at rest (kit/secrets.py).
    credentials_sealed: Mapped[str] = mapped_column(Text)
    tps_limit: Mapped[float | None] = mapped_column(Float)  # sends per second the carrier allows it
    created_at: Mapped[datetime]
    # The logical chatbot (public information, menu) this account publishes, and its standing with
    # the carrier (domain.chatbots.InfoState). None: an account managed outside the platform, sendable.
    profile_id: Mapped[str | None] = mapped_column(Id, index=True)
    info_state: Mapped[str | None] = mapped_column(String(20))
    info_reason: Mapped[str | None] = mapped_column(Text)
    info_version: Mapped[int | None] = mapped_column(Integer)  # the profile version last submitted
    live_version: Mapped[int | None] = mapped_column(Integer)  # the version the carrier approved last
    info_pending: Mapped[int | None] = mapped_column(Integer)  # audits still owed for the submitted version
    # Why the carrier refuses our credentials for it, until they are rotated; nothing is sent meanwhile.
    credential_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None]


class ChatbotProfileRow(TenantBase):
    """One logical chatbot's public information and menu (domain.chatbots.ChatbotProfile)."""

    __tablename__ = "chatbot_profiles"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id, index=True)
    business_id: Mapped[str] = mapped_column(Id)
    profile: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer)
    # The version a carrier last approved, as it was: what the public directory shows.
    published: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Submission(TenantBase):
    """One accepted send request: the content once, however many recipients it has."""

    __tablename__ = "submissions"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    business_id: Mapped[str] = mapped_column(Id)
    chatbot_id: Mapped[str] = mapped_column(Id)
    content: Mapped[dict[str, Any]]
    fallback_text: Mapped[str | None] = mapped_column(Text)
    fallback_policy: Mapped[str | None] = mapped_column(String(10))  # domain.messages.FallbackPolicy
    traffic_class: Mapped[str] = mapped_column(String(30))
    client_message_id: Mapped[str | None] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    callback_url: Mapped[str | None] = mapped_column(String(1000))
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # A send by template: `content` is then the sample rendering (what routing checks capabilities
    # against); each message is rendered with the version approved on the chatbot it goes through.
    template_id: Mapped[str | None] = mapped_column(Id)
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # shared by every recipient
    # The capacity its messages reserved, each alike: the usage rows and the worst-case amounts.
    reservation: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (
        UniqueConstraint("tenant_id", "business_id", "client_message_id", name="uq_submission_client_id"),
    )


class Message(TenantBase):
    __tablename__ = "messages"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    submission_id: Mapped[str] = mapped_column(Id, index=True)
    business_id: Mapped[str] = mapped_column(Id)
    chatbot_id: Mapped[str] = mapped_column(Id)
    recipient: Mapped[str] = mapped_column(String(20))
    traffic_class: Mapped[str] = mapped_column(String(30))
    status: Mapped[str] = mapped_column(String(20))
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # this recipient's template parameters
    # What the message still holds of its capacity reservation (services/capacity.py): fen and a message.
    reserved_cost: Mapped[int | None] = mapped_column(BigInteger)
    reserved_count: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        Index("ix_messages_tenant_created", "tenant_id", "created_at"),
        Index("ix_messages_recipient", "tenant_id", "recipient"),  # a conversation's and a number's history
    )


class DeliveryAttempt(TenantBase):
    __tablename__ = "delivery_attempts"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    message_id: Mapped[str] = mapped_column(Id, index=True)
    channel_id: Mapped[str] = mapped_column(Id)
    chatbot_id: Mapped[str] = mapped_column(Id)
    # A group send's recipients share its carrier message id; their reports are told apart by this.
    recipient: Mapped[str | None] = mapped_column(String(20))
    carrier_message_id: Mapped[str | None] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(20))
    tries: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(100))
    error_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]
    # A recall asked of the carrier, and what came of it ("revoked", or why not).
    revoke_requested_at: Mapped[datetime | None]
    revoke_result: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_attempts_carrier_id", "chatbot_id", "carrier_message_id"),)


class MessageEvent(TenantBase):
    """The status history shown to callers; `accepted` is the message's created_at."""

    __tablename__ = "message_events"
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    message_id: Mapped[str] = mapped_column(Id, index=True)
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    carrier_status: Mapped[str | None] = mapped_column(String(60))
    occurred_at: Mapped[datetime]


class ChatbotRoute(TenantBase):
    """Which chatbot account carries a chatbot's messages to a carrier's numbers, in priority order:
    e.g. numbers of China Telecom through the direct CTCC line first, then through an aggregator.
    `carrier` "*" matches any number. A chatbot without routes sends through itself."""

    __tablename__ = "chatbot_routes"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    chatbot_id: Mapped[str] = mapped_column(Id)  # the chatbot callers name
    carrier: Mapped[str] = mapped_column(String(10))
    priority: Mapped[int] = mapped_column(Integer)
    via_chatbot_id: Mapped[str] = mapped_column(Id)  # the account (on some channel) that sends
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_routes_chatbot", "tenant_id", "chatbot_id"),)


class H5Link(PlatformBase):
    """The short link of an H5 fallback SMS: a page showing the rich message, its opens counted.
    Platform-wide, like the credential index: a public link resolves to its tenant."""

    __tablename__ = "h5_links"
    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    message_id: Mapped[str] = mapped_column(Id, index=True)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    last_click_at: Mapped[datetime | None]


class EarlyStatusReport(TenantBase):
    """A delivery report that named a carrier message id no attempt carries yet.

    Carriers that assign their own message id (China Unicom) can report on a message before their
    answer to the send, which names that id, is committed; the report waits here and is applied
    when the answer is recorded.
    """

    __tablename__ = "early_status_reports"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    chatbot_id: Mapped[str] = mapped_column(Id)
    carrier_message_id: Mapped[str] = mapped_column(String(100))
    recipient: Mapped[str | None] = mapped_column(String(20))  # within a group send, whose report it is
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    carrier_status: Mapped[str | None] = mapped_column(String(60))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_early_reports_carrier_id", "tenant_id", "chatbot_id", "carrier_message_id"),
        Index("ix_early_reports_received", "received_at"),
    )


class InboundMessageRow(TenantBase):
    __tablename__ = "inbound_messages"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    chatbot_id: Mapped[str] = mapped_column(Id)
    business_id: Mapped[str] = mapped_column(Id)
    sender: Mapped[str] = mapped_column(String(20))
    carrier_message_id: Mapped[str | None] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    content: Mapped[dict[str, Any]]
    conversation_id: Mapped[str | None] = mapped_column(String(100))
    in_reply_to: Mapped[str | None] = mapped_column(String(100))
    received_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("chatbot_id", "carrier_message_id", name="uq_inbound_carrier_id"),
        Index("ix_inbound_tenant_received", "tenant_id", "received_at"),
        Index("ix_inbound_sender", "tenant_id", "sender"),
    )


class CallbackDelivery(TenantBase):
    __tablename__ = "callback_deliveries"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    business_id: Mapped[str] = mapped_column(Id)
    url: Mapped[str] = mapped_column(String(1000))
    event_type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(20))  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_callbacks_tenant_created", "tenant_id", "created_at"),)


# ---- materials and templates ------------------------------------------------------------------


class Material(TenantBase):
    """An uploaded file of a business's library; the bytes live in the file store under `storage_key`."""

    __tablename__ = "materials"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    business_id: Mapped[str] = mapped_column(Id)
    kind: Mapped[str] = mapped_column(String(20))  # domain.media.MaterialKind
    name: Mapped[str] = mapped_column(String(200))
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    thumbnail_key: Mapped[str | None] = mapped_column(String(300))
    thumbnail_content_type: Mapped[str | None] = mapped_column(String(100))
    thumbnail_size: Mapped[int | None] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    probe_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_materials_business", "tenant_id", "business_id", "created_at"),)


class MaterialSync(TenantBase):
    """A material's copy on one chatbot account: its state there and the URL its carrier serves it under."""

    __tablename__ = "material_syncs"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    material_id: Mapped[str] = mapped_column(Id)
    chatbot_id: Mapped[str] = mapped_column(Id)
    channel_id: Mapped[str] = mapped_column(Id)
    state: Mapped[str] = mapped_column(String(20))  # domain.media.SyncState
    url: Mapped[str | None] = mapped_column(String(1000))
    thumbnail_url: Mapped[str | None] = mapped_column(String(1000))
    until: Mapped[datetime | None]
    delete_ref: Mapped[str | None] = mapped_column(String(1000))
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # A re-upload before `until` is under way: the current URL stays in use until it is approved.
    refreshing: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("material_id", "chatbot_id", name="uq_material_sync"),
        Index("ix_material_syncs_chatbot", "tenant_id", "chatbot_id", "state"),
        Index("ix_material_syncs_until", "state", "until"),
    )


class MediaUploadRow(TenantBase):
    """One upload of a material to one chatbot (the first, or a refresh), until its audit settles."""

    __tablename__ = "media_uploads"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    sync_id: Mapped[str] = mapped_column(Id, index=True)
    state: Mapped[str] = mapped_column(String(20))  # pending | approved | rejected
    url: Mapped[str] = mapped_column(String(1000))
    thumbnail_url: Mapped[str | None] = mapped_column(String(1000))
    until: Mapped[datetime | None]
    delete_ref: Mapped[str | None] = mapped_column(String(1000))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class MediaAuditRef(TenantBase):
    """The name a carrier's audit result gives an upload (CMCC tid, a CT/CU URL, an aggregator id)."""

    __tablename__ = "media_audit_refs"
    chatbot_id: Mapped[str] = mapped_column(Id, primary_key=True)
    audit_ref: Mapped[str] = mapped_column(String(1000), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    upload_id: Mapped[str] = mapped_column(Id, index=True)
    approved: Mapped[bool | None] = mapped_column(Boolean)


class Template(TenantBase):
    __tablename__ = "templates"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    business_id: Mapped[str] = mapped_column(Id)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_templates_business", "tenant_id", "business_id"),)


class TemplateVersion(TenantBase):
    """One edit of a template; editing an approved version makes a new one that is audited again."""

    __tablename__ = "template_versions"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    template_id: Mapped[str] = mapped_column(Id)
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict[str, Any]]
    review_state: Mapped[str] = mapped_column(String(20))  # draft | in_review | approved | rejected
    created_by: Mapped[str] = mapped_column(String(100))
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    review_note: Mapped[str | None] = mapped_column(Text)
    reviewed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("template_id", "version", name="uq_template_version"),)


class TemplateChannelState(TenantBase):
    """A template version's audit on one chatbot account (so per channel)."""

    __tablename__ = "template_channel_states"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    template_id: Mapped[str] = mapped_column(Id)
    version_id: Mapped[str] = mapped_column(Id)
    version: Mapped[int] = mapped_column(Integer)
    chatbot_id: Mapped[str] = mapped_column(Id)
    channel_id: Mapped[str] = mapped_column(Id)
    # waiting_materials | submitted | approved | rejected | superseded | disabled | failed
    state: Mapped[str] = mapped_column(String(20))
    carrier_template_id: Mapped[str | None] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("version_id", "chatbot_id", name="uq_template_channel_state"),
        Index("ix_template_states_template", "tenant_id", "template_id", "chatbot_id"),
        Index("ix_template_states_carrier_id", "chatbot_id", "carrier_template_id"),
    )


class SensitiveWord(TenantBase):
    """A tenant's own sensitive word; the platform's list is `platform_sensitive_words`."""

    __tablename__ = "sensitive_words"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id, index=True)
    word: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(10))  # block | mask
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("tenant_id", "word", name="uq_sensitive_word"),)


class PlatformSensitiveWord(PlatformBase):
    __tablename__ = "platform_sensitive_words"
    word: Mapped[str] = mapped_column(String(100), primary_key=True)
    action: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]


ALL_METADATA = (PlatformBase.metadata, TenantBase.metadata)


# ---- chatbot directory (storage/directory_repository.py explains the design) -------------------



class DirectoryEntryRow(PlatformBase):
    """One chatbot as the public directory shows it. Platform-wide, as the directory crosses tenants;
    `id` is a compact document number the term postings refer to."""

    __tablename__ = "directory_entries"
    id: Mapped[int] = mapped_column(AutoId, primary_key=True, autoincrement=True)
    profile_id: Mapped[str] = mapped_column(Id, unique=True)
    tenant_id: Mapped[str] = mapped_column(Id, index=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(40))
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    carriers: Mapped[list[str]] = mapped_column(JSON, default=list)  # cmcc | ctcc | cucc | aggregator ...
    status: Mapped[str] = mapped_column(String(20))
    published: Mapped[bool] = mapped_column(Boolean)  # live on at least one carrier: visible to everyone
    sms_number: Mapped[str | None] = mapped_column(String(30))
    chatbot_uri: Mapped[str | None] = mapped_column(String(300))
    logo_url: Mapped[str | None] = mapped_column(String(1000))
    updated_at: Mapped[datetime]

    # For searches whose filters few chatbots pass: those are looked at one by one instead.
    __table_args__ = (
        Index("ix_directory_entries_category", "category", "status"),
        Index("ix_directory_entries_status", "status"),
    )


class DirectoryTerm(PlatformBase):
    """A posting: `term` occurs in entry `doc_id`, with the entry's rank for a query of that term alone
    (`score`) and copies of what searches filter on, so a walk of one term's postings in rank order
    needs nothing else: on SQLite the table is WITHOUT ROWID, clustered on its primary key (term,
    score, doc_id); on PostgreSQL that key's index INCLUDEs the filter columns, for index-only scans."""

    __tablename__ = "directory_terms"
    term: Mapped[str] = mapped_column(String(32))
    score: Mapped[int] = mapped_column(Integer, autoincrement=False)
    doc_id: Mapped[int] = mapped_column(AutoId, autoincrement=False)
    owner_tenant_id: Mapped[str | None] = mapped_column(Id)  # None: published; else only this tenant sees it
    category: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    carriers: Mapped[str] = mapped_column(String(200))  # ",cmcc,ctcc,"

    __table_args__ = (
        PrimaryKeyConstraint("term", "score", "doc_id", name="pk_directory_terms",
                             postgresql_include=["owner_tenant_id", "category", "status", "carriers"]),
        UniqueConstraint("doc_id", "term", name="uq_directory_terms_doc"),  # intersections and re-indexing
        {"sqlite_with_rowid": False},
    )


class EnterpriseDocument(TenantBase):
    """A file of the tenant's enterprise filing (licence scan, identity card, contract); kept in the
    file store, sent only to the carriers it registers with, never synced like a material."""

    __tablename__ = "enterprise_documents"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id, index=True)
    kind: Mapped[str] = mapped_column(String(20))  # domain.applications.DocumentKind
    file_name: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(300))
    created_at: Mapped[datetime]


class Enterprise(TenantBase):
    """The tenant's enterprise record (domain.applications.EnterpriseRecord), one per tenant."""

    __tablename__ = "enterprises"
    tenant_id: Mapped[str] = mapped_column(Id, primary_key=True)
    record: Mapped[dict[str, Any]]
    version: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class CarrierCustomer(TenantBase):
    """The tenant's enterprise as one channel's carrier registers it (§3.4 cspCustomer)."""

    __tablename__ = "carrier_customers"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    channel_id: Mapped[str] = mapped_column(Id)
    state: Mapped[str] = mapped_column(String(20))  # domain.applications.ApplicationState
    carrier_ref: Mapped[str | None] = mapped_column(String(100))  # cspEcNo
    reason: Mapped[str | None] = mapped_column(Text)
    record_version: Mapped[int] = mapped_column(Integer)  # the enterprise version filed
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("tenant_id", "channel_id", name="uq_carrier_customers_channel"),)


class ChatbotApplication(TenantBase):
    """A chatbot applied for on one channel's carrier (§3.4 addChatbot ... updateDeveloper); once live it
    is an ordinary carrier account (`chatbot_id`)."""

    __tablename__ = "chatbot_applications"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    business_id: Mapped[str] = mapped_column(Id)
    channel_id: Mapped[str] = mapped_column(Id)
    profile_id: Mapped[str] = mapped_column(Id)
    profile_version: Mapped[int | None] = mapped_column(Integer)  # the version filed
    request: Mapped[dict[str, Any]]  # domain.applications.ChatbotApplicationRequest
    state: Mapped[str] = mapped_column(String(20))
    carrier_ref: Mapped[str | None] = mapped_column(String(100))  # accessTagNo
    reason: Mapped[str | None] = mapped_column(Text)
    # The developer credentials once issued, sealed, kept until the account exists (a crash between
    # the carrier's answer and the account must not lose them: updateDeveloper issues new ones).
    credentials_sealed: Mapped[str | None] = mapped_column(Text)
    chatbot_id: Mapped[str | None] = mapped_column(Id)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_chatbot_applications_business", "tenant_id", "business_id", "created_at"),)


# ---- capacity (services/capacity.py) ---------------------------------------------------------------


class PriceRule(TenantBase):
    """A line of the tenant's price plan (domain.capacity.PriceSpec)."""

    __tablename__ = "price_rules"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    content_kind: Mapped[str] = mapped_column(String(20))
    channel_type: Mapped[str] = mapped_column(String(40))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("tenant_id", "content_kind", "channel_type", name="uq_price_rule"),)


class CapacityCap(TenantBase):
    """A cap (domain.capacity.CapSpec) on a tenant, one of its businesses or one of its templates."""

    __tablename__ = "capacity_caps"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id, index=True)
    name: Mapped[str | None] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(20))
    scope_id: Mapped[str | None] = mapped_column(Id)
    metric: Mapped[str] = mapped_column(String(10))
    period: Mapped[str] = mapped_column(String(10))
    limit: Mapped[int] = mapped_column(BigInteger)
    window_start: Mapped[date | None] = mapped_column(Date)
    window_end: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]


class CapacityUsage(TenantBase):
    """One cap's ledger for one period: what accepted messages hold (reserved), what rated ones cost
    (charged), and what was refused. Changed only under a row lock or by conditional updates."""

    __tablename__ = "capacity_usage"
    cap_id: Mapped[str] = mapped_column(Id, primary_key=True)
    period_key: Mapped[str] = mapped_column(String(30), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    charged: Mapped[int] = mapped_column(BigInteger, default=0)
    refused: Mapped[int] = mapped_column(BigInteger, default=0)


class Charge(TenantBase):
    """A billable event, written once: the message reached the carrier (downlink) or its SMS fallback did."""

    __tablename__ = "charges"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    business_id: Mapped[str] = mapped_column(Id)
    message_id: Mapped[str] = mapped_column(Id)
    template_id: Mapped[str | None] = mapped_column(Id)
    event: Mapped[str] = mapped_column(String(20))  # downlink | fallback_sms
    channel_type: Mapped[str] = mapped_column(String(40))
    content_kind: Mapped[str] = mapped_column(String(20))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("message_id", "event", name="uq_charge_event"),
        Index("ix_charges_tenant_created", "tenant_id", "created_at"),
    )


class BusinessGrant(TenantBase):
    """A business's application to use another business's template or chatbot in its tenant, and the
    decision on it (services/grants.py). What a business owns it may use without one."""

    __tablename__ = "business_grants"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    business_id: Mapped[str] = mapped_column(Id)  # who asks
    resource_type: Mapped[str] = mapped_column(String(20))  # template | chatbot
    resource_id: Mapped[str] = mapped_column(Id)
    state: Mapped[str] = mapped_column(String(20))  # pending | approved | rejected | revoked
    note: Mapped[str | None] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    decided_by: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_business_grants_lookup", "tenant_id", "business_id", "resource_type", "resource_id"),)


class AuditEntry(PlatformBase):
    """One line of the audit log (services/audit.py). Platform-wide, as operators act across tenants;
    a tenant reads the lines of its own `tenant_id`."""

    __tablename__ = "audit_log"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(Id)
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(200))
    route: Mapped[str | None] = mapped_column(String(300))  # "METHOD /declared/path" of the request
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(200))
    before: Mapped[Any | None] = mapped_column(JSON)
    after: Mapped[Any | None] = mapped_column(JSON)
    ip: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime]

    __table_args__ = (Index("ix_audit_log_tenant_at", "tenant_id", "at"),)


# ---- alerts (services/alerts.py) -----------------------------------------------------------------


class AlertRuleRow(PlatformBase):
    """A rule (domain.alerts.AlertRuleSpec) of a tenant, or of the platform when `tenant_id` is None."""

    __tablename__ = "alert_rules"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(Id, index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(30))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    spec: Mapped[dict[str, Any]]
    webhook_secret_sealed: Mapped[str] = mapped_column(Text)  # signs what goes to its webhooks
    # The last channel_health_events id this rule has looked at; moved by compare-and-set, so that of
    # several processes exactly one handles each event.
    event_cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AlertRow(PlatformBase):
    """One alert: a rule's signal about one subject, from raised to resolved."""

    __tablename__ = "alerts"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(Id)
    rule_id: Mapped[str] = mapped_column(Id)
    kind: Mapped[str] = mapped_column(String(30))
    severity: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(String(300))  # what it is about, e.g. "cap:<id>:2026-12:80"
    # `subject` while the alert may absorb repeats; None once a condition's alert resolved. Unique per
    # rule, so two processes that see one signal raise one alert (an event's keeps it for good).
    open_subject: Mapped[str | None] = mapped_column(String(300))
    title: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(20))  # domain.alerts.AlertState
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[datetime]
    last_at: Mapped[datetime]
    acknowledged_by: Mapped[str | None] = mapped_column(String(320))
    acknowledged_at: Mapped[datetime | None]
    resolved_by: Mapped[str | None] = mapped_column(String(320))  # None with resolved_at: it cleared
    resolved_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("rule_id", "open_subject", name="uq_alerts_open_subject"),
        Index("ix_alerts_tenant_first", "tenant_id", "first_at"),
        Index("ix_alerts_rule_subject", "rule_id", "subject"),
    )


class AlertNotificationRow(PlatformBase):
    """One alert sent, or held back, to one webhook or e-mail address."""

    __tablename__ = "alert_notifications"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    alert_id: Mapped[str] = mapped_column(Id, index=True)
    tenant_id: Mapped[str | None] = mapped_column(Id)
    channel: Mapped[str] = mapped_column(String(10))  # webhook | email
    target: Mapped[str] = mapped_column(String(1000))
    state: Mapped[str] = mapped_column(String(20))  # domain.alerts.NotificationState
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


# ---- conversations (services/conversations.py, services/auto_reply.py) ------------------------------


class Contact(TenantBase):
    """A number the tenant talks to: attributes (name, customer id...) and tags, read and set by rules."""

    __tablename__ = "contacts"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    number: Mapped[str] = mapped_column(String(20))  # E.164
    attributes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Unsubscribed from the tenant's marketing (an uplink 退订/TD/T/STOP); marketing sends to it are refused.
    opted_out_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("tenant_id", "number", name="uq_contacts_number"),)


class Conversation(TenantBase):
    """One chatbot and one number: the state a flow keeps, and who answers (the rules, or a person)."""

    __tablename__ = "conversations"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    business_id: Mapped[str] = mapped_column(Id)
    chatbot_id: Mapped[str] = mapped_column(Id)
    number: Mapped[str] = mapped_column(String(20))
    state: Mapped[str | None] = mapped_column(String(100))
    mode: Mapped[str] = mapped_column(String(20))  # bot | waiting | agent (domain.conversations.Mode)
    agent_id: Mapped[str | None] = mapped_column(Id)  # the admin user who has it
    team: Mapped[str | None] = mapped_column(String(50))  # waiting for an agent of this team only
    uplinks: Mapped[int] = mapped_column(Integer, default=0)
    last_inbound_id: Mapped[str | None] = mapped_column(Id)  # so that a retried job counts its uplink once
    last_uplink_at: Mapped[datetime | None]
    handed_over_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("chatbot_id", "number", name="uq_conversations_pair"),
        Index("ix_conversations_tenant_updated", "tenant_id", "updated_at"),
    )


class ConversationNote(TenantBase):
    """What happened in a conversation besides its messages: rules that ran, a reply that failed, a handover."""

    __tablename__ = "conversation_notes"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    conversation_id: Mapped[str] = mapped_column(Id, index=True)
    kind: Mapped[str] = mapped_column(String(30))
    text: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    at: Mapped[datetime]


class AutoReplyRule(TenantBase):
    """A rule (domain.rules.RuleSpec) on one chatbot's uplinks."""

    __tablename__ = "auto_reply_rules"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id)
    business_id: Mapped[str] = mapped_column(Id)
    chatbot_id: Mapped[str] = mapped_column(Id, index=True)
    name: Mapped[str] = mapped_column(String(100))
    priority: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AgentState(TenantBase):
    """An admin user as a customer-service agent: online or away, how many conversations they take at once,
    their team."""

    __tablename__ = "agent_states"
    user_id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id, index=True)
    status: Mapped[str] = mapped_column(String(10))  # online | away
    max_open: Mapped[int] = mapped_column(Integer, default=5)
    team: Mapped[str | None] = mapped_column(String(50))
    updated_at: Mapped[datetime]


class CannedReply(TenantBase):
    """A reply agents pick instead of typing it."""

    __tablename__ = "canned_replies"
    id: Mapped[str] = mapped_column(Id, primary_key=True)
    tenant_id: Mapped[str] = mapped_column(Id, index=True)
    title: Mapped[str] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
