"""Chatbots: carrier accounts registered by a tenant, the logical chatbot (profile) they publish,
and each account's standing with its carrier.

A profile is the public information and menu of one logical chatbot; it is published on one or
more carrier accounts. Creating or changing it submits it to every account's carrier that the
platform manages information for (`chatbot-info` jobs: CT/CU `update/chatBotInfo/...`, after its
logo is approved there as a material); the carrier's audit comes back as a callback. Where the
reference has no management API (CMCC, the aggregator) the account is `manual`: an operator records
what the carrier's console says. Only live accounts carry messages (services/directory.py).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.domain.chatbots import ChatbotInfo, ChatbotProfile, InfoState
from msg5g.domain.errors import (
    ChannelAuthError,
    NotFound,
    PermanentChannelError,
    TransientChannelError,
    ValidationFailed,
)
from msg5g.domain.media import MaterialKind
from msg5g.domain.messages import WebhookParseResult
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.pipeline.queue import Job, NewJob, RetryLater
from msg5g.services.access import BusinessAccess
from msg5g.services.channel_admin import ChannelAdmin
from msg5g.services.chatbot_directory import DirectoryEntry
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory, unsendable_reason
from msg5g.services.materials import MaterialLibrary
from msg5g.services.provisioning import Provisioning
from msg5g.storage.repositories import (
    ChatbotProfileRepository,
    ChatbotRepository,
    MaterialRepository,
    PlatformRepository,
)
from msg5g.storage.tables import Chatbot, ChatbotProfileRow

log = logging.getLogger(__name__)

TOPIC_CHATBOT_INFO = "chatbot-info"
TOPIC_DIRECTORY = "directory-index"
SUBMIT_MAX_ATTEMPTS = 8
_WAIT_FOR_LOGO_SECONDS = 5.0


class ChatbotView(BaseModel):
    """A carrier account; its credentials are never shown."""

    id: str
    channel_id: str
    channel_type: str
    business_id: str
    name: str
    carrier_chatbot_id: str
    address: str
    profile_id: str | None
    info_state: InfoState | None
    info_reason: str | None
    live_version: int | None
    credential_error: str | None
    sendable: bool
    unsendable_reason: str | None
    tps_limit: float | None
    created_at: datetime


class ProfileView(BaseModel):
    id: str
    business_id: str
    version: int
    profile: ChatbotProfile
    accounts: list[ChatbotView]
    updated_at: datetime


def _chatbot_view(row: Chatbot, channel_type: str) -> ChatbotView:
    reason = unsendable_reason(row)
    return ChatbotView(
        id=row.id, channel_id=row.channel_id, channel_type=channel_type, business_id=row.business_id, name=row.name,
        carrier_chatbot_id=row.carrier_chatbot_id, address=row.address, profile_id=row.profile_id,
        info_state=InfoState(row.info_state) if row.info_state else None, info_reason=row.info_reason,
        live_version=row.live_version, credential_error=row.credential_error, sendable=reason is None,
        unsendable_reason=reason, tps_limit=row.tps_limit, created_at=as_utc(row.created_at))


class ChatbotCatalog:
    def __init__(self, ctx: ServiceContext, directory: Directory, provisioning: Provisioning,
                 channels: ChannelAdmin, materials: MaterialLibrary) -> None:
        self._ctx = ctx
        self._directory = directory
        self._provisioning = provisioning
        self._channels = channels
        self._materials = materials
        self.on_changed: list[Any] = []  # called with (tenant id, profile id) after a change (the directory)

    # ---- accounts -------------------------------------------------------------------------------

    async def register(self, access: BusinessAccess, *, channel_id: str, name: str, carrier_chatbot_id: str,
                       credentials: dict[str, Any], address: str | None = None, profile_id: str | None = None,
                       tps_limit: float | None = None) -> ChatbotView:
        """A carrier account of the caller's business; with a profile, its information goes to the carrier."""
        if profile_id is not None:
            await self._profile(access, profile_id)
        chatbot_id = await self._provisioning.create_chatbot(
            access.tenant_id, channel_id=channel_id, business_id=access.business_id, name=name,
            carrier_chatbot_id=carrier_chatbot_id, credentials=credentials, address=address, tps_limit=tps_limit)
        if profile_id is not None:
            await self.attach(access, profile_id, chatbot_id)
        return await self.get(access, chatbot_id)

    async def adopt_applied(self, access: BusinessAccess, *, channel_id: str, name: str, carrier_chatbot_id: str,
                            credentials: dict[str, Any], profile_id: str, approved_version: int | None) -> str:
        """A chatbot the carrier approved through its management API (services/applications.py) becomes
        an account publishing the profile. The carrier audited the profile as filed: that version is live
        at once; a later edit is submitted as any change is. Repeated after a crash, it finds the account."""
        async with self._ctx.db.reader() as session:
            existing = await PlatformRepository(session).chatbot_owner(channel_id, carrier_chatbot_id)
        if existing is not None:
            if existing.tenant_id != access.tenant_id:
                raise ValidationFailed("that carrier chatbot id is another tenant's", code="chatbot_exists")
            return existing.chatbot_id
        chatbot_id = await self._provisioning.create_chatbot(
            access.tenant_id, channel_id=channel_id, business_id=access.business_id, name=name,
            carrier_chatbot_id=carrier_chatbot_id, credentials=credentials)
        async with self._ctx.db.transaction() as session:
            row = await self._owned(session, access, chatbot_id)
            profile = await self._profile(access, profile_id, session)
            row.profile_id = profile_id
            if approved_version is not None and profile.version == approved_version:
                row.info_state, row.info_version, row.live_version = InfoState.LIVE.value, approved_version, \
                    approved_version
                row.updated_at = utcnow()
                await self._publish(session, access.tenant_id, profile_id, approved_version)
            else:
                await self._queue_submit(session, access.tenant_id, row)
        self._directory.forget()
        await self._changed(access.tenant_id, profile_id)
        return chatbot_id

    async def profile_for_application(self, tenant_id: str, profile_id: str) -> tuple[ChatbotProfile, int]:
        async with self._ctx.db.reader() as session:
            row = await ChatbotProfileRepository(session, tenant_id).get(profile_id)
        if row is None:
            raise PermanentChannelError("the profile no longer exists")
        return ChatbotProfile.model_validate(row.profile), row.version

    async def get(self, access: BusinessAccess, chatbot_id: str) -> ChatbotView:
        async with self._ctx.db.reader() as session:
            row = await self._owned(session, access, chatbot_id)
            channel = await PlatformRepository(session).channel(row.channel_id)
        return _chatbot_view(row, channel.type if channel else "?")

    async def browse(self, access: BusinessAccess) -> list[ChatbotView]:
        async with self._ctx.db.reader() as session:
            platform = PlatformRepository(session)
            types = {c.id: c.type for c in await platform.channels()}
            return [_chatbot_view(row, types.get(row.channel_id, "?"))
                    for row in await ChatbotRepository(session, access.tenant_id).all()
                    if row.business_id == access.business_id]

    async def rotate_credentials(self, access: BusinessAccess, chatbot_id: str,
                                 credentials: dict[str, Any]) -> ChatbotView:
        """New credentials (checked against the channel type's model, sealed); a refusal noted on the
        old ones is cleared and the information is submitted again where it was waiting on them."""
        async with self._ctx.db.transaction() as session:
            row = await self._owned(session, access, chatbot_id)
            channel = await PlatformRepository(session).channel(row.channel_id)
            if channel is None:
                raise NotFound("no such channel", code="channel_not_found")
            row.credentials_sealed = self._channels.credentials(channel.type, credentials)
            failing = row.credential_error is not None
            row.credential_error = None
            row.updated_at = utcnow()
            if failing and row.profile_id is not None:
                await self._queue_submit(session, access.tenant_id, row)
        self._directory.forget()
        return await self.get(access, chatbot_id)

    async def _owned(self, session: AsyncSession, access: BusinessAccess, chatbot_id: str) -> Chatbot:
        row = await ChatbotRepository(session, access.tenant_id).get(chatbot_id)
        if row is None or row.business_id != access.business_id:
            raise NotFound("no such chatbot", code="chatbot_not_found", field="chatbot_id")
        return row

    # ---- profiles ---------------------------------------------------------------------------------

    async def create_profile(self, access: BusinessAccess, profile: ChatbotProfile) -> ProfileView:
        await self._check_images(access, profile)
        now = utcnow()
        row = ChatbotProfileRow(id=new_id(), tenant_id=access.tenant_id, business_id=access.business_id,
                                profile=profile.model_dump(mode="json"), version=1, created_at=now, updated_at=now)
        async with self._ctx.db.transaction() as session:
            await ChatbotProfileRepository(session, access.tenant_id).add(row)
        await self._changed(access.tenant_id, row.id)
        return await self.get_profile(access, row.id)

    async def update_profile(self, access: BusinessAccess, profile_id: str, profile: ChatbotProfile) -> ProfileView:
        """A new version, submitted again to every account's carrier."""
        await self._check_images(access, profile)
        async with self._ctx.db.transaction() as session:
            row = await self._profile(access, profile_id, session)
            row.profile = profile.model_dump(mode="json")
            row.version += 1
            row.updated_at = utcnow()
            for account in await ChatbotProfileRepository(session, access.tenant_id).accounts(profile_id):
                await self._queue_submit(session, access.tenant_id, account)
        self._directory.forget()
        await self._changed(access.tenant_id, profile_id)
        return await self.get_profile(access, profile_id)

    async def attach(self, access: BusinessAccess, profile_id: str, chatbot_id: str) -> ProfileView:
        """Publish the profile on one more carrier account."""
        async with self._ctx.db.transaction() as session:
            await self._profile(access, profile_id, session)
            account = await self._owned(session, access, chatbot_id)
            if account.profile_id is not None and account.profile_id != profile_id:
                raise ValidationFailed("the chatbot publishes another profile", code="chatbot_has_profile",
                                       field="chatbot_id")
            account.profile_id = profile_id
            account.live_version = None
            await self._queue_submit(session, access.tenant_id, account)
        self._directory.forget()
        await self._changed(access.tenant_id, profile_id)
        return await self.get_profile(access, profile_id)

    async def get_profile(self, access: BusinessAccess, profile_id: str) -> ProfileView:
        async with self._ctx.db.reader() as session:
            row = await self._profile(access, profile_id, session)
            return await self._profile_view(session, access.tenant_id, row)

    async def browse_profiles(self, access: BusinessAccess) -> list[ProfileView]:
        async with self._ctx.db.reader() as session:
            rows = await ChatbotProfileRepository(session, access.tenant_id).of_business(access.business_id)
            return [await self._profile_view(session, access.tenant_id, row) for row in rows]

    @staticmethod
    async def _profile_view(session: AsyncSession, tenant_id: str, row: ChatbotProfileRow) -> ProfileView:
        accounts = await ChatbotProfileRepository(session, tenant_id).accounts(row.id)
        types = {c.id: c.type for c in await PlatformRepository(session).channels()}
        return ProfileView(id=row.id, business_id=row.business_id, version=row.version,
                           profile=ChatbotProfile.model_validate(row.profile),
                           accounts=[_chatbot_view(a, types.get(a.channel_id, "?")) for a in accounts],
                           updated_at=as_utc(row.updated_at))

    async def _profile(self, access: BusinessAccess, profile_id: str,
                       session: AsyncSession | None = None) -> ChatbotProfileRow:
        if session is None:
            async with self._ctx.db.reader() as reader:
                return await self._profile(access, profile_id, reader)
        row = await ChatbotProfileRepository(session, access.tenant_id).get(profile_id)
        if row is None or row.business_id != access.business_id:
            raise NotFound("no such chatbot profile", code="profile_not_found", field="profile_id")
        return row

    async def _check_images(self, access: BusinessAccess, profile: ChatbotProfile) -> None:
        wanted = {m for m in (profile.logo_material_id, profile.banner_material_id) if m}
        await self._materials.check_owned(access.tenant_id, access.business_id, wanted)
        async with self._ctx.db.reader() as session:
            found = await MaterialRepository(session, access.tenant_id).many(wanted)
        for material_id, row in found.items():
            if row.kind != MaterialKind.IMAGE:
                raise ValidationFailed(f"material {material_id} is a {row.kind}, not an image", code="not_an_image",
                                       field="logo_material_id")

    async def _queue_submit(self, session: AsyncSession, tenant_id: str, account: Chatbot) -> None:
        account.info_state = InfoState.DRAFT.value
        account.info_reason = None
        account.updated_at = utcnow()
        await self._ctx.queue.enqueue(session, [NewJob(topic=TOPIC_CHATBOT_INFO, tenant_id=tenant_id,
                                                       payload={"tenant_id": tenant_id, "chatbot_id": account.id})])
        self._ctx.queue.notify(TOPIC_CHATBOT_INFO)

    async def _changed(self, tenant_id: str, profile_id: str) -> None:
        """The directory learns of a change through the one `directory-index` worker, so that two
        changes close together are indexed in order rather than racing (the older read landing last)."""
        async with self._ctx.db.transaction() as session:
            await self._ctx.queue.enqueue(session, [NewJob(topic=TOPIC_DIRECTORY, tenant_id=tenant_id, payload={
                "tenant_id": tenant_id, "profile_id": profile_id})])
        self._ctx.queue.notify(TOPIC_DIRECTORY)

    async def _reindex(self, tenant_id: str, profile_id: str) -> None:
        for listener in self.on_changed:
            await listener(tenant_id, profile_id)

    # ---- submission and the carriers' answers -------------------------------------------------------

    async def run_submit(self, job: Job) -> bool:
        tenant_id, chatbot_id = job.payload["tenant_id"], job.payload["chatbot_id"]
        async with self._ctx.db.reader() as session:
            account = await ChatbotRepository(session, tenant_id).get(chatbot_id)
            profile_row = await ChatbotProfileRepository(session, tenant_id).get(account.profile_id) \
                if account and account.profile_id else None
        if account is None or profile_row is None or account.info_state != InfoState.DRAFT:
            return False
        chatbot = await self._directory.chatbot(tenant_id, chatbot_id)
        adapter_type = self._ctx.registry.adapter_type(chatbot.endpoint.type)
        profile = ChatbotProfile.model_validate(profile_row.profile)
        if not adapter_type.manages_chatbot_info:
            await self._settle(tenant_id, chatbot_id, InfoState.MANUAL, f"{adapter_type.display_name} chatbots are "
                               "kept in the carrier's own console: an operator records the audit result here",
                               version=profile_row.version)
            return False
        images = {m for m in (profile.logo_material_id, profile.banner_material_id) if m}
        usable = await self._materials.usable_on(tenant_id, chatbot_id, images)
        if len(usable) < len(images):
            refusal = await self._materials.refusal_on(tenant_id, chatbot_id, images)
            if refusal:
                await self._settle(tenant_id, chatbot_id, InfoState.REJECTED, refusal)
                return False
            raise RetryLater(min(300.0, _WAIT_FOR_LOGO_SECONDS * job.attempts), "waiting for the logo's approval")
        logo = usable.get(profile.logo_material_id or "")
        banner = usable.get(profile.banner_material_id or "")
        info = ChatbotInfo(profile=profile, logo_url=logo.sync.url if logo else None,
                           banner_url=banner.sync.url if banner else None)
        adapter = self._ctx.adapter(chatbot.endpoint.type)
        try:
            audits = await adapter.submit_chatbot_info(chatbot.endpoint, chatbot.account, info)
        except ChannelAuthError as exc:
            await self._refused_credentials(tenant_id, chatbot_id, str(exc))
            return False
        except TransientChannelError as exc:
            if job.attempts >= SUBMIT_MAX_ATTEMPTS:
                await self._settle(tenant_id, chatbot_id, InfoState.REJECTED, f"the carrier kept failing: {exc}")
                return False
            raise RetryLater(min(300.0, 2.0 ** job.attempts), str(exc)) from exc
        except PermanentChannelError as exc:
            await self._settle(tenant_id, chatbot_id, InfoState.REJECTED, f"the carrier refused it: {exc}")
            return False
        await self._settle(tenant_id, chatbot_id, InfoState.SUBMITTED, None, version=profile_row.version,
                           pending=audits)
        return False

    async def _settle(self, tenant_id: str, chatbot_id: str, state: InfoState, reason: str | None, *,
                      version: int | None = None, pending: int = 0) -> None:
        async with self._ctx.db.transaction() as session:
            row = await ChatbotRepository(session, tenant_id).get(chatbot_id)
            if row is None:
                return
            row.info_state, row.info_reason, row.updated_at = state.value, reason, utcnow()
            row.info_pending = pending
            if version is not None:
                row.info_version = version
            profile_id = row.profile_id
        self._directory.forget()
        if profile_id:
            await self._changed(tenant_id, profile_id)

    async def _refused_credentials(self, tenant_id: str, chatbot_id: str, reason: str) -> None:
        async with self._ctx.db.transaction() as session:
            row = await ChatbotRepository(session, tenant_id).get(chatbot_id)
            if row is not None:
                row.credential_error = reason
                row.updated_at = utcnow()
        self._directory.forget()
        log.warning("carrier refuses a chatbot's credentials", extra={"chatbot_id": chatbot_id})

    async def note_refused_credentials(self, tenant_id: str, chatbot_id: str, reason: str) -> None:
        """A send was refused for the account's credentials: nothing more goes through it until they
        are rotated."""
        await self._refused_credentials(tenant_id, chatbot_id, reason)

    @staticmethod
    async def _publish(session: AsyncSession, tenant_id: str, profile_id: str, version: int | None) -> None:
        """What everyone may see of a profile is the version a carrier approved, not a later edit
        still at audit."""
        profile = await ChatbotProfileRepository(session, tenant_id).get(profile_id)
        if profile is not None and version is not None and profile.version == version:
            profile.published = dict(profile.profile)

    async def material_approved(self, session: AsyncSession, tenant_id: str, chatbot_id: str) -> None:
        """A material was approved on an account: one waiting for its logo goes on now."""
        row = await ChatbotRepository(session, tenant_id).get(chatbot_id)
        if row is not None and row.profile_id is not None and row.info_state == InfoState.DRAFT:
            await self._ctx.queue.enqueue(session, [NewJob(topic=TOPIC_CHATBOT_INFO, tenant_id=tenant_id,
                                                           payload={"tenant_id": tenant_id, "chatbot_id": row.id})])
            self._ctx.queue.notify(TOPIC_CHATBOT_INFO)

    async def apply_reports(self, session: AsyncSession, tenant_id: str, chatbot_id: str,
                            parsed: WebhookParseResult) -> None:
        """In the callback's transaction: an audit result, or the carrier taking it off or online."""
        if not parsed.chatbot_reports:
            return
        row = await ChatbotRepository(session, tenant_id).get(chatbot_id)
        if row is None or row.profile_id is None:
            return
        for report in parsed.chatbot_reports:
            if report.approved is True and row.info_state == InfoState.SUBMITTED:
                # Live once every part of the submission (information, menu) is approved.
                row.info_pending = max(0, (row.info_pending or 1) - 1)
                if row.info_pending == 0:
                    row.info_state, row.info_reason = InfoState.LIVE.value, None
                    row.live_version = row.info_version
                    await self._publish(session, tenant_id, row.profile_id, row.info_version)
            elif report.approved is False:
                row.info_state, row.info_reason = InfoState.REJECTED.value, report.reason or "rejected by the carrier"
                row.info_pending = 0
            elif report.online is False:
                row.info_state, row.info_reason = InfoState.OFFLINE.value, report.reason
            elif report.online is True and row.live_version is not None:
                row.info_state, row.info_reason = InfoState.LIVE.value, None
        row.updated_at = utcnow()
        self._directory.forget()
        # The directory is told after this transaction commits (it reads what it wrote), by a job.
        await self._ctx.queue.enqueue(session, [NewJob(topic=TOPIC_DIRECTORY, tenant_id=tenant_id, payload={
            "tenant_id": tenant_id, "profile_id": row.profile_id})])
        self._ctx.queue.notify(TOPIC_DIRECTORY)

    async def run_reindex(self, job: Job) -> bool:
        await self._reindex(job.payload["tenant_id"], job.payload["profile_id"])
        return False

    async def directory_entry(self, tenant_id: str, profile_id: str) -> DirectoryEntry | None:
        """What the directory shows of a profile: published once one of its accounts is live; its logo as
        the live account's carrier serves it."""
        async with self._ctx.db.reader() as session:
            row = await ChatbotProfileRepository(session, tenant_id).get(profile_id)
            accounts = list(await ChatbotProfileRepository(session, tenant_id).accounts(profile_id)) if row else []
            types = {c.id: c.type for c in await PlatformRepository(session).channels()}
        if row is None:
            return None
        live = [a for a in accounts if unsendable_reason(a) is None]
        # Published: the approved version (a later edit shows only once approved); else, for its own
        # tenant only, the current one.
        profile = ChatbotProfile.model_validate(row.published if live and row.published else row.profile)
        carriers = sorted({types.get(a.channel_id, "?") for a in live})
        logo_url = None
        if profile.logo_material_id and live:
            usable = await self._materials.usable_on(tenant_id, live[0].id, {profile.logo_material_id})
            logo_url = usable[profile.logo_material_id].sync.url if usable else None
        states = {a.info_state for a in accounts if a.info_state}
        status = "live" if live else (sorted(states)[0] if states else "draft")
        return DirectoryEntry(
            profile_id=profile_id, tenant_id=tenant_id, name=profile.service_name, description=profile.description,
            category=profile.category, keywords=tuple(profile.keywords), carriers=tuple(carriers), status=status,
            published=bool(live), sms_number=profile.sms_number,
            chatbot_uri=live[0].address if live else (accounts[0].address if accounts else None), logo_url=logo_url)

    async def record_state(self, chatbot_id: str, state: InfoState, reason: str | None) -> ChatbotView:
        """An operator records what a carrier's console says of an account (CMCC, aggregators)."""
        if state not in {InfoState.LIVE, InfoState.REJECTED, InfoState.OFFLINE}:
            raise ValidationFailed("state must be live, rejected or offline", code="invalid_state", field="state")
        async with self._ctx.db.transaction() as session:
            tenant_id = await PlatformRepository(session).chatbot_tenant(chatbot_id)
            row = await ChatbotRepository(session, tenant_id).get(chatbot_id) if tenant_id else None
            if row is None or tenant_id is None:
                raise NotFound("no such chatbot", code="chatbot_not_found")
            if row.profile_id is None:
                raise ValidationFailed("the chatbot publishes no profile", code="no_profile", field="chatbot_id")
            row.info_state, row.info_reason, row.updated_at = state.value, reason, utcnow()
            if state is InfoState.LIVE:
                row.live_version = row.info_version
                await self._publish(session, tenant_id, row.profile_id, row.info_version)
            channel = await PlatformRepository(session).channel(row.channel_id)
            profile_id = row.profile_id
            view = _chatbot_view(row, channel.type if channel else "?")
        self._directory.forget()
        await self._changed(tenant_id, profile_id)
        return view
