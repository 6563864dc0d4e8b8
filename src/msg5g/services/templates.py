"""Templates: versions, internal review, the audit of each version on every chatbot, and rendering
for a send.

Lifecycle of a version: draft → in_review → approved (by someone other than its author) or
rejected. An approved version is then taken to every chatbot of the tenant (`template-sync`): it
waits there for the materials it uses to be approved on that chatbot, then goes to the carrier's
audit where the carrier has one (`audits_templates`), or is approved by the platform's own checks
where it has none (docs/protocol-choices.md). Editing an approved version makes a new draft; the
old version stays in use on each chatbot until the new one is approved there, and is then
superseded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.channels import OutboundMessage
from msg5g.content.sensitive import WordMatcher
from msg5g.content.templates import CompiledTemplate, ParamType, TemplateDefinition, compile_template
from msg5g.domain.content import Content
from msg5g.domain.errors import (
    ChannelAuthError,
    Conflict,
    DomainError,
    NotFound,
    PermanentChannelError,
    TransientChannelError,
    ValidationFailed,
)
from msg5g.domain.messages import TrafficClass, WebhookParseResult
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.pipeline.queue import Job, NewJob, RetryLater
from msg5g.services.access import BusinessAccess
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory
from msg5g.services.grants import BusinessGrants, ResourceType
from msg5g.services.materials import MaterialLibrary
from msg5g.services.words import SensitiveWords
from msg5g.storage.repositories import ChatbotRepository, TemplateRepository
from msg5g.storage.tables import Template, TemplateChannelState, TemplateVersion

log = logging.getLogger(__name__)

TOPIC_TEMPLATE_SYNC = "template-sync"
SUBMIT_MAX_ATTEMPTS = 8
_CACHE_SECONDS = 5.0


class ReviewState(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"


class ChannelTemplateState(StrEnum):
    WAITING_MATERIALS = "waiting_materials"
    SUBMITTED = "submitted"  # at the carrier's audit
    APPROVED = "approved"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"  # a newer version was approved on this chatbot
    DISABLED = "disabled"
    UNSUPPORTED = "unsupported"  # the channel cannot carry this layout
    FAILED = "failed"  # the carrier refused the submission itself


class TemplateNotApproved(ValidationFailed):
    code = "template_not_approved"


class SameReviewer(DomainError):
    code = "same_reviewer"
    http_status = 403


# ---- views ------------------------------------------------------------------------------------


class ChannelStateView(BaseModel):
    chatbot_id: str
    channel_id: str
    state: ChannelTemplateState
    carrier_template_id: str | None
    reason: str | None
    updated_at: datetime


class VersionView(BaseModel):
    version: int
    review_state: ReviewState
    definition: TemplateDefinition
    created_by: str
    reviewed_by: str | None
    review_note: str | None
    created_at: datetime
    channels: list[ChannelStateView]


class TemplateView(BaseModel):
    id: str
    business_id: str
    name: str
    created_at: datetime
    disabled: bool
    versions: list[VersionView]


class PreviewView(BaseModel):
    chatbot_id: str
    channel_type: str
    content: dict[str, Any]
    fallback_text: str | None
    payload: str  # the body the chatbot's adapter would send


@dataclass(frozen=True, slots=True)
class ApprovedVersion:
    version: TemplateVersion
    compiled: CompiledTemplate


def _state_view(row: TemplateChannelState) -> ChannelStateView:
    return ChannelStateView(chatbot_id=row.chatbot_id, channel_id=row.channel_id,
                            state=ChannelTemplateState(row.state), carrier_template_id=row.carrier_template_id,
                            reason=row.reason, updated_at=as_utc(row.updated_at))


def _view(template: Template, versions: Iterable[TemplateVersion],
          states: Iterable[TemplateChannelState]) -> TemplateView:
    by_version: dict[str, list[TemplateChannelState]] = {}
    for state in states:
        by_version.setdefault(state.version_id, []).append(state)
    return TemplateView(
        id=template.id, business_id=template.business_id, name=template.name, created_at=as_utc(template.created_at),
        disabled=template.disabled_at is not None,
        versions=[VersionView(version=v.version, review_state=ReviewState(v.review_state),
                              definition=TemplateDefinition.model_validate(v.definition), created_by=v.created_by,
                              reviewed_by=v.reviewed_by, review_note=v.review_note, created_at=as_utc(v.created_at),
                              channels=[_state_view(s) for s in by_version.get(v.id, [])]) for v in versions])


def text_leaves(definition: TemplateDefinition) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key not in {"kind", "type", "material_id", "url", "orientation", "image_alignment", "card_width",
                               "height", "application", "view_mode"}:
                    walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str):
            found.append(node)

    walk(definition.layout)
    if definition.fallback_text:
        found.append(definition.fallback_text)
    return found


class TemplateCatalog:
    def __init__(self, ctx: ServiceContext, directory: Directory, materials: MaterialLibrary,
                 words: SensitiveWords, grants: BusinessGrants) -> None:
        self._ctx = ctx
        self._grants = grants
        self._directory = directory
        self._materials = materials
        self._words = words
        self._compiled: dict[str, CompiledTemplate] = {}
        self._approved: dict[tuple[str, str, str], tuple[float, ApprovedVersion | None]] = {}

    # ---- authoring ------------------------------------------------------------------------------

    async def _checked(self, access: BusinessAccess, definition: TemplateDefinition) -> TemplateDefinition:
        compile_template(definition)  # raises TemplateInvalid / TemplateUnsafe / ParamsInvalid
        matcher = await self._words.matcher(access.tenant_id)
        for text in text_leaves(definition):
            matcher.check(text, where="the template", field="definition")
        for spec in definition.parameters:
            if spec.type is ParamType.STRING and isinstance(spec.sample, str):
                matcher.check(spec.sample, where=f"the sample of {spec.name}", field="definition.parameters")
        await self._materials.check_owned(access.tenant_id, access.business_id,
                                          compile_template(definition).materials)
        return definition

    async def create(self, access: BusinessAccess, name: str, definition: TemplateDefinition, actor: str
                     ) -> TemplateView:
        await self._checked(access, definition)
        now = utcnow()
        template = Template(id=new_id(), tenant_id=access.tenant_id, business_id=access.business_id, name=name,
                            created_at=now, updated_at=now, disabled_at=None)
        version = TemplateVersion(id=new_id(), tenant_id=access.tenant_id, template_id=template.id, version=1,
                                  definition=definition.model_dump(mode="json"), review_state=ReviewState.DRAFT.value,
                                  created_by=actor, reviewed_by=None, review_note=None, reviewed_at=None,
                                  created_at=now)
        async with self._ctx.db.transaction() as session:
            repo = TemplateRepository(session, access.tenant_id)
            await repo.add(template)
            await repo.add(version)
        return _view(template, [version], [])

    async def edit(self, access: BusinessAccess, template_id: str, definition: TemplateDefinition, actor: str
                   ) -> TemplateView:
        """A draft (or rejected) latest version is changed in place; otherwise a new version is made."""
        await self._checked(access, definition)
        now = utcnow()
        async with self._ctx.db.transaction() as session:
            repo = TemplateRepository(session, access.tenant_id)
            template = await self._owned(repo, access, template_id)
            versions = list(await repo.versions(template_id))
            latest = versions[-1]
            if latest.review_state in {ReviewState.DRAFT, ReviewState.REJECTED}:
                latest.definition = definition.model_dump(mode="json")
                latest.review_state = ReviewState.DRAFT.value
                latest.created_by, latest.reviewed_by, latest.review_note = actor, None, None
            elif latest.review_state == ReviewState.IN_REVIEW:
                raise Conflict("the latest version is in review; approve or reject it first", code="version_in_review")
            else:
                versions.append(TemplateVersion(
                    id=new_id(), tenant_id=access.tenant_id, template_id=template_id, version=latest.version + 1,
                    definition=definition.model_dump(mode="json"), review_state=ReviewState.DRAFT.value,
                    created_by=actor, reviewed_by=None, review_note=None, reviewed_at=None, created_at=now))
                await repo.add(versions[-1])
            template.updated_at = now
            return _view(template, versions, await repo.states(template_id))

    async def submit_for_review(self, access: BusinessAccess, template_id: str, version: int) -> TemplateView:
        async with self._ctx.db.transaction() as session:
            repo = TemplateRepository(session, access.tenant_id)
            template = await self._owned(repo, access, template_id)
            versions = list(await repo.versions(template_id))
            row = _version(versions, version)
            if row.review_state != ReviewState.DRAFT:
                raise Conflict(f"version {version} is {row.review_state}, not a draft", code="invalid_review_state")
            row.review_state = ReviewState.IN_REVIEW.value
            return _view(template, versions, await repo.states(template_id))

    async def review(self, access: BusinessAccess, template_id: str, version: int, *, approved: bool,
                     note: str | None, reviewer: str) -> TemplateView:
        """The internal review (maker-checker): the reviewer must not be the version's author. An
        approval takes the version to every chatbot of the tenant."""
        async with self._ctx.db.transaction() as session:
            repo = TemplateRepository(session, access.tenant_id)
            template = await self._owned(repo, access, template_id)
            versions = list(await repo.versions(template_id))
            row = _version(versions, version)
            if row.review_state != ReviewState.IN_REVIEW:
                raise Conflict(f"version {version} is {row.review_state}, not in review", code="invalid_review_state")
            if row.created_by == reviewer:
                raise SameReviewer("a version is reviewed by someone other than its author")
            row.review_state = (ReviewState.APPROVED if approved else ReviewState.REJECTED).value
            row.reviewed_by, row.review_note, row.reviewed_at = reviewer, note, utcnow()
            if approved:
                chatbots = await ChatbotRepository(session, access.tenant_id).all()
                await self._new_states(session, access.tenant_id, [(template, row)],
                                       [(c.id, c.channel_id) for c in chatbots])
            states = await repo.states(template_id)
        if approved:
            self._ctx.queue.notify(TOPIC_TEMPLATE_SYNC)
        return _view(template, versions, states)

    async def disable(self, access: BusinessAccess, template_id: str) -> TemplateView:
        async with self._ctx.db.transaction() as session:
            repo = TemplateRepository(session, access.tenant_id)
            template = await self._owned(repo, access, template_id)
            template.disabled_at = utcnow()
            states = list(await repo.states(template_id))
            for state in states:
                if state.state not in {ChannelTemplateState.REJECTED, ChannelTemplateState.SUPERSEDED}:
                    state.state = ChannelTemplateState.DISABLED.value
                    state.updated_at = utcnow()
            versions = await repo.versions(template_id)
        self._approved.clear()
        return _view(template, versions, states)

    async def get(self, access: BusinessAccess, template_id: str) -> TemplateView:
        async with self._ctx.db.reader() as session:
            repo = TemplateRepository(session, access.tenant_id)
            template = await self._owned(repo, access, template_id)
            return _view(template, await repo.versions(template_id), await repo.states(template_id))

    async def browse(self, access: BusinessAccess) -> list[TemplateView]:
        async with self._ctx.db.reader() as session:
            repo = TemplateRepository(session, access.tenant_id)
            return [_view(t, await repo.versions(t.id), await repo.states(t.id))
                    for t in await repo.of_business(access.business_id)]

    async def preview(self, access: BusinessAccess, template_id: str, version: int | None,
                      params: Mapping[str, Any] | None) -> list[PreviewView]:
        """The version rendered (with its samples unless params are given) through the adapter of each
        chatbot it can go to: exactly the body that chatbot's carrier would receive."""
        async with self._ctx.db.reader() as session:
            repo = TemplateRepository(session, access.tenant_id)
            await self._owned(repo, access, template_id)
            versions = list(await repo.versions(template_id))
            chatbots = await ChatbotRepository(session, access.tenant_id).all()
        row = _version(versions, version) if version is not None else versions[-1]
        compiled = self._compile(row)
        rendered = compiled.render(params if params is not None else compiled.samples())
        previews = []
        for chatbot in chatbots:
            resolved = await self._directory.chatbot(access.tenant_id, chatbot.id)
            adapter = self._ctx.adapter(resolved.endpoint.type)
            try:
                content = await self._content_for(access.tenant_id, chatbot.id, rendered.content,
                                                  resolved.endpoint.type)
                payload = adapter.preview(resolved.account, OutboundMessage(
                    message_id="preview", recipient="+8613800000000", content=content,
                    traffic_class=TrafficClass.NOTIFICATION, fallback_text=rendered.fallback_text))
                text = payload.decode("utf-8", errors="replace")
            except DomainError as exc:
                text = f"(not sendable on this chatbot: {exc.message})"
            except NotImplementedError:
                text = "(this channel has no preview)"
            previews.append(PreviewView(chatbot_id=chatbot.id, channel_type=resolved.endpoint.type,
                                        content=rendered.content.model_dump(mode="json", exclude_none=True),
                                        fallback_text=rendered.fallback_text, payload=text))
        return previews

    async def _content_for(self, tenant_id: str, chatbot_id: str, content: Content, channel_type: str) -> Content:
        if not self._ctx.registry.adapter_type(channel_type).media_limits.kinds:
            return content  # a text-only channel sends the fallback text; its materials do not matter
        return await self._materials.resolve(tenant_id, chatbot_id, content)

    @staticmethod
    async def _owned(repo: TemplateRepository, access: BusinessAccess, template_id: str) -> Template:
        template = await repo.get(template_id)
        if template is None or template.business_id != access.business_id:
            raise NotFound("no such template", code="template_not_found", field="template")
        return template

    def _compile(self, version: TemplateVersion) -> CompiledTemplate:
        compiled = self._compiled.get(version.id)
        if compiled is None:
            compiled = compile_template(TemplateDefinition.model_validate(version.definition))
            if len(self._compiled) > 2048:
                self._compiled.clear()
            self._compiled[version.id] = compiled
        return compiled

    # ---- taking versions to chatbots ------------------------------------------------------------

    async def _new_states(self, session: AsyncSession, tenant_id: str,
                          versions: list[tuple[Template, TemplateVersion]], chatbots: list[tuple[str, str]]) -> None:
        now = utcnow()
        repo = TemplateRepository(session, tenant_id)
        jobs = []
        for template, version in versions:
            for chatbot_id, channel_id in chatbots:
                state = TemplateChannelState(
                    id=new_id(), tenant_id=tenant_id, template_id=template.id, version_id=version.id,
                    version=version.version, chatbot_id=chatbot_id, channel_id=channel_id,
                    state=ChannelTemplateState.WAITING_MATERIALS.value, carrier_template_id=None, reason=None,
                    created_at=now, updated_at=now)
                await repo.add(state)
                jobs.append(NewJob(topic=TOPIC_TEMPLATE_SYNC, tenant_id=tenant_id,
                                   payload={"tenant_id": tenant_id, "state_id": state.id}))
        await self._ctx.queue.enqueue(session, jobs)

    async def chatbot_added(self, session: AsyncSession, tenant_id: str, chatbot_id: str, channel_id: str) -> int:
        """Every template's newest internally approved version goes to a new chatbot."""
        repo = TemplateRepository(session, tenant_id)
        pending = []
        for template in await repo.all_live():
            approved = [v for v in await repo.versions(template.id) if v.review_state == ReviewState.APPROVED]
            if approved:
                pending.append((template, approved[-1]))
        if pending:
            await self._new_states(session, tenant_id, pending, [(chatbot_id, channel_id)])
            self._ctx.queue.notify(TOPIC_TEMPLATE_SYNC)
        return len(pending)

    async def materials_approved(self, session: AsyncSession, tenant_id: str, chatbot_id: str) -> None:
        """A material was approved on a chatbot: the versions waiting there for materials look again."""
        waiting = await TemplateRepository(session, tenant_id).states_on(
            chatbot_id, ChannelTemplateState.WAITING_MATERIALS.value)
        if waiting:
            await self._ctx.queue.enqueue(session, [NewJob(
                topic=TOPIC_TEMPLATE_SYNC, tenant_id=tenant_id, payload={"tenant_id": tenant_id, "state_id": s.id})
                for s in waiting])
            self._ctx.queue.notify(TOPIC_TEMPLATE_SYNC)

    async def counts(self, tenant_id: str, chatbot_id: str) -> dict[str, int]:
        async with self._ctx.db.reader() as session:
            return await TemplateRepository(session, tenant_id).state_counts(chatbot_id)

    async def run_sync(self, job: Job) -> bool:
        tenant_id, state_id = job.payload["tenant_id"], job.payload["state_id"]
        async with self._ctx.db.reader() as session:
            repo = TemplateRepository(session, tenant_id)
            state = await repo.state(state_id)
            version = await repo.version(state.version_id) if state else None
            template = await repo.get(state.template_id) if state else None
        if state is None or version is None or template is None or template.disabled_at is not None:
            return False
        if state.state != ChannelTemplateState.WAITING_MATERIALS:
            return False  # moved on by an earlier run
        chatbot = await self._directory.chatbot(tenant_id, state.chatbot_id)
        adapter_type = self._ctx.registry.adapter_type(chatbot.endpoint.type)
        compiled = self._compile(version)
        sample = compiled.sample
        refusal = adapter_type.capabilities.refusal(sample.content, sample.fallback_text)
        if refusal:
            await self._settle(tenant_id, state_id, ChannelTemplateState.UNSUPPORTED, refusal)
            return False
        needs_media = bool(adapter_type.media_limits.kinds) and not adapter_type.capabilities.sends_fallback_text
        if needs_media and not await self._materials.ready_on(tenant_id, state.chatbot_id, compiled.materials):
            refusal = await self._materials.refusal_on(tenant_id, state.chatbot_id, compiled.materials)
            if refusal:
                await self._settle(tenant_id, state_id, ChannelTemplateState.REJECTED, refusal)
                return False
            # Still uploading or at audit: look again later (or sooner, when one is approved).
            poll = self._ctx.settings.template_materials_poll_seconds
            raise RetryLater(min(600.0, poll * job.attempts), "waiting for materials")
        if not adapter_type.audits_templates:
            await self._settle(tenant_id, state_id, ChannelTemplateState.APPROVED,
                               "approved by the platform's checks (the carrier has no template audit)")
            return False
        content = await self._content_for(tenant_id, state.chatbot_id, sample.content, chatbot.endpoint.type)
        adapter = self._ctx.adapter(chatbot.endpoint.type)
        try:
            carrier_id = await adapter.submit_template(
                chatbot.endpoint, chatbot.account, template.name, OutboundMessage(
                    message_id=f"template-{version.id}", recipient="+8613800000000", content=content,
                    traffic_class=TrafficClass.NOTIFICATION, fallback_text=sample.fallback_text))
        except (TransientChannelError, ChannelAuthError) as exc:
            if job.attempts >= SUBMIT_MAX_ATTEMPTS:
                await self._settle(tenant_id, state_id, ChannelTemplateState.FAILED, f"the carrier kept failing: {exc}")
                return False
            raise RetryLater(min(300.0, 2.0 ** job.attempts), str(exc)) from exc
        except PermanentChannelError as exc:
            await self._settle(tenant_id, state_id, ChannelTemplateState.FAILED, f"the carrier refused it: {exc}")
            return False
        await self._settle(tenant_id, state_id, ChannelTemplateState.SUBMITTED, None, carrier_template_id=carrier_id)
        return False

    async def _settle(self, tenant_id: str, state_id: str, outcome: ChannelTemplateState, reason: str | None, *,
                      carrier_template_id: str | None = None) -> None:
        async with self._ctx.db.transaction() as session:
            state = await TemplateRepository(session, tenant_id).state(state_id)
            if state is None:
                return
            await self._move(session, state, outcome, reason)
            if carrier_template_id is not None:
                state.carrier_template_id = carrier_template_id

    async def _move(self, session: AsyncSession, state: TemplateChannelState, outcome: ChannelTemplateState,
                    reason: str | None) -> None:
        state.state, state.reason, state.updated_at = outcome.value, reason, utcnow()
        if outcome is ChannelTemplateState.APPROVED:
            # Older versions on this chatbot give way to the newly approved one.
            for older in await TemplateRepository(session, state.tenant_id).states(state.template_id, state.chatbot_id):
                if older.version < state.version and older.state == ChannelTemplateState.APPROVED:
                    older.state = ChannelTemplateState.SUPERSEDED.value
                    older.reason = f"version {state.version} was approved"
                    older.updated_at = utcnow()
            self._approved.clear()
        log.info("template state", extra={"template_id": state.template_id, "version": state.version,
                                          "chatbot_id": state.chatbot_id, "state": outcome.value})

    async def apply_audits(self, session: AsyncSession, tenant_id: str, chatbot_id: str,
                           parsed: WebhookParseResult) -> None:
        repo = TemplateRepository(session, tenant_id)
        for report in parsed.template_audits:
            state = await repo.state_by_carrier_id(chatbot_id, report.carrier_template_id)
            if state is None or state.state != ChannelTemplateState.SUBMITTED:
                continue  # unknown, or settled by an earlier copy of the notification
            await self._move(session, state, ChannelTemplateState.APPROVED if report.approved
                             else ChannelTemplateState.REJECTED, report.reason)

    # ---- sending ------------------------------------------------------------------------------------

    async def approved_on(self, tenant_id: str, template_id: str, chatbot_id: str) -> ApprovedVersion | None:
        """The newest version approved on that chatbot (kept a few seconds)."""
        key = (tenant_id, template_id, chatbot_id)
        cached = self._approved.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        async with self._ctx.db.reader() as session:
            repo = TemplateRepository(session, tenant_id)
            template = await repo.get(template_id)
            states = [s for s in await repo.states(template_id, chatbot_id) if s.state == ChannelTemplateState.APPROVED]
            version = await repo.version(states[-1].version_id) if states and template and \
                template.disabled_at is None else None
        found = ApprovedVersion(version, self._compile(version)) if version is not None else None
        if len(self._approved) > 4096:
            self._approved.clear()
        self._approved[key] = (time.monotonic() + _CACHE_SECONDS, found)
        return found

    async def for_send(self, access: BusinessAccess, template_id: str, chatbot_ids: Iterable[str]) -> ApprovedVersion:
        """The version a send's parameters are checked against: the newest one approved on any of the
        chatbots the message may go through. Raises when there is none."""
        async with self._ctx.db.reader() as session:
            template = await TemplateRepository(session, access.tenant_id).get(template_id)
        # Another business's template is as unknown as a missing one, unless the business is mapped to it.
        if template is None or not await self._grants.may_use(
                access.tenant_id, access.business_id, ResourceType.TEMPLATE, template_id, template.business_id):
            raise NotFound("no such template", code="template_not_found", field="template")
        found = [a for a in [await self.approved_on(access.tenant_id, template_id, c) for c in chatbot_ids] if a]
        if not found:
            raise TemplateNotApproved("the template has no version approved on this chatbot or its routes",
                                      field="template")
        return max(found, key=lambda a: a.version.version)

    async def render_for(self, tenant_id: str, template_id: str, chatbot_id: str, params: Mapping[str, Any],
                         matcher: WordMatcher | None = None) -> tuple[Content, str | None]:
        """The message as the version approved on this chatbot renders it. Raises TemplateNotApproved
        or ParamsInvalid (a version approved later may want other parameters)."""
        approved = await self.approved_on(tenant_id, template_id, chatbot_id)
        if approved is None:
            raise TemplateNotApproved("the template is not approved on this chatbot", field="template")
        rendered = approved.compiled.render(params)
        return rendered.content, rendered.fallback_text


def _version(versions: list[TemplateVersion], number: int) -> TemplateVersion:
    for row in versions:
        if row.version == number:
            return row
    raise NotFound(f"no version {number}", code="version_not_found", field="version")
