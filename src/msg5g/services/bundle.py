"""The services one platform instance offers to its edges (API, admin, CLI)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.domain.messages import WebhookParseResult
from msg5g.services.access import AdminAccounts, ApiKeys, BusinessAccess, OperatorKeys
from msg5g.services.alerts import Alerts
from msg5g.services.applications import CarrierApplications
from msg5g.services.audit import AuditLog
from msg5g.services.auto_reply import AutoReply
from msg5g.services.businesses import Businesses
from msg5g.services.callbacks import CallbackOutbox, CallbackSender
from msg5g.services.capacity import Capacity
from msg5g.services.carrier_webhooks import CarrierWebhooks
from msg5g.services.channel_admin import ChannelAdmin
from msg5g.services.channel_sessions import ChannelSessions
from msg5g.services.chatbot_directory import ChatbotDirectory
from msg5g.services.chatbots import ChatbotCatalog
from msg5g.services.context import ServiceContext
from msg5g.services.conversations import Conversations
from msg5g.services.deliver import Sender
from msg5g.services.directory import Directory
from msg5g.services.early_reports import EarlyReports
from msg5g.services.grants import BusinessGrants
from msg5g.services.h5 import H5Pages
from msg5g.services.inbox import Inbox
from msg5g.services.limits import RateLimiter
from msg5g.services.materials import MaterialLibrary
from msg5g.services.provisioning import Provisioning
from msg5g.services.queries import Queries
from msg5g.services.retention import Retention
from msg5g.services.revoke import Revoker
from msg5g.services.routing import ChannelHealth, Router
from msg5g.services.submit import SendRequest, Submitter
from msg5g.services.templates import TemplateCatalog
from msg5g.services.views import SendResponse
from msg5g.services.words import SensitiveWords
from msg5g.storage.files import LocalFileStore


@dataclass
class Services:
    ctx: ServiceContext
    directory: Directory
    api_keys: ApiKeys
    operator_keys: OperatorKeys
    admins: AdminAccounts
    queries: Queries
    provisioning: Provisioning
    webhooks: CarrierWebhooks
    sender: Sender
    callback_sender: CallbackSender
    submitter: Submitter
    early_reports: EarlyReports
    channel_sessions: ChannelSessions
    channel_admin: ChannelAdmin
    revoker: Revoker
    router: Router
    h5: H5Pages
    materials: MaterialLibrary
    templates: TemplateCatalog
    words: SensitiveWords
    chatbots: ChatbotCatalog
    chatbot_directory: ChatbotDirectory
    applications: CarrierApplications
    capacity: Capacity
    grants: BusinessGrants
    audit: AuditLog
    retention: Retention
    alerts: Alerts
    businesses: Businesses
    conversations: Conversations
    auto_reply: AutoReply
    inbox: Inbox

    @classmethod
    def build(cls, ctx: ServiceContext) -> Services:
        directory = Directory(ctx)
        outbox = CallbackOutbox(ctx, directory)
        early_reports = EarlyReports(ctx, directory, outbox)
        revoker = Revoker(ctx, directory, outbox)
        router = Router(ctx, directory, ChannelHealth(failures_to_open=ctx.settings.circuit_failures_to_open,
                                                      open_seconds=ctx.settings.circuit_open_seconds))
        webhooks = CarrierWebhooks(ctx, directory, outbox, early_reports, revoker, router)
        sessions = ChannelSessions(ctx)
        h5 = H5Pages(ctx)
        channel_admin = ChannelAdmin(ctx, directory, sessions, router)
        ctx.inbound_sink = webhooks.receive_parsed
        words = SensitiveWords(ctx)
        files = LocalFileStore(ctx.settings.data_dir / "materials")
        materials = MaterialLibrary(ctx, directory, files)
        audit = AuditLog(ctx)
        grants = BusinessGrants(ctx, audit)
        templates = TemplateCatalog(ctx, directory, materials, words, grants)
        materials.on_approved.append(templates.materials_approved)

        async def apply_media_audits(session: AsyncSession, tenant_id: str, chatbot_id: str,
                                     parsed: WebhookParseResult) -> None:
            if parsed.media_audits:
                await materials.apply_audits(session, tenant_id, chatbot_id, parsed.media_audits)

        provisioning = Provisioning(ctx, channel_admin, [materials.chatbot_added, templates.chatbot_added])
        chatbots = ChatbotCatalog(ctx, directory, provisioning, channel_admin, materials)
        materials.on_approved.append(chatbots.material_approved)
        webhooks.audit_handlers += [apply_media_audits, templates.apply_audits, chatbots.apply_reports]
        chatbot_directory = ChatbotDirectory(ctx)

        async def reindex(tenant_id: str, profile_id: str) -> None:
            entry = await chatbots.directory_entry(tenant_id, profile_id)
            if entry is None:
                await chatbot_directory.remove(profile_id)
            else:
                await chatbot_directory.index(entry)

        chatbots.on_changed.append(reindex)
        capacity = Capacity(ctx, directory, router, audit)
        outbox.settlers.append(capacity.settle)
        sender = Sender(ctx, directory, outbox, early_reports, router, h5, RateLimiter(ctx), materials, templates)
        sender.on_refused_credentials.append(chatbots.note_refused_credentials)
        submitter = Submitter(ctx, directory, materials, templates, words, router, capacity, grants)
        conversations = Conversations(ctx, audit, LocalFileStore(ctx.settings.data_dir / "uplink-files"))
        submitter.opted_out = conversations.opted_out
        inbox = Inbox(ctx, directory, submitter, audit)
        auto_reply = AutoReply(ctx, directory, submitter, audit)
        auto_reply.on_handover.append(inbox.assign_waiting)
        return cls(
            ctx=ctx, directory=directory, api_keys=ApiKeys(ctx), operator_keys=OperatorKeys(ctx),
            admins=AdminAccounts(ctx), queries=Queries(ctx), provisioning=provisioning,
            channel_admin=channel_admin, webhooks=webhooks, chatbots=chatbots, chatbot_directory=chatbot_directory,
            sender=sender,
            h5=h5, router=router, early_reports=early_reports,
            callback_sender=CallbackSender(ctx, directory),
            submitter=submitter,
            capacity=capacity, grants=grants, audit=audit,
            retention=Retention(ctx, audit),
            alerts=Alerts(ctx, capacity, audit),
            businesses=Businesses(ctx, directory, audit),
            conversations=conversations,
            auto_reply=auto_reply, inbox=inbox,
            channel_sessions=sessions,
            revoker=revoker, materials=materials, templates=templates, words=words,
            applications=CarrierApplications(ctx, directory, provisioning, chatbots, materials, files),
        )

    async def send(self, access: BusinessAccess, request: SendRequest) -> SendResponse:
        return await self.submitter.submit(access, request)

    async def ready(self) -> None:
        """Raises when the database cannot be read."""
        async with self.ctx.db.reader() as session:
            await session.execute(text("SELECT 1"))
