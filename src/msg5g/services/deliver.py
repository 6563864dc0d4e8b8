"""Sending: the handler of the send topic.

One job carries up to `send_batch_size` message ids. For each message the handler records a
pending delivery attempt (the message is then `queued`), calls the carrier through the chatbot's
channel adapter, and records what the carrier said. It is idempotent, because a job can run twice
(a worker killed after the carrier's 2xx but before our commit): messages whose attempt already
got past pending are skipped, and a resend goes out with the same carrier `messageId` (our message
id), which the carrier recognises and does not deliver twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.channels import OutboundMessage, SendResult
from msg5g.domain.content import CarouselContent, Content, RichCardContent, TextContent
from msg5g.domain.errors import (
    ChannelAuthError,
    ChannelError,
    DomainError,
    PermanentChannelError,
    PortedOut,
    RateLimited,
    TransientChannelError,
)
from msg5g.domain.messages import AttemptState, FallbackPolicy, MessageStatus, TrafficClass
from msg5g.kit import metrics
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.kit.logging import trace_id_var
from msg5g.pipeline.queue import TOPIC_SEND, Job, NewJob, backoff_delay
from msg5g.services.callbacks import CallbackOutbox
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory, ResolvedChatbot
from msg5g.services.early_reports import EarlyReports
from msg5g.services.h5 import H5Pages
from msg5g.services.limits import RateLimiter
from msg5g.services.materials import MaterialLibrary, referenced_materials
from msg5g.services.routing import NOT_CAPABLE, NoRoute, Router
from msg5g.services.status import StatusChange, apply_status_changes
from msg5g.services.templates import TemplateCatalog
from msg5g.storage.repositories import AttemptIndex, MessageRepository
from msg5g.storage.tables import DeliveryAttempt, Message, Submission

log = logging.getLogger(__name__)
_ROUTABLE = {AttemptState.PENDING.value, AttemptState.FAILED.value}
_PLATFORM_FALLBACKS = {FallbackPolicy.SMS.value, FallbackPolicy.H5.value}
MAX_ROUTES_PER_MESSAGE = 3
# A carrier's "too many requests" refuses our pace, not the message: it costs the message no try for
# this long after its attempt began (after that it does, so a carrier that never relents ends it).
RATE_LIMIT_PATIENCE = timedelta(minutes=30)
_content_adapter: TypeAdapter[Content] = TypeAdapter(Content)


@dataclass(slots=True)
class _Outcome:
    message: Message
    attempt: DeliveryAttempt
    result: SendResult | None = None
    error: ChannelError | None = None
    content: Content | None = None
    fallback_text: str | None = None
    ungroup: bool = False  # a refused group send: this recipient goes on its own next time
    submission: Submission | None = None


class Sender:
    def __init__(self, ctx: ServiceContext, directory: Directory, callbacks: CallbackOutbox,
                 early_reports: EarlyReports, router: Router, h5: H5Pages, limiter: RateLimiter,
                 materials: MaterialLibrary, templates: TemplateCatalog) -> None:
        self._ctx = ctx
        self._materials = materials
        self._templates = templates
        self._directory = directory
        self._callbacks = callbacks
        self._early = early_reports
        self._router = router
        self._h5 = h5
        self._limiter = limiter
        self._reroutes: dict[str, int] = {}
        self._in_flight = asyncio.Semaphore(ctx.settings.send_concurrency)
        self._contents: dict[str, Content] = {}
        # Told (tenant id, chatbot id, reason) when a carrier refuses a chatbot's credentials.
        self.on_refused_credentials: list[Callable[[str, str, str], Coroutine[Any, Any, None]]] = []
        self._background: set[asyncio.Task[None]] = set()

    async def __call__(self, job: Job) -> bool:
        tenant_id: str = job.payload["tenant_id"]
        message_ids: list[str] = job.payload["message_ids"]
        trace_id_var.set(f"job-{job.id}")
        async with self._ctx.db.reader() as session:
            repo = MessageRepository(session, tenant_id)
            messages = await repo.many(message_ids)
            attempts = await repo.attempts(message_ids)
            submissions = await repo.submissions({m.submission_id for m in messages})
        latest: dict[str, DeliveryAttempt] = {a.message_id: a for a in attempts}  # ordered by created_at
        failed_channels: dict[str, set[str]] = {}
        for earlier in attempts:
            if earlier.state == AttemptState.FAILED.value:
                failed_channels.setdefault(earlier.message_id, set()).add(earlier.channel_id)
        now = utcnow()
        await self._router.prefetch(m.recipient for m in messages if latest.get(m.id) is None
                                    or latest[m.id].state == AttemptState.FAILED.value)
        to_send: list[tuple[Message, DeliveryAttempt]] = []
        new_attempts: list[DeliveryAttempt] = []
        expired: list[StatusChange] = []
        for message in messages:
            status = MessageStatus(message.status)
            attempt = latest.get(message.id)
            # A failed attempt of a message that is not failed was failed over: it gets a new one.
            if status.is_final or (attempt is not None and attempt.state not in _ROUTABLE):
                continue  # already handled by an earlier run of this job
            submission = submissions[message.submission_id]
            if submission.expires_at is not None and as_utc(submission.expires_at) <= now:
                expired.append(StatusChange(message.id, MessageStatus.EXPIRED, now, "expired before it could be sent"))
                continue
            if attempt is None or attempt.state == AttemptState.FAILED.value:
                over_sms = submission.fallback_policy in _PLATFORM_FALLBACKS and (
                    (attempt is not None and attempt.error_code == NOT_CAPABLE)
                    or await self._router.sms_only(message.recipient))
                # A platform fallback always has text for SMS: the fallback text, or the H5 link.
                sms_text = (submission.fallback_text or "(H5 link)") if over_sms else submission.fallback_text
                try:
                    choice = await self._router.choose(
                        tenant_id, message.chatbot_id, message.recipient, self._content(submission), sms_text,
                        avoid_channels=() if over_sms else failed_channels.get(message.id, ()), over_sms=over_sms,
                        ready=self._readiness(tenant_id, submission))
                except NoRoute as exc:
                    expired.append(StatusChange(message.id, MessageStatus.FAILED, now, str(exc)))
                    continue
                chatbot = choice.chatbot
                attempt = DeliveryAttempt(
                    id=new_id(), tenant_id=tenant_id, message_id=message.id, channel_id=chatbot.endpoint.channel_id,
                    recipient=message.recipient,
                    chatbot_id=chatbot.account.chatbot_id, carrier_message_id=message.id,
                    state=AttemptState.PENDING.value,
                    tries=0, error_code=None, error_reason=None, created_at=now, sent_at=None, updated_at=now,
                    revoke_requested_at=None, revoke_result=None,
                )
                new_attempts.append(attempt)
            to_send.append((message, attempt))
        await self._form_groups(tenant_id, new_attempts, {m.id: m for m in messages})
        if new_attempts or expired:
            # The pending attempt is committed before the carrier call: the carrier's reports can
            # arrive before its answer does, and they are matched to this attempt.
            async with self._ctx.db.transaction() as session:
                await MessageRepository(session, tenant_id).add_attempts(new_attempts)
                queued = [StatusChange(a.message_id, MessageStatus.QUEUED, now) for a in new_attempts]
                await apply_status_changes(session, tenant_id, queued + expired, self._callbacks, channel_type="-")
        to_send, deferred, defer_for, regrouped = await self._within_limits(tenant_id, to_send)
        if not to_send:
            if not deferred:
                return False
            async with self._ctx.db.transaction() as session:
                await self._defer(session, tenant_id, job, deferred, defer_for, regrouped)
                await self._ctx.queue.ack_in(session, [job])
            return True
        singles, groups = _units(to_send)
        single_outcomes, group_outcomes = await asyncio.gather(
            asyncio.gather(*(self._send_one(tenant_id, m, a, submissions[m.submission_id]) for m, a in singles)),
            asyncio.gather(*(self._send_group(tenant_id, group, submissions[group[0][0].submission_id])
                             for group in groups)))
        outcomes = list(single_outcomes) + [o for group in group_outcomes for o in group]
        await self._record(tenant_id, job, outcomes, deferred, defer_for, regrouped)
        return True

    async def _form_groups(self, tenant_id: str, new_attempts: list[DeliveryAttempt],
                           messages: dict[str, Message]) -> None:
        """Recipients of identical content through one chatbot go out as carrier group sends where
        the channel takes them: their attempts share the group's id (its first message's), which
        is the request's messageId, so a resend after a crash is recognised as the same group."""
        if not self._ctx.settings.group_sends:
            return
        by_route: dict[tuple[str, str], list[DeliveryAttempt]] = {}
        for attempt in new_attempts:
            if messages[attempt.message_id].params:
                continue  # its own template parameters: content no other recipient shares
            by_route.setdefault((attempt.chatbot_id, messages[attempt.message_id].submission_id), []).append(attempt)
        for (chatbot_id, _), attempts in by_route.items():
            if len(attempts) < 2:
                continue
            chatbot = await self._directory.chatbot(tenant_id, chatbot_id)
            size = self._ctx.registry.adapter_type(chatbot.endpoint.type).capabilities.max_recipients_per_request
            if size < 2:
                continue
            for start in range(0, len(attempts), size):
                chunk = attempts[start:start + size]
                if len(chunk) > 1:
                    for attempt in chunk:
                        attempt.carrier_message_id = chunk[0].message_id

    async def _send_group(self, tenant_id: str, group: list[tuple[Message, DeliveryAttempt]],
                          submission: Submission) -> list[_Outcome]:
        first_message, first_attempt = group[0]
        chatbot = await self._directory.chatbot(tenant_id, first_attempt.chatbot_id)
        adapter = self._ctx.adapter(chatbot.endpoint.type)
        outcomes = [_Outcome(message=m, attempt=a, content=self._content(submission),
                             fallback_text=submission.fallback_text, submission=submission) for m, a in group]
        try:
            content, fallback = await self._prepared(tenant_id, first_message, submission, chatbot)
        except DomainError as exc:
            for outcome in outcomes:
                outcome.error = PermanentChannelError(exc.message, carrier_code=exc.code)
            return outcomes
        outbound = OutboundMessage(
            message_id=first_attempt.carrier_message_id or first_message.id, recipient=first_message.recipient,
            content=content, traffic_class=TrafficClass(first_message.traffic_class),
            fallback_text=await self._fallback_text(tenant_id, first_message, submission, chatbot, fallback),
            expires_at=submission.expires_at,
        )
        if not chatbot.endpoint.enabled:
            for outcome in outcomes:
                outcome.error = TransientChannelError("the channel is disabled")
            return outcomes
        started = time.perf_counter()
        error: ChannelError | None = None
        async with self._in_flight:
            try:
                results = await adapter.send_group(chatbot.endpoint, chatbot.account, outbound,
                                                   [m.recipient for m, _ in group])
                for outcome in outcomes:
                    outcome.result = results[outcome.message.recipient]
            except ChannelAuthError as exc:
                error = exc
            except PermanentChannelError as exc:
                # The carrier refused the request as a whole (one bad or ported number refuses the
                # group): each recipient is tried on its own, where its own answer can be told.
                error = TransientChannelError(f"the group was refused ({exc}); sent one by one",
                                              carrier_code=exc.carrier_code, http_status=exc.http_status)
                for outcome in outcomes:
                    outcome.ungroup = True
            except ChannelError as exc:
                error = exc
            except Exception as exc:
                log.exception("adapter failed to send a group", extra={"message_id": first_message.id})
                error = TransientChannelError(f"the {chatbot.endpoint.type} adapter failed on a group: {exc}")
                for outcome in outcomes:
                    outcome.ungroup = True
        # A group refused as a whole says something of its recipients, not of the channel.
        self._observe(chatbot, error, time.perf_counter() - started, channels_fault=not outcomes[0].ungroup)
        if error is not None:
            for outcome in outcomes:
                outcome.error = error
        return outcomes

    async def _within_limits(self, tenant_id: str, to_send: list[tuple[Message, DeliveryAttempt]]
                             ) -> tuple[list[tuple[Message, DeliveryAttempt]], list[str], float, dict[str, str]]:
        """What the carriers' TPS limits (and a channel backing off after a rate-limit answer) let
        go now; the rest waits, without spending a try. Returns (now, later, how much later, new
        group ids for the waiting part of split groups)."""
        regrouped: dict[str, str] = {}
        groups: dict[str, list[tuple[Message, DeliveryAttempt]]] = {}
        for pair in to_send:
            groups.setdefault(pair[1].chatbot_id, []).append(pair)
        allowed: list[tuple[Message, DeliveryAttempt]] = []
        deferred: list[str] = []
        delay = 0.0
        for chatbot_id, group in groups.items():
            chatbot = await self._directory.chatbot(tenant_id, chatbot_id)
            cooling = self._router.health.cooldown_remaining(chatbot.endpoint.channel_id)
            if cooling > 0:
                deferred.extend(m.id for m, _ in group)
                delay = max(delay, cooling)
                continue
            limits = {}
            if chatbot.channel_tps:
                limits[f"channel:{chatbot.endpoint.channel_id}"] = chatbot.channel_tps
            if chatbot.chatbot_tps:
                limits[f"chatbot:{chatbot_id}"] = chatbot.chatbot_tps
            granted = await self._limiter.take(limits, len(group)) if limits else len(group)
            allowed.extend(group[:granted])
            if granted < len(group):
                deferred.extend(m.id for m, _ in group[granted:])
                rest = group[granted:]
                if granted:
                    # The part of a group that waits becomes a group of its own: a carrier must not
                    # see one messageId for two different sets of recipients.
                    regrouped.update({a.id: rest[0][0].id for m, a in rest if a.carrier_message_id != m.id})
                rate = min(limits.values())
                # Spread the wait over the time the rest needs at that rate, so deferred batches
                # do not all come back in the same second.
                delay = max(delay, min(30.0, (len(group) - granted) / rate), 1.0 / rate)
        return allowed, deferred, delay, regrouped

    async def _defer(self, session: AsyncSession, tenant_id: str, job: Job, message_ids: list[str],
                     delay: float, regrouped: dict[str, str]) -> None:
        """Queue what waits for the rate limit; `regrouped` gives split groups' rests new group ids."""
        if regrouped:
            await MessageRepository(session, tenant_id).update_attempts(
                [{"id": attempt_id, "carrier_message_id": group_id} for attempt_id, group_id in regrouped.items()],
                only_state=AttemptState.PENDING.value)
        await self._ctx.queue.enqueue(session, [NewJob(
            topic=TOPIC_SEND, priority=job.priority, tenant_id=tenant_id, delay_seconds=delay,
            payload={"tenant_id": tenant_id, "message_ids": message_ids},
        )])

    async def _send_one(self, tenant_id: str, message: Message, attempt: DeliveryAttempt,
                        submission: Submission) -> _Outcome:
        outcome = _Outcome(message=message, attempt=attempt, content=self._content(submission),
                           fallback_text=submission.fallback_text, submission=submission)
        chatbot: ResolvedChatbot = await self._directory.chatbot(tenant_id, attempt.chatbot_id)
        adapter = self._ctx.adapter(chatbot.endpoint.type)
        try:
            content, fallback = await self._prepared(tenant_id, message, submission, chatbot)
        except DomainError as exc:
            outcome.error = PermanentChannelError(exc.message, carrier_code=exc.code)
            return outcome
        outbound = OutboundMessage(
            message_id=message.id, recipient=message.recipient, content=content,
            traffic_class=TrafficClass(message.traffic_class),
            fallback_text=await self._fallback_text(tenant_id, message, submission, chatbot, fallback),
            expires_at=submission.expires_at,
        )
        if not chatbot.endpoint.enabled:
            # Accepted before the channel was disabled: it waits (with backoff) for the channel to
            # come back, and fails with this reason only when its tries run out.
            outcome.error = TransientChannelError("the channel is disabled")
            return outcome
        started = time.perf_counter()
        async with self._in_flight:
            try:
                outcome.result = await adapter.send(chatbot.endpoint, chatbot.account, outbound)
            except ChannelError as exc:
                outcome.error = exc
            except Exception as exc:
                # An adapter that cannot even build the request will not succeed on a retry: the
                # message fails with the reason instead of waiting in the queue for ever.
                log.exception("adapter failed to send", extra={"message_id": message.id})
                outcome.error = PermanentChannelError(f"the {chatbot.endpoint.type} adapter failed: {exc}")
        self._observe(chatbot, outcome.error, time.perf_counter() - started)
        return outcome

    def _observe(self, chatbot: ResolvedChatbot, error: ChannelError | None, elapsed: float, *,
                 channels_fault: bool = True) -> None:
        """The metrics and the channel's health after one carrier call."""
        if isinstance(error, ChannelAuthError) and self.on_refused_credentials:
            # Nothing more goes through an account whose credentials the carrier refuses.
            for listener in self.on_refused_credentials:
                task = asyncio.get_running_loop().create_task(
                    listener(chatbot.tenant_id, chatbot.account.chatbot_id, str(error)))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        metrics.CARRIER_CALLS.labels(chatbot.endpoint.type, "ok" if error is None else type(error).__name__
                                     ).observe(elapsed)
        # Timeouts, 5xx and refused credentials are the channel's trouble; a refused message or a
        # request to slow down is not.
        failed = channels_fault and (isinstance(error, ChannelAuthError) or (
            isinstance(error, TransientChannelError) and not isinstance(error, RateLimited)))
        self._router.health.record(chatbot.endpoint.channel_id, ok=not failed, seconds=elapsed,
                                   error=str(error) if failed else None)

    async def _fallback_text(self, tenant_id: str, message: Message, submission: Submission,
                             chatbot: ResolvedChatbot, fallback_text: str | None) -> str | None:
        """The text a channel may send instead of the rich message: for the carrier to convert
        (policy `carrier`), or what the platform's own SMS carries (policies `sms` and `h5`)."""
        policy = FallbackPolicy(submission.fallback_policy) if submission.fallback_policy else (
            FallbackPolicy.CARRIER if fallback_text else FallbackPolicy.NONE)
        over_sms = self._ctx.registry.adapter_type(chatbot.endpoint.type).capabilities.sends_fallback_text
        if not over_sms:
            return fallback_text if policy == FallbackPolicy.CARRIER else None
        if policy != FallbackPolicy.H5:
            return fallback_text
        link = await self._h5.link_for(tenant_id, message.id)
        content = self._content(submission)
        lead = fallback_text or _headline(content)
        return f"{lead} {link}" if lead else link

    async def _prepared(self, tenant_id: str, message: Message, submission: Submission,
                        chatbot: ResolvedChatbot) -> tuple[Content, str | None]:
        """The content and fallback text as they go through this chatbot: a template rendered by the
        version approved there, materials swapped for the URLs its carrier serves them under.
        Raises DomainError when that chatbot cannot carry them (nothing approved there)."""
        if submission.template_id is not None:
            params = {**(submission.params or {}), **(message.params or {})}
            content, fallback = await self._templates.render_for(
                tenant_id, submission.template_id, chatbot.account.chatbot_id, params)
        else:
            content, fallback = self._content(submission), submission.fallback_text
        if self._carries_media(chatbot):
            content = await self._materials.resolve(tenant_id, chatbot.account.chatbot_id, content)
        return content, fallback

    def _carries_media(self, chatbot: ResolvedChatbot) -> bool:
        adapter_type = self._ctx.registry.adapter_type(chatbot.endpoint.type)
        return bool(adapter_type.media_limits.kinds) and not adapter_type.capabilities.sends_fallback_text

    def _readiness(self, tenant_id: str, submission: Submission) -> Callable[[ResolvedChatbot], Awaitable[bool]] | None:
        """What routing asks of each candidate chatbot: are the submission's template and
        materials approved there? None when it references neither."""
        materials = referenced_materials(self._content(submission)) if submission.template_id is None else set()
        if submission.template_id is None and not materials:
            return None
        template_id = submission.template_id

        async def ready(chatbot: ResolvedChatbot) -> bool:
            wanted = materials
            if template_id is not None:
                approved = await self._templates.approved_on(tenant_id, template_id, chatbot.account.chatbot_id)
                if approved is None:
                    return False
                wanted = set(approved.compiled.materials)
            if not wanted or not self._carries_media(chatbot):
                return True
            return await self._materials.ready_on(tenant_id, chatbot.account.chatbot_id, wanted)
        return ready

    def _content(self, submission: Submission) -> Content:
        content = self._contents.get(submission.id)
        if content is None:
            content = _content_adapter.validate_python(submission.content)
            if len(self._contents) > 1024:
                self._contents.clear()
            self._contents[submission.id] = content
        return content

    async def _record(self, tenant_id: str, job: Job, outcomes: list[_Outcome], deferred: list[str],
                      defer_for: float, regrouped: dict[str, str]) -> None:
        now = utcnow()
        changes: list[StatusChange] = []
        attempt_updates: list[dict[str, Any]] = []
        retry_ids: list[str] = []
        retry_delay = 0.0
        max_tries = self._ctx.settings.carrier_max_attempts
        renamed: dict[str, AttemptIndex] = {}  # chatbot -> attempts by the ids the carrier gave them
        answers: list[dict[str, Any]] = []
        for outcome in outcomes:
            attempt, tries = outcome.attempt, outcome.attempt.tries + 1
            if outcome.result is not None:
                if outcome.result.carrier_message_id != attempt.carrier_message_id:
                    renamed.setdefault(attempt.chatbot_id, AttemptIndex()).add(outcome.result.carrier_message_id,
                                                                              attempt)
                # What the answer says is recorded whatever reports arrived first; only the state
                # waits for "still pending", so a report that moved it on is not undone.
                answers.append({"id": attempt.id, "tries": tries, "sent_at": outcome.result.accepted_at,
                                "carrier_message_id": outcome.result.carrier_message_id, "updated_at": now,
                                "error_code": None, "error_reason": None})
                attempt_updates.append({"id": attempt.id, "state": AttemptState.SENT.value, "updated_at": now})
                changes.append(StatusChange(attempt.message_id, MessageStatus.SENT, now,
                                            carrier_status=outcome.result.carrier_status))
                continue
            error = outcome.error
            assert error is not None
            reroute = await self._reroute_reason(tenant_id, outcome, error)
            if reroute is not None:
                # Another channel takes it from here: this attempt ends, the message goes on.
                attempt_updates.append({"id": attempt.id, "state": AttemptState.FAILED.value, "tries": tries,
                                        "error_code": error.carrier_code, "error_reason": reroute, "updated_at": now})
                retry_ids.append(attempt.message_id)
                continue
            permanent = isinstance(error, PermanentChannelError)
            if isinstance(error, RateLimited) and now - as_utc(attempt.created_at) < RATE_LIMIT_PATIENCE:
                tries = attempt.tries
            if permanent or tries >= max_tries:
                reason = str(error) if permanent else f"gave up after {tries} tries: {error}"
                attempt_updates.append({"id": attempt.id, "state": AttemptState.FAILED.value, "tries": tries,
                                        "error_code": error.carrier_code, "error_reason": reason, "updated_at": now})
                changes.append(StatusChange(attempt.message_id, MessageStatus.FAILED, now, reason,
                                            carrier_status=error.carrier_code))
            else:
                update = {"id": attempt.id, "state": AttemptState.PENDING.value, "tries": tries,
                          "error_code": error.carrier_code, "error_reason": str(error), "updated_at": now}
                if outcome.ungroup:
                    update["carrier_message_id"] = attempt.message_id
                    update["tries"] = attempt.tries  # the group's refusal was not this message's try
                attempt_updates.append(update)
                retry_ids.append(attempt.message_id)
                delay = backoff_delay(tries)
                if isinstance(error, RateLimited):
                    # The carrier asked us to slow down: the whole channel waits, not just this one.
                    delay = max(delay, error.retry_after or 1.0)
                    self._router.health.back_off(attempt.channel_id, delay)
                retry_delay = max(retry_delay, delay)
        channel_type = (await self._directory.chatbot(tenant_id, outcomes[0].message.chatbot_id)).endpoint.type
        async with self._ctx.db.transaction() as session:
            # A delivery report may have moved the attempt on while the carrier's answer was on
            # its way; the answer must not move it back.
            repo = MessageRepository(session, tenant_id)
            await repo.update_attempts(answers)
            await repo.update_attempts(attempt_updates, only_state=AttemptState.PENDING.value)
            for chatbot_id, by_carrier_id in renamed.items():
                # Reports the carrier sent under its own id before this answer was recorded.
                early_changes, early_updates = await self._early.claim(
                    session, tenant_id, chatbot_id, by_carrier_id,
                    current_states={a.id: AttemptState.SENT.value for a in by_carrier_id.attempts()})
                await repo.update_attempts(early_updates)
                changes.extend(early_changes)
            await self._ctx.queue.ack_in(session, [job])
            if deferred:
                await self._defer(session, tenant_id, job, deferred, defer_for, regrouped)
            await apply_status_changes(session, tenant_id, changes, self._callbacks, channel_type=channel_type)
            if retry_ids:
                # Retried messages go back as a job of their own so the rest of the batch is done.
                await self._ctx.queue.enqueue(session, [NewJob(
                    topic=TOPIC_SEND, priority=job.priority, tenant_id=tenant_id, delay_seconds=retry_delay,
                    payload={"tenant_id": tenant_id, "message_ids": retry_ids},
                )])
        if retry_ids:
            log.info("carrier call will be retried", extra={"count": len(retry_ids), "delay": round(retry_delay, 2)})
        await self._router.write_health_changes()

    async def _reroute_reason(self, tenant_id: str, outcome: _Outcome, error: ChannelError) -> str | None:
        """Why this message should leave its attempt's channel for another route, or None."""
        attempt, message = outcome.attempt, outcome.message
        if isinstance(error, PortedOut):
            carrier = self._ctx.registry.adapter_type(
                (await self._directory.chatbot(tenant_id, attempt.chatbot_id)).endpoint.type).carrier
            if carrier is not None:
                await self._router.learn_ported(message.recipient, carrier)
            why = f"ported out: {error}"
        elif isinstance(error, TransientChannelError) and not isinstance(error, RateLimited) and \
                self._router.health.is_open(attempt.channel_id):
            why = f"failed over: {error}"
        else:
            return None
        if self._reroutes.get(message.id, 0) >= MAX_ROUTES_PER_MESSAGE:
            return None
        assert outcome.content is not None
        try:
            choice = await self._router.choose(
                tenant_id, message.chatbot_id, message.recipient, outcome.content, outcome.fallback_text,
                avoid_channels={attempt.channel_id}, probe=False,
                ready=self._readiness(tenant_id, outcome.submission) if outcome.submission else None)
        except NoRoute:
            return None
        if choice.chatbot.endpoint.channel_id == attempt.channel_id:
            return None
        self._reroutes[message.id] = self._reroutes.get(message.id, 0) + 1
        if len(self._reroutes) > 10_000:
            self._reroutes.clear()
        return why


def _headline(content: Content) -> str | None:
    """A line of text that says what an H5 link leads to, when the sender gave no fallback text."""
    match content:
        case TextContent(text=text):
            return text[:60]
        case RichCardContent(card=card):
            return card.title or card.description
        case CarouselContent(cards=cards):
            return cards[0].title or cards[0].description
    return None


def _units(to_send: list[tuple[Message, DeliveryAttempt]]
           ) -> tuple[list[tuple[Message, DeliveryAttempt]], list[list[tuple[Message, DeliveryAttempt]]]]:
    """(sent one by one, group sends). A group is the attempts sharing a group id; an attempt whose
    id is a group's but alone now (the rest moved on) still goes as that group, so that a resend
    carries the messageId the carrier may already have."""
    by_key: dict[tuple[str, str], list[tuple[Message, DeliveryAttempt]]] = {}
    for message, attempt in to_send:
        by_key.setdefault((attempt.chatbot_id, attempt.carrier_message_id or message.id), []).append(
            (message, attempt))
    singles: list[tuple[Message, DeliveryAttempt]] = []
    groups: list[list[tuple[Message, DeliveryAttempt]]] = []
    for (_, group_id), members in by_key.items():
        if len(members) == 1 and group_id == members[0][0].id:
            singles.extend(members)
        else:
            groups.append(members)
    return singles, groups
