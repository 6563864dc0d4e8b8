"""Applying for chatbots at the carriers that have a CSP management API (protocols.md §3.4: CT, CU).

Two records move step by step, each step a `carrier-application` job that is retried on its own:

- the tenant's enterprise as each carrier's customer (`carrier_customers`): its documents and record
  filed (submitting), at the carrier's audit (auditing, polled: the reference has no callback for it),
  approved or rejected with the carrier's reason (correct the record, register again);
- a chatbot application (`chatbot_applications`): waiting for the enterprise's approval on that
  carrier, filed with the profile's information and logo (submitting), at audit, brought online,
  given its developer credentials (configuring), and then an ordinary carrier account of the
  business publishing the profile (live).

Where a channel's carrier has no management API (CMCC, aggregators) chatbots are entered by hand
with what the carrier's console issued (services/chatbots.py `register`).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from datetime import datetime
from typing import Any

import filetype
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.channels.base import ChannelAdapter, ChannelEndpoint
from msg5g.content.inspect import FileTooLarge, UnsupportedMedia
from msg5g.domain.applications import (
    DOCUMENT_MAX_BYTES,
    DOCUMENT_TYPES,
    ApplicationState,
    CarrierAudit,
    ChatbotApplicationRequest,
    ChatbotFiling,
    CustomerFiling,
    DocumentFile,
    DocumentKind,
    EnterpriseRecord,
)
from msg5g.domain.errors import (
    ChannelAuthError,
    Conflict,
    NotFound,
    PermanentChannelError,
    TransientChannelError,
    ValidationFailed,
)
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.pipeline.queue import Job, NewJob, RetryLater
from msg5g.services.access import BusinessAccess
from msg5g.services.chatbots import ChatbotCatalog
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory
from msg5g.services.materials import MaterialLibrary, safe_file_name
from msg5g.services.provisioning import Provisioning
from msg5g.storage.application_repository import ApplicationRepository
from msg5g.storage.files import FileStore
from msg5g.storage.repositories import PlatformRepository
from msg5g.storage.tables import CarrierCustomer, Channel, ChatbotApplication, Enterprise, EnterpriseDocument

log = logging.getLogger(__name__)

TOPIC_APPLICATION = "carrier-application"
STEP_MAX_TRIES = 8  # a step the carrier keeps failing is marked failed after this many tries
_MAX_POLL_SECONDS = 3600.0
_HISTORY_LIMIT = 50
_OPEN = {ApplicationState.SUBMITTING, ApplicationState.AUDITING, ApplicationState.APPROVED}
_AGAIN = {ApplicationState.REJECTED, ApplicationState.FAILED}


class Step(BaseModel):
    state: ApplicationState
    at: datetime
    note: str | None = None


class DocumentView(BaseModel):
    id: str
    kind: DocumentKind
    file_name: str
    content_type: str
    size: int
    created_at: datetime


class EnterpriseView(BaseModel):
    version: int
    record: EnterpriseRecord
    updated_at: datetime


class CustomerView(BaseModel):
    """The enterprise's standing with one channel's carrier."""

    id: str
    channel_id: str
    state: ApplicationState
    carrier_ref: str | None
    reason: str | None
    record_version: int
    history: list[Step]
    updated_at: datetime


class ApplicationView(BaseModel):
    id: str
    business_id: str
    channel_id: str
    profile_id: str
    profile_version: int | None
    request: ChatbotApplicationRequest
    state: ApplicationState
    carrier_ref: str | None
    reason: str | None
    chatbot_id: str | None
    history: list[Step]
    created_at: datetime
    updated_at: datetime


def _steps(history: list[dict[str, Any]] | None) -> list[Step]:
    return [Step.model_validate(step) for step in history or []]


def _customer_view(row: CarrierCustomer) -> CustomerView:
    return CustomerView(id=row.id, channel_id=row.channel_id, state=ApplicationState(row.state),
                        carrier_ref=row.carrier_ref, reason=row.reason, record_version=row.record_version,
                        history=_steps(row.history), updated_at=as_utc(row.updated_at))


def _application_view(row: ChatbotApplication) -> ApplicationView:
    return ApplicationView(
        id=row.id, business_id=row.business_id, channel_id=row.channel_id, profile_id=row.profile_id,
        profile_version=row.profile_version, request=ChatbotApplicationRequest.model_validate(row.request),
        state=ApplicationState(row.state), carrier_ref=row.carrier_ref, reason=row.reason, chatbot_id=row.chatbot_id,
        history=_steps(row.history), created_at=as_utc(row.created_at), updated_at=as_utc(row.updated_at))


def _failed_step(row: CarrierCustomer | ChatbotApplication) -> ApplicationState | None:
    """The step a failed record was at, to go on from there (a chatbot already filed is not filed twice)."""
    for step in reversed(row.history or []):
        state = ApplicationState(step["state"])
        if state not in _AGAIN:
            return state if state not in {ApplicationState.WAITING, ApplicationState.SUBMITTING} else None
    return None


def _move(row: CarrierCustomer | ChatbotApplication, state: ApplicationState, note: str | None = None) -> None:
    """A step taken: the state, its reason where it is a refusal, and a line of history."""
    row.state = state.value
    row.reason = note if state in _AGAIN or state is ApplicationState.WAITING else None
    row.updated_at = utcnow()
    row.history = [*(row.history or []), {"state": state.value, "at": row.updated_at.isoformat(), "note": note}][
        -_HISTORY_LIMIT:]


class CarrierApplications:
    def __init__(self, ctx: ServiceContext, directory: Directory, provisioning: Provisioning,
                 chatbots: ChatbotCatalog, materials: MaterialLibrary, files: FileStore) -> None:
        self._ctx = ctx
        self._directory = directory
        self._provisioning = provisioning
        self._chatbots = chatbots
        self._materials = materials
        self._files = files

    # ---- documents and the enterprise record ------------------------------------------------------

    async def upload_document(self, access: BusinessAccess, *, kind: DocumentKind, file_name: str,
                              data: bytes) -> DocumentView:
        if not data:
            raise ValidationFailed("the file is empty", code="empty_file", field="file")
        if len(data) > DOCUMENT_MAX_BYTES:
            raise FileTooLarge(f"a document may be at most {DOCUMENT_MAX_BYTES // (1024 * 1024)} MB", field="file")
        guessed = filetype.guess(data)
        allowed = DOCUMENT_TYPES[kind]
        if guessed is None or guessed.mime not in allowed:
            found = guessed.mime if guessed else "an unknown type"
            raise UnsupportedMedia(f"a {kind.value} document must be one of {', '.join(sorted(allowed))}, "
                                   f"not {found}", field="file")
        document_id = new_id()
        key = f"{access.tenant_id}/documents/{document_id}.{guessed.extension}"
        name = safe_file_name(file_name, guessed.extension)
        row = EnterpriseDocument(id=document_id, tenant_id=access.tenant_id, kind=kind.value, file_name=name,
                                 content_type=guessed.mime, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                                 storage_key=key, created_at=utcnow())
        await self._files.put(key, data)
        try:
            async with self._ctx.db.transaction() as session:
                await ApplicationRepository(session, access.tenant_id).add(row)
        except BaseException:
            await self._files.delete(key)
            raise
        return self._document_view(row)

    async def documents(self, access: BusinessAccess) -> list[DocumentView]:
        async with self._ctx.db.reader() as session:
            return [self._document_view(r) for r in await ApplicationRepository(session, access.tenant_id)
                    .all_documents()]

    @staticmethod
    def _document_view(row: EnterpriseDocument) -> DocumentView:
        return DocumentView(id=row.id, kind=DocumentKind(row.kind), file_name=row.file_name,
                            content_type=row.content_type, size=row.size, created_at=as_utc(row.created_at))

    async def put_enterprise(self, access: BusinessAccess, record: EnterpriseRecord) -> EnterpriseView:
        """The tenant's enterprise record, a new version; carriers get it when it is registered (again)."""
        async with self._ctx.db.transaction() as session:
            repo = ApplicationRepository(session, access.tenant_id)
            found = await repo.documents(set(record.documents().values()))
            for kind, document_id in record.documents().items():
                document = found.get(document_id)
                field = f"{kind.value}_document_id"
                if document is None:
                    raise NotFound(f"no such document {document_id}", code="document_not_found", field=field)
                if document.kind != kind.value:
                    raise ValidationFailed(f"document {document_id} is a {document.kind} document, not a {kind.value} "
                                           "one", code="wrong_document_kind", field=field)
            row = await repo.enterprise(for_update=True)
            now = utcnow()
            if row is None:
                row = Enterprise(tenant_id=access.tenant_id, record=record.model_dump(mode="json"), version=1,
                                 updated_at=now)
                await repo.add(row)
            else:
                row.record, row.version, row.updated_at = record.model_dump(mode="json"), row.version + 1, now
            return EnterpriseView(version=row.version, record=record, updated_at=as_utc(now))

    async def enterprise(self, access: BusinessAccess) -> EnterpriseView:
        async with self._ctx.db.reader() as session:
            row = await ApplicationRepository(session, access.tenant_id).enterprise()
        if row is None:
            raise NotFound("the enterprise record is not entered yet", code="enterprise_not_found")
        return EnterpriseView(version=row.version, record=EnterpriseRecord.model_validate(row.record),
                              updated_at=as_utc(row.updated_at))

    # ---- registration with a carrier ----------------------------------------------------------------

    async def _managed_channel(self, session: AsyncSession, channel_id: str) -> tuple[Channel, ChannelAdapter]:
        channel = await PlatformRepository(session).channel(channel_id)
        if channel is None:
            raise NotFound("no such channel", code="channel_not_found", field="channel_id")
        adapter = self._ctx.adapter(channel.type)
        refusal = adapter.applications_refusal(self._directory.endpoint(channel)) \
            if type(adapter).manages_applications else (
                f"{adapter.display_name} has no management API: enter its chatbots by hand (POST /v1/chatbots) "
                "with the id and credentials the carrier's console issued")
        if refusal:
            raise ValidationFailed(refusal, code="applications_not_supported", field="channel_id")
        return channel, adapter

    async def register(self, access: BusinessAccess, channel_id: str) -> CustomerView:
        """File the enterprise with the channel's carrier (again, after a rejection or failure)."""
        async with self._ctx.db.transaction() as session:
            await self._managed_channel(session, channel_id)
            row = await self._register(session, access.tenant_id, channel_id, again=True)
            return _customer_view(row)

    async def _register(self, session: AsyncSession, tenant_id: str, channel_id: str, *,
                        again: bool) -> CarrierCustomer:
        repo = ApplicationRepository(session, tenant_id)
        enterprise = await repo.enterprise()
        if enterprise is None:
            raise Conflict("enter the enterprise record (PUT /v1/enterprise) before registering with a carrier",
                           code="enterprise_not_found")
        row = await repo.customer_on(channel_id)
        if row is not None:
            state = ApplicationState(row.state)
            if state in _OPEN or not again:
                if again:
                    raise Conflict(f"the enterprise is already {state.value} on this channel",
                                   code="already_registered")
                return row
            row.record_version = enterprise.version
        else:
            now = utcnow()
            row = CarrierCustomer(id=new_id(), tenant_id=tenant_id, channel_id=channel_id, carrier_ref=None,
                                  state=ApplicationState.SUBMITTING.value, record_version=enterprise.version,
                                  history=[], created_at=now, updated_at=now)
            await repo.add(row)
        _move(row, ApplicationState.SUBMITTING, f"enterprise record version {enterprise.version}")
        await self._queue(session, tenant_id, "customer", row.id)
        return row

    async def customers(self, access: BusinessAccess) -> list[CustomerView]:
        async with self._ctx.db.reader() as session:
            return [_customer_view(r) for r in await ApplicationRepository(session, access.tenant_id).customers()]

    async def customer(self, access: BusinessAccess, customer_id: str) -> CustomerView:
        async with self._ctx.db.reader() as session:
            row = await ApplicationRepository(session, access.tenant_id).customer(customer_id)
        if row is None:
            raise NotFound("no such carrier registration", code="registration_not_found")
        return _customer_view(row)

    # ---- chatbot applications -----------------------------------------------------------------------

    async def apply(self, access: BusinessAccess, request: ChatbotApplicationRequest) -> ApplicationView:
        """Apply for a chatbot on a channel; the enterprise is registered there first where it is not."""
        await self._chatbots.get_profile(access, request.profile_id)
        async with self._ctx.db.transaction() as session:
            await self._managed_channel(session, request.channel_id)
            if await PlatformRepository(session).chatbot_owner(request.channel_id, request.chatbot_number):
                raise Conflict("that chatbot number is already registered on this channel", code="chatbot_exists",
                               field="chatbot_number")
            for earlier in await ApplicationRepository(session, access.tenant_id).on_channel(request.channel_id):
                if earlier.request.get("chatbot_number") == request.chatbot_number and \
                        ApplicationState(earlier.state) not in _AGAIN:
                    raise Conflict(f"application {earlier.id} is already {earlier.state} for that chatbot number",
                                   code="application_exists", field="chatbot_number")
            customer = await self._register(session, access.tenant_id, request.channel_id, again=False)
            now = utcnow()
            row = ChatbotApplication(
                id=new_id(), tenant_id=access.tenant_id, business_id=access.business_id,
                channel_id=request.channel_id, profile_id=request.profile_id, profile_version=None,
                request=request.model_dump(mode="json"), state=ApplicationState.WAITING.value, carrier_ref=None,
                reason=None, credentials_sealed=None, chatbot_id=None, history=[], created_at=now, updated_at=now)
            await ApplicationRepository(session, access.tenant_id).add(row)
            self._start(row, customer)
            await self._queue(session, access.tenant_id, "chatbot", row.id)
            return _application_view(row)

    @staticmethod
    def _start(row: ChatbotApplication, customer: CarrierCustomer) -> None:
        if customer.state == ApplicationState.APPROVED:
            _move(row, ApplicationState.SUBMITTING)
        else:
            _move(row, ApplicationState.WAITING, f"waiting for the enterprise's approval by the carrier "
                                                 f"({customer.state})")

    async def retry(self, access: BusinessAccess, application_id: str) -> ApplicationView:
        """Apply again after a rejection (with the profile as it is now) or a failure."""
        async with self._ctx.db.transaction() as session:
            repo = ApplicationRepository(session, access.tenant_id)
            row = await repo.application(application_id)
            if row is None or row.business_id != access.business_id:
                raise NotFound("no such chatbot application", code="application_not_found")
            state = ApplicationState(row.state)
            if state not in _AGAIN:
                raise Conflict(f"the application is {state.value}; only a rejected or failed one is retried",
                               code="application_in_progress")
            customer = await self._register(session, access.tenant_id, row.channel_id, again=False)
            resume = _failed_step(row) if state is ApplicationState.FAILED else None
            if resume is not None:
                _move(row, resume, "retried")
            else:
                row.carrier_ref = None  # a rejected chatbot is applied for anew
                self._start(row, customer)
            await self._queue(session, access.tenant_id, "chatbot", row.id)
            return _application_view(row)

    async def applications(self, access: BusinessAccess) -> list[ApplicationView]:
        async with self._ctx.db.reader() as session:
            rows = await ApplicationRepository(session, access.tenant_id).applications(access.business_id)
            return [_application_view(r) for r in rows]

    async def application(self, access: BusinessAccess, application_id: str) -> ApplicationView:
        async with self._ctx.db.reader() as session:
            row = await ApplicationRepository(session, access.tenant_id).application(application_id)
        if row is None or row.business_id != access.business_id:
            raise NotFound("no such chatbot application", code="application_not_found")
        return _application_view(row)

    # ---- the steps ----------------------------------------------------------------------------------

    async def _queue(self, session: AsyncSession, tenant_id: str, kind: str, row_id: str,
                     delay: float = 0.0) -> None:
        job = NewJob(topic=TOPIC_APPLICATION, tenant_id=tenant_id, delay_seconds=delay,
                     payload={"tenant_id": tenant_id, "kind": kind, "id": row_id})
        await self._ctx.queue.enqueue(session, [job])
        self._ctx.queue.notify(TOPIC_APPLICATION)

    def _poll_delay(self, attempts: int) -> float:
        # Audits take minutes to days: asked often at first, then less, never less than hourly.
        base = self._ctx.settings.application_poll_seconds
        return min(_MAX_POLL_SECONDS, base * (1.25 ** min(attempts - 1, 40)))

    async def run(self, job: Job) -> bool:
        tenant_id, kind, row_id = job.payload["tenant_id"], job.payload["kind"], job.payload["id"]
        if kind == "customer":
            await self._advance_customer(job, tenant_id, row_id)
        else:
            await self._advance_application(job, tenant_id, row_id)
        return False

    async def _context(self, tenant_id: str, channel_id: str) -> tuple[ChannelEndpoint, ChannelAdapter, Channel]:
        async with self._ctx.db.reader() as session:
            channel = await PlatformRepository(session).channel(channel_id)
        if channel is None:
            raise PermanentChannelError("the channel no longer exists")
        return self._directory.endpoint(channel), self._ctx.adapter(channel.type), channel

    async def _settle(self, tenant_id: str, kind: str, row_id: str, state: ApplicationState, note: str | None = None,
                      *, again: float | None = None, **changes: Any) -> None:
        """Record a step in its own transaction; `again`: the next step's job, after that delay."""
        async with self._ctx.db.transaction() as session:
            repo = ApplicationRepository(session, tenant_id)
            row = await (repo.customer(row_id) if kind == "customer" else repo.application(row_id))
            if row is None:
                return
            for name, value in changes.items():
                setattr(row, name, value)
            _move(row, state, note)
            if again is not None:
                await self._queue(session, tenant_id, kind, row_id, again)
            if kind == "customer" and state is ApplicationState.APPROVED:
                assert isinstance(row, CarrierCustomer)
                for waiting in await repo.waiting_on(row.channel_id):
                    _move(waiting, ApplicationState.SUBMITTING, "the enterprise was approved")
                    await self._queue(session, tenant_id, "chatbot", waiting.id)

    async def _failed(self, job: Job, tenant_id: str, kind: str, row_id: str, exc: Exception) -> None:
        """A step's call failed: tried again later if the carrier's trouble may pass, else the record says why."""
        if isinstance(exc, TransientChannelError) and job.attempts < STEP_MAX_TRIES:
            raise RetryLater(min(300.0, 2.0 ** job.attempts), str(exc)) from exc
        if isinstance(exc, ChannelAuthError):
            note = f"{exc} (check the channel's CSP credentials, then retry)"
        elif isinstance(exc, TransientChannelError):
            note = f"the carrier kept failing: {exc}"
        else:
            note = f"the carrier refused it: {exc}"
        state = ApplicationState.REJECTED if isinstance(exc, PermanentChannelError) and \
            not isinstance(exc, ChannelAuthError) else ApplicationState.FAILED
        await self._settle(tenant_id, kind, row_id, state, note)

    async def _advance_customer(self, job: Job, tenant_id: str, row_id: str) -> None:
        async with self._ctx.db.reader() as session:
            repo = ApplicationRepository(session, tenant_id)
            row = await repo.customer(row_id)
            enterprise = await repo.enterprise()
            documents = await repo.documents(set(EnterpriseRecord.model_validate(enterprise.record).documents()
                                                 .values())) if enterprise else {}
        if row is None or enterprise is None:
            return
        state = ApplicationState(row.state)
        endpoint, adapter, _ = await self._context(tenant_id, row.channel_id)
        try:
            if state is ApplicationState.SUBMITTING:
                record = EnterpriseRecord.model_validate(enterprise.record)
                files = {kind: await self._document(documents[document_id])
                         for kind, document_id in record.documents().items()}
                reference = await adapter.register_customer(endpoint, CustomerFiling(record, files, row.carrier_ref))
                await self._settle(tenant_id, "customer", row_id, ApplicationState.AUDITING, f"customer {reference}",
                                   again=self._poll_delay(1), carrier_ref=reference, record_version=enterprise.version)
            elif state is ApplicationState.AUDITING and row.carrier_ref:
                audit = await adapter.customer_audit(endpoint, row.carrier_ref)
                await self._audited(job, tenant_id, "customer", row_id, audit, ApplicationState.APPROVED)
        except RetryLater:
            raise
        except (TransientChannelError, PermanentChannelError) as exc:
            if state is ApplicationState.AUDITING and isinstance(exc, TransientChannelError):
                raise RetryLater(self._poll_delay(job.attempts), str(exc)) from exc
            await self._failed(job, tenant_id, "customer", row_id, exc)

    async def _audited(self, job: Job, tenant_id: str, kind: str, row_id: str, audit: CarrierAudit,
                       approved: ApplicationState) -> None:
        if audit.state == "pending":
            raise RetryLater(self._poll_delay(job.attempts), "at the carrier's audit")
        if audit.state == "rejected":
            await self._settle(tenant_id, kind, row_id, ApplicationState.REJECTED, audit.reason)
            return
        # A chatbot the carrier already put online skips that step; a customer has no such step.
        next_state = ApplicationState.CONFIGURING if audit.online and kind == "chatbot" else approved
        await self._settle(tenant_id, kind, row_id, next_state, "approved by the carrier",
                           again=0.0 if kind == "chatbot" else None)

    async def _document(self, row: EnterpriseDocument) -> DocumentFile:
        data = await self._files.get(row.storage_key)
        return DocumentFile(name=row.file_name, content_type=row.content_type, data=data)

    async def _advance_application(self, job: Job, tenant_id: str, row_id: str) -> None:
        async with self._ctx.db.reader() as session:
            repo = ApplicationRepository(session, tenant_id)
            row = await repo.application(row_id)
            customer = await repo.customer_on(row.channel_id) if row else None
        if row is None:
            return
        state = ApplicationState(row.state)
        endpoint, adapter, channel = await self._context(tenant_id, row.channel_id)
        request = ChatbotApplicationRequest.model_validate(row.request)
        try:
            if state is ApplicationState.SUBMITTING:
                if customer is None or customer.state != ApplicationState.APPROVED or not customer.carrier_ref:
                    await self._settle(tenant_id, "chatbot", row_id, ApplicationState.WAITING,
                                       "waiting for the enterprise's approval by the carrier")
                    return
                profile, version = await self._chatbots.profile_for_application(tenant_id, row.profile_id)
                logo = await self._materials.original(tenant_id, profile.logo_material_id)
                banner = await self._materials.original(tenant_id, profile.banner_material_id)
                filing = ChatbotFiling(
                    customer_ref=customer.carrier_ref, chatbot_number=request.chatbot_number, profile=profile,
                    logo=DocumentFile(*logo) if logo else None, banner=DocumentFile(*banner) if banner else None,
                    signature=request.signature, provider=request.provider,
                    ip_whitelist=tuple(str(ip) for ip in request.ip_whitelist))
                reference = await adapter.apply_chatbot(endpoint, filing)
                await self._settle(tenant_id, "chatbot", row_id, ApplicationState.AUDITING, f"chatbot {reference}",
                                   again=self._poll_delay(1), carrier_ref=reference, profile_version=version)
            elif state is ApplicationState.AUDITING and row.carrier_ref:
                audit = await adapter.chatbot_audit(endpoint, row.carrier_ref)
                await self._audited(job, tenant_id, "chatbot", row_id, audit, ApplicationState.GOING_ONLINE)
            elif state is ApplicationState.GOING_ONLINE and row.carrier_ref:
                await adapter.bring_online(endpoint, row.carrier_ref)
                await self._settle(tenant_id, "chatbot", row_id, ApplicationState.CONFIGURING, "online", again=0.0)
            elif state is ApplicationState.CONFIGURING and row.carrier_ref:
                await self._configure(tenant_id, row, request, endpoint, adapter, channel)
        except RetryLater:
            raise
        except (TransientChannelError, PermanentChannelError) as exc:
            if state is ApplicationState.AUDITING and isinstance(exc, TransientChannelError):
                raise RetryLater(self._poll_delay(job.attempts), str(exc)) from exc
            await self._failed(job, tenant_id, "chatbot", row_id, exc)

    async def _configure(self, tenant_id: str, row: ChatbotApplication, request: ChatbotApplicationRequest,
                         endpoint: ChannelEndpoint, adapter: ChannelAdapter, channel: Channel) -> None:
        assert row.carrier_ref is not None
        if row.credentials_sealed is None:
            # The token the carrier signs its callbacks with (≤ 16 characters, §3.4); ours to choose.
            token = secrets.token_urlsafe(12)[:16]
            callback = f"{self._ctx.settings.resolved_public_base_url()}/webhooks/{channel.type}/{channel.id}"
            issued = await adapter.configure_developer(endpoint, row.carrier_ref, callback, token)
            sealed = self._ctx.secrets.seal({"app_id": issued.app_id, "app_key": issued.app_key, "notify_token": token})
            await self._settle(tenant_id, "chatbot", row.id, ApplicationState.CONFIGURING,
                               f"developer credentials issued (app id {issued.app_id})", credentials_sealed=sealed)
        else:
            sealed = row.credentials_sealed
        credentials = self._ctx.secrets.open(sealed)
        access = BusinessAccess(tenant_id=tenant_id, business_id=row.business_id, api_key_id="")
        chatbot_id = await self._chatbots.adopt_applied(
            access, channel_id=row.channel_id, name=request.name or f"{channel.name} {request.chatbot_number}",
            carrier_chatbot_id=request.chatbot_number, credentials=credentials, profile_id=row.profile_id,
            approved_version=row.profile_version)
        await self._settle(tenant_id, "chatbot", row.id, ApplicationState.LIVE, f"chatbot account {chatbot_id}",
                           chatbot_id=chatbot_id, credentials_sealed=None)

