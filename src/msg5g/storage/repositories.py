"""Repositories: every query the platform runs.

Tenant-owned repositories take the tenant id in their constructor and apply it to every statement
in one place (`_where_tenant`), so no caller can forget it; a second tenant's id never reads or
changes the first tenant's rows. `PlatformRepository` holds the few deliberately cross-tenant
lookups (credentials, channels, the carrier chatbot index), each resolving *to* a tenant.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.storage.tables import (
    AdminUser,
    ApiKey,
    Business,
    CallbackDelivery,
    CarrierChatbotIndex,
    Channel,
    ChannelHealthEvent,
    Chatbot,
    ChatbotProfileRow,
    ChatbotRoute,
    DeliveryAttempt,
    EarlyStatusReport,
    H5Link,
    InboundMessageRow,
    Material,
    MaterialSync,
    MediaAuditRef,
    MediaUploadRow,
    Message,
    MessageEvent,
    NumberFact,
    OperatorKey,
    PlatformSensitiveWord,
    SensitiveWord,
    Submission,
    Template,
    TemplateChannelState,
    TemplateVersion,
    Tenant,
    TenantBase,
    core_table,
)

RowT = TypeVar("RowT", bound=TenantBase)


class AttemptIndex(dict[str, DeliveryAttempt]):
    """Attempts by carrier message id (the latest for each), and by (id, recipient) for the group
    sends where one carrier id names a request to many recipients."""

    def __init__(self, attempts: Iterable[DeliveryAttempt] = ()) -> None:
        super().__init__()
        self._by_recipient: dict[tuple[str, str], DeliveryAttempt] = {}
        for attempt in attempts:  # oldest first: later ones win
            self.add(attempt.carrier_message_id or "", attempt)

    def add(self, carrier_message_id: str, attempt: DeliveryAttempt) -> None:
        """Index an attempt under a carrier id (one it has just been given, say)."""
        self[carrier_message_id] = attempt
        if attempt.recipient:
            self._by_recipient[(carrier_message_id, attempt.recipient)] = attempt

    def attempts(self) -> list[DeliveryAttempt]:
        return list({id(a): a for a in (*self.values(), *self._by_recipient.values())}.values())

    def for_report(self, carrier_message_id: str, recipient: str | None) -> DeliveryAttempt | None:
        if recipient is not None:
            found = self._by_recipient.get((carrier_message_id, recipient))
            if found is not None:
                return found
        return self.get(carrier_message_id)


class PlatformRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, row: Tenant | ApiKey | OperatorKey | AdminUser | Channel | CarrierChatbotIndex
                  | NumberFact | H5Link) -> None:
        self.session.add(row)
        await self.session.flush()

    async def tenant(self, tenant_id: str) -> Tenant | None:
        return await self.session.get(Tenant, tenant_id)

    async def tenants(self) -> Sequence[Tenant]:
        return (await self.session.scalars(select(Tenant).order_by(Tenant.created_at))).all()

    async def api_key_by_prefix(self, prefix: str) -> ApiKey | None:
        return await self.session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))

    async def h5_link(self, token: str) -> H5Link | None:
        return await self.session.get(H5Link, token)

    async def h5_link_of_message(self, tenant_id: str, message_id: str) -> H5Link | None:
        return await self.session.scalar(select(H5Link).where(H5Link.tenant_id == tenant_id,
                                                              H5Link.message_id == message_id))

    async def number_fact(self, number: str) -> NumberFact | None:
        return await self.session.get(NumberFact, number)

    async def number_fact_to_change(self, number: str, now: datetime) -> NumberFact:
        """The number's facts, made empty first if nothing was known of it."""
        fact = await self.number_fact(number)
        if fact is None:
            fact = NumberFact(number=number, not_carriers=[], updated_at=now)
            await self.add(fact)
        return fact

    async def number_facts(self, numbers: Iterable[str]) -> Sequence[NumberFact]:
        return (await self.session.scalars(select(NumberFact).where(NumberFact.number.in_(list(numbers))))).all()

    async def delete_number_fact(self, number: str) -> bool:
        result = await self.session.execute(delete(NumberFact).where(NumberFact.number == number))
        return bool(getattr(result, "rowcount", 0))

    async def channel_health_events(self, channel_id: str, limit: int = 20) -> Sequence[ChannelHealthEvent]:
        statement = select(ChannelHealthEvent).where(ChannelHealthEvent.channel_id == channel_id)
        return (await self.session.scalars(statement.order_by(ChannelHealthEvent.id.desc()).limit(limit))).all()

    async def operator_key_by_prefix(self, prefix: str) -> OperatorKey | None:
        return await self.session.scalar(select(OperatorKey).where(OperatorKey.prefix == prefix))

    async def chatbot_tenant(self, chatbot_id: str) -> str | None:
        """Whose chatbot account this is (the operator's view of one account, by our id)."""
        return await self.session.scalar(
            select(CarrierChatbotIndex.tenant_id).where(CarrierChatbotIndex.chatbot_id == chatbot_id))

    async def platform_words(self) -> Sequence[PlatformSensitiveWord]:
        return (await self.session.scalars(select(PlatformSensitiveWord).order_by(PlatformSensitiveWord.word))).all()

    async def add_platform_word(self, row: PlatformSensitiveWord) -> None:
        await self.session.merge(row)

    async def remove_platform_word(self, word: str) -> int:
        result = await self.session.execute(delete(PlatformSensitiveWord).where(PlatformSensitiveWord.word == word))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def channel(self, channel_id: str) -> Channel | None:
        return await self.session.get(Channel, channel_id)

    async def channels(self) -> Sequence[Channel]:
        return (await self.session.scalars(select(Channel).order_by(Channel.created_at))).all()

    async def chatbot_owner(self, channel_id: str, carrier_chatbot_id: str) -> CarrierChatbotIndex | None:
        return await self.session.get(CarrierChatbotIndex, (channel_id, carrier_chatbot_id))

    async def admin_user_by_email(self, email: str) -> AdminUser | None:
        return await self.session.scalar(select(AdminUser).where(AdminUser.email == email.lower()))

    async def admin_user(self, user_id: str) -> AdminUser | None:
        return await self.session.get(AdminUser, user_id)


class _TenantScoped:
    def __init__(self, session: AsyncSession, tenant_id: str) -> None:
        if not tenant_id:
            raise ValueError("a tenant-scoped repository needs a tenant id")
        self.session = session
        self.tenant_id = tenant_id

    def _where_tenant(self, statement: Select[RowT], table: type[RowT]) -> Select[RowT]:
        return statement.where(table.tenant_id == self.tenant_id)  # type: ignore[attr-defined]

    async def _get(self, table: type[RowT], row_id: str) -> RowT | None:
        statement = self._where_tenant(select(table), table).where(table.id == row_id)  # type: ignore[attr-defined]
        row: RowT | None = await self.session.scalar(statement)
        return row

    async def _add(self, row: TenantBase) -> None:
        if row.tenant_id != self.tenant_id:  # type: ignore[attr-defined]
            raise ValueError("row belongs to another tenant")
        self.session.add(row)
        await self.session.flush()


class BusinessRepository(_TenantScoped):
    async def add(self, business: Business) -> None:
        await self._add(business)

    async def get(self, business_id: str) -> Business | None:
        return await self._get(Business, business_id)

    async def all(self) -> Sequence[Business]:
        statement = self._where_tenant(select(Business), Business).order_by(Business.name)
        return (await self.session.scalars(statement)).all()


class ChatbotRepository(_TenantScoped):
    async def add(self, chatbot: Chatbot) -> None:
        await self._add(chatbot)

    async def get(self, chatbot_id: str) -> Chatbot | None:
        return await self._get(Chatbot, chatbot_id)

    async def all(self) -> Sequence[Chatbot]:
        return (await self.session.scalars(self._where_tenant(select(Chatbot), Chatbot).order_by(Chatbot.name))).all()


class ChatbotProfileRepository(_TenantScoped):
    async def add(self, row: ChatbotProfileRow) -> None:
        await self._add(row)

    async def get(self, profile_id: str) -> ChatbotProfileRow | None:
        return await self._get(ChatbotProfileRow, profile_id)

    async def of_business(self, business_id: str) -> Sequence[ChatbotProfileRow]:
        statement = self._where_tenant(select(ChatbotProfileRow), ChatbotProfileRow).where(
            ChatbotProfileRow.business_id == business_id)
        return (await self.session.scalars(statement.order_by(ChatbotProfileRow.created_at))).all()

    async def accounts(self, profile_id: str) -> Sequence[Chatbot]:
        statement = self._where_tenant(select(Chatbot), Chatbot).where(Chatbot.profile_id == profile_id)
        return (await self.session.scalars(statement.order_by(Chatbot.created_at))).all()


class MessageRepository(_TenantScoped):
    async def add_submissions(self, submissions: list[dict[str, Any]], messages: list[dict[str, Any]]) -> None:
        """Bulk insert for a group of accepted requests of this tenant."""
        if any(row["tenant_id"] != self.tenant_id for row in [*submissions, *messages]):
            raise ValueError("rows belong to another tenant")
        # Core inserts on the tables: the ORM's bulk path adds per-row bookkeeping we do not need.
        await self.session.execute(insert(core_table(Submission)), submissions)
        await self.session.execute(insert(core_table(Message)), messages)

    async def submission_by_client_id(self, business_id: str, client_message_id: str) -> Submission | None:
        statement = self._where_tenant(select(Submission), Submission).where(
            Submission.business_id == business_id, Submission.client_message_id == client_message_id
        )
        return await self.session.scalar(statement)

    async def submission(self, submission_id: str) -> Submission | None:
        return await self._get(Submission, submission_id)

    async def submissions(self, submission_ids: Iterable[str]) -> dict[str, Submission]:
        statement = self._where_tenant(select(Submission), Submission).where(Submission.id.in_(set(submission_ids)))
        return {row.id: row for row in await self.session.scalars(statement)}

    async def messages_of_submission(self, submission_id: str) -> Sequence[Message]:
        statement = self._where_tenant(select(Message), Message).where(Message.submission_id == submission_id)
        return (await self.session.scalars(statement.order_by(Message.id))).all()

    async def get(self, message_id: str) -> Message | None:
        return await self._get(Message, message_id)

    async def many(self, message_ids: Iterable[str]) -> list[Message]:
        statement = self._where_tenant(select(Message), Message).where(Message.id.in_(list(message_ids)))
        return list(await self.session.scalars(statement))

    async def page(
        self,
        *,
        limit: int,
        before_id: str | None = None,
        status: str | None = None,
        business_id: str | None = None,
        recipient: str | None = None,
        chatbot_id: str | None = None,
        business_ids: Collection[str] | None = None,
    ) -> Sequence[Message]:
        """`business_ids`: only these businesses' (a user limited to some of them)."""
        statement = self._where_tenant(select(Message), Message)
        if before_id:
            statement = statement.where(Message.id < before_id)
        if status:
            statement = statement.where(Message.status == status)
        if business_id:
            statement = statement.where(Message.business_id == business_id)
        if business_ids is not None:
            statement = statement.where(Message.business_id.in_(business_ids))
        if recipient:
            statement = statement.where(Message.recipient == recipient)
        if chatbot_id:
            statement = statement.where(Message.chatbot_id == chatbot_id)
        return (await self.session.scalars(statement.order_by(Message.id.desc()).limit(limit))).all()

    async def count_by_status(self) -> dict[str, int]:
        statement = (
            select(Message.status, func.count())
            .where(Message.tenant_id == self.tenant_id)
            .group_by(Message.status)
        )
        return {status: count for status, count in (await self.session.execute(statement)).all()}

    async def set_status(self, message_ids: Sequence[str], status: str, reason: str | None, at: datetime) -> None:
        if not message_ids:
            return
        await self.session.execute(
            update(Message)
            .where(Message.tenant_id == self.tenant_id, Message.id.in_(list(message_ids)))
            .values(status=status, status_reason=reason, updated_at=at)
            # The rows may be loaded in this session; re-evaluating the criteria against every
            # loaded object was the most expensive step of a status update.
            .execution_options(synchronize_session=False)
        )

    async def add_events(self, events: list[dict[str, Any]]) -> None:
        if not events:
            return
        if any(row["tenant_id"] != self.tenant_id for row in events):
            raise ValueError("event rows belong to another tenant")
        await self.session.execute(insert(core_table(MessageEvent)), events)

    async def events(self, message_id: str) -> Sequence[MessageEvent]:
        statement = select(MessageEvent).where(
            MessageEvent.tenant_id == self.tenant_id, MessageEvent.message_id == message_id
        )
        return (await self.session.scalars(statement.order_by(MessageEvent.id))).all()

    async def attempts(self, message_ids: Iterable[str]) -> list[DeliveryAttempt]:
        statement = self._where_tenant(select(DeliveryAttempt), DeliveryAttempt).where(
            DeliveryAttempt.message_id.in_(list(message_ids))
        )
        return list(await self.session.scalars(statement.order_by(DeliveryAttempt.created_at)))

    async def add_attempts(self, attempts: list[DeliveryAttempt]) -> None:
        for attempt in attempts:
            if attempt.tenant_id != self.tenant_id:
                raise ValueError("attempt belongs to another tenant")
        self.session.add_all(attempts)
        await self.session.flush()

    async def update_attempts(self, rows: list[dict[str, Any]], *, only_state: str | None = None) -> None:
        """Bulk update by primary key; each row has `id` and the columns to set. With `only_state`,
        rows whose attempt has meanwhile left that state are left alone."""
        if not rows:
            return
        statement = update(DeliveryAttempt).where(DeliveryAttempt.tenant_id == self.tenant_id)
        if only_state is not None:
            statement = statement.where(DeliveryAttempt.state == only_state)
        await self.session.execute(statement, rows, execution_options={"synchronize_session": None})

    async def attempts_by_carrier_ids(self, chatbot_id: str, carrier_message_ids: Iterable[str]) -> AttemptIndex:
        """The attempts carrying these carrier message ids (several share one in a group send)."""
        statement = self._where_tenant(select(DeliveryAttempt), DeliveryAttempt).where(
            DeliveryAttempt.chatbot_id == chatbot_id, DeliveryAttempt.carrier_message_id.in_(list(carrier_message_ids))
        )
        return AttemptIndex(await self.session.scalars(statement.order_by(DeliveryAttempt.created_at)))

    async def add_early_reports(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(EarlyStatusReport), [{"tenant_id": self.tenant_id, **r} for r in rows])

    async def take_early_reports(self, chatbot_id: str, carrier_message_ids: Iterable[str]) -> list[EarlyStatusReport]:
        """The reports waiting for these carrier ids, removed as they are taken."""
        ids = list(carrier_message_ids)
        if not ids:
            return []
        statement = self._where_tenant(select(EarlyStatusReport), EarlyStatusReport).where(
            EarlyStatusReport.chatbot_id == chatbot_id, EarlyStatusReport.carrier_message_id.in_(ids))
        reports = list(await self.session.scalars(statement.order_by(EarlyStatusReport.occurred_at)))
        if reports:
            await self.session.execute(delete(EarlyStatusReport).where(
                EarlyStatusReport.tenant_id == self.tenant_id,
                EarlyStatusReport.id.in_([r.id for r in reports])))
        return reports

    async def prune_early_reports(self, received_before: datetime) -> None:
        """Reports no send answer ever claimed (another system's messages, or a lost answer)."""
        await self.session.execute(delete(EarlyStatusReport).where(
            EarlyStatusReport.tenant_id == self.tenant_id, EarlyStatusReport.received_at < received_before))

    async def attempt_by_carrier_id(self, chatbot_id: str, carrier_message_id: str) -> DeliveryAttempt | None:
        statement = self._where_tenant(select(DeliveryAttempt), DeliveryAttempt).where(
            DeliveryAttempt.chatbot_id == chatbot_id, DeliveryAttempt.carrier_message_id == carrier_message_id
        )
        return await self.session.scalar(statement.order_by(DeliveryAttempt.created_at.desc()).limit(1))


class RouteRepository(_TenantScoped):
    async def of_chatbot(self, chatbot_id: str) -> Sequence[ChatbotRoute]:
        statement = self._where_tenant(select(ChatbotRoute), ChatbotRoute).where(ChatbotRoute.chatbot_id == chatbot_id)
        return (await self.session.scalars(statement.order_by(ChatbotRoute.priority, ChatbotRoute.created_at))).all()

    async def replace(self, chatbot_id: str, routes: list[ChatbotRoute]) -> None:
        await self.session.execute(delete(ChatbotRoute).where(ChatbotRoute.tenant_id == self.tenant_id,
                                                              ChatbotRoute.chatbot_id == chatbot_id))
        for route in routes:
            await self._add(route)


class InboundRepository(_TenantScoped):
    async def add(self, row: InboundMessageRow) -> None:
        await self._add(row)

    async def by_carrier_id(self, chatbot_id: str, carrier_message_id: str) -> InboundMessageRow | None:
        statement = self._where_tenant(select(InboundMessageRow), InboundMessageRow).where(
            InboundMessageRow.chatbot_id == chatbot_id, InboundMessageRow.carrier_message_id == carrier_message_id
        )
        return await self.session.scalar(statement)

    async def get(self, inbound_id: str) -> InboundMessageRow | None:
        return await self._get(InboundMessageRow, inbound_id)

    async def recent(self, *, limit: int, business_id: str | None = None) -> Sequence[InboundMessageRow]:
        statement = self._where_tenant(select(InboundMessageRow), InboundMessageRow)
        if business_id:
            statement = statement.where(InboundMessageRow.business_id == business_id)
        return (await self.session.scalars(statement.order_by(InboundMessageRow.received_at.desc()).limit(limit))).all()


class CallbackRepository(_TenantScoped):
    async def add_many(self, rows: list[CallbackDelivery]) -> None:
        for row in rows:
            if row.tenant_id != self.tenant_id:
                raise ValueError("callback belongs to another tenant")
        self.session.add_all(rows)
        await self.session.flush()

    async def get(self, delivery_id: str) -> CallbackDelivery | None:
        return await self._get(CallbackDelivery, delivery_id)

    async def recent(self, *, limit: int, state: str | None = None) -> Sequence[CallbackDelivery]:
        statement = self._where_tenant(select(CallbackDelivery), CallbackDelivery)
        if state:
            statement = statement.where(CallbackDelivery.state == state)
        return (await self.session.scalars(statement.order_by(CallbackDelivery.created_at.desc()).limit(limit))).all()

    async def record_attempt(
        self, delivery_id: str, *, state: str, attempts: int, last_status: int | None, last_error: str | None,
        delivered_at: datetime | None,
    ) -> None:
        await self.session.execute(
            update(CallbackDelivery)
            .where(CallbackDelivery.tenant_id == self.tenant_id, CallbackDelivery.id == delivery_id)
            .values(state=state, attempts=attempts, last_status=last_status, last_error=last_error,
                    delivered_at=delivered_at)
            .execution_options(synchronize_session=False)
        )


class MaterialRepository(_TenantScoped):
    async def add(self, row: Material | MaterialSync | MediaUploadRow | MediaAuditRef) -> None:
        await self._add(row)

    async def get(self, material_id: str) -> Material | None:
        return await self._get(Material, material_id)

    async def of_business(self, business_id: str, *, limit: int = 200, kind: str | None = None) -> Sequence[Material]:
        statement = self._where_tenant(select(Material), Material).where(
            Material.business_id == business_id, Material.deleted_at.is_(None))
        if kind is not None:
            statement = statement.where(Material.kind == kind)
        return (await self.session.scalars(statement.order_by(Material.created_at.desc()).limit(limit))).all()

    async def live(self) -> Sequence[Material]:
        """Every material of the tenant that is not deleted: what a new chatbot gets."""
        statement = self._where_tenant(select(Material), Material).where(Material.deleted_at.is_(None))
        return (await self.session.scalars(statement)).all()

    async def many(self, material_ids: Iterable[str]) -> dict[str, Material]:
        statement = self._where_tenant(select(Material), Material).where(Material.id.in_(set(material_ids)))
        return {row.id: row for row in await self.session.scalars(statement)}

    async def sync(self, sync_id: str) -> MaterialSync | None:
        return await self._get(MaterialSync, sync_id)

    async def syncs_of(self, material_ids: Iterable[str]) -> Sequence[MaterialSync]:
        statement = self._where_tenant(select(MaterialSync), MaterialSync).where(
            MaterialSync.material_id.in_(set(material_ids)))
        return (await self.session.scalars(statement.order_by(MaterialSync.created_at))).all()

    async def syncs_on(self, chatbot_id: str, material_ids: Iterable[str] | None = None) -> Sequence[MaterialSync]:
        statement = self._where_tenant(select(MaterialSync), MaterialSync).where(MaterialSync.chatbot_id == chatbot_id)
        if material_ids is not None:
            statement = statement.where(MaterialSync.material_id.in_(set(material_ids)))
        return (await self.session.scalars(statement)).all()

    async def sync_counts(self, chatbot_id: str) -> dict[str, int]:
        statement = (select(MaterialSync.state, func.count()).where(
            MaterialSync.tenant_id == self.tenant_id, MaterialSync.chatbot_id == chatbot_id)
            .group_by(MaterialSync.state))
        return {state: count for state, count in (await self.session.execute(statement)).all()}

    async def add_syncs(self, rows: list[dict[str, Any]]) -> None:
        if any(row["tenant_id"] != self.tenant_id for row in rows):
            raise ValueError("rows belong to another tenant")
        if rows:
            await self.session.execute(insert(core_table(MaterialSync)), rows)

    async def upload(self, upload_id: str) -> MediaUploadRow | None:
        return await self._get(MediaUploadRow, upload_id)

    async def audit_ref(self, chatbot_id: str, audit_ref: str) -> MediaAuditRef | None:
        statement = self._where_tenant(select(MediaAuditRef), MediaAuditRef).where(
            MediaAuditRef.chatbot_id == chatbot_id, MediaAuditRef.audit_ref == audit_ref)
        return await self.session.scalar(statement)

    async def refs_of_upload(self, upload_id: str) -> Sequence[MediaAuditRef]:
        statement = self._where_tenant(select(MediaAuditRef), MediaAuditRef).where(MediaAuditRef.upload_id == upload_id)
        return (await self.session.scalars(statement)).all()


class TemplateRepository(_TenantScoped):
    async def add(self, row: Template | TemplateVersion | TemplateChannelState) -> None:
        await self._add(row)

    async def get(self, template_id: str) -> Template | None:
        return await self._get(Template, template_id)

    async def of_business(self, business_id: str) -> Sequence[Template]:
        statement = self._where_tenant(select(Template), Template).where(Template.business_id == business_id)
        return (await self.session.scalars(statement.order_by(Template.created_at.desc()))).all()

    async def all_live(self) -> Sequence[Template]:
        statement = self._where_tenant(select(Template), Template).where(Template.disabled_at.is_(None))
        return (await self.session.scalars(statement)).all()

    async def versions(self, template_id: str) -> Sequence[TemplateVersion]:
        statement = self._where_tenant(select(TemplateVersion), TemplateVersion).where(
            TemplateVersion.template_id == template_id)
        return (await self.session.scalars(statement.order_by(TemplateVersion.version))).all()

    async def version(self, version_id: str) -> TemplateVersion | None:
        return await self._get(TemplateVersion, version_id)

    async def states(self, template_id: str, chatbot_id: str | None = None) -> Sequence[TemplateChannelState]:
        statement = self._where_tenant(select(TemplateChannelState), TemplateChannelState).where(
            TemplateChannelState.template_id == template_id)
        if chatbot_id is not None:
            statement = statement.where(TemplateChannelState.chatbot_id == chatbot_id)
        return (await self.session.scalars(statement.order_by(TemplateChannelState.version))).all()

    async def state(self, state_id: str) -> TemplateChannelState | None:
        return await self._get(TemplateChannelState, state_id)

    async def states_on(self, chatbot_id: str, state: str | None = None) -> Sequence[TemplateChannelState]:
        statement = self._where_tenant(select(TemplateChannelState), TemplateChannelState).where(
            TemplateChannelState.chatbot_id == chatbot_id)
        if state is not None:
            statement = statement.where(TemplateChannelState.state == state)
        return (await self.session.scalars(statement)).all()

    async def state_by_carrier_id(self, chatbot_id: str, carrier_template_id: str) -> TemplateChannelState | None:
        statement = self._where_tenant(select(TemplateChannelState), TemplateChannelState).where(
            TemplateChannelState.chatbot_id == chatbot_id,
            TemplateChannelState.carrier_template_id == carrier_template_id)
        return await self.session.scalar(statement)

    async def state_counts(self, chatbot_id: str) -> dict[str, int]:
        statement = (select(TemplateChannelState.state, func.count()).where(
            TemplateChannelState.tenant_id == self.tenant_id, TemplateChannelState.chatbot_id == chatbot_id)
            .group_by(TemplateChannelState.state))
        return {state: count for state, count in (await self.session.execute(statement)).all()}


class WordRepository(_TenantScoped):
    async def words(self) -> Sequence[SensitiveWord]:
        statement = self._where_tenant(select(SensitiveWord), SensitiveWord).order_by(SensitiveWord.word)
        return (await self.session.scalars(statement)).all()

    async def add(self, row: SensitiveWord) -> None:
        await self._add(row)

    async def remove(self, word: str) -> int:
        result = await self.session.execute(delete(SensitiveWord).where(
            SensitiveWord.tenant_id == self.tenant_id, SensitiveWord.word == word))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
