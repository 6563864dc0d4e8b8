"""Alert management: rules, the alerts they raise, and their notifications (domain/alerts.py says what
each kind watches).

Every worker process evaluates every enabled rule every `alert_eval_seconds` (`evaluate`). That is
safe with many processes because nothing about an alert lives in a process: a rule's alert on a
subject is inserted under a unique (rule, open subject) key, so of two processes that see one signal
exactly one raises it and sends it; channel health events are taken by moving the rule's event cursor
with compare-and-set. Evaluation reads state the platform keeps anyway (cap ledgers, health events,
the queue, callback deliveries, audit states), so the send path pays nothing for alerting.

A raised alert's notifications are rows written in the transaction that raises it, each with a job
on TOPIC_ALERT_NOTIFY: a webhook POST signed like business callbacks (with the rule's own secret),
or an e-mail through the configured SMTP server (`aiosmtplib`). Failures are retried with backoff
and end `failed` after `_NOTIFY_TRIES`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

import aiohttp
import aiosmtplib
import orjson
from pydantic import BaseModel

from msg5g.domain.alerts import (
    EVENT_KINDS,
    AlertKind,
    AlertRuleSpec,
    AlertState,
    AuditResource,
    NotificationState,
    Severity,
)
from msg5g.domain.errors import Conflict, NotFound
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.pipeline.queue import Job, NewJob, RetryLater, backoff_delay
from msg5g.services.audit import AuditLog
from msg5g.services.capacity import Capacity, CapView
from msg5g.services.context import ServiceContext
from msg5g.services.signing import signed_headers
from msg5g.storage.alert_repository import AlertRepository, AlertSignals
from msg5g.storage.tables import AlertNotificationRow, AlertRow, AlertRuleRow

log = logging.getLogger(__name__)

TOPIC_ALERT_NOTIFY = "alert-notify"
_NOTIFY_TRIES = 6
_REJECTION_LOOKBACK = timedelta(days=1)  # a new rule also reports rejections of the last day


class RuleView(BaseModel):
    id: str
    tenant_id: str | None
    spec: AlertRuleSpec
    created_by: str
    created_at: datetime
    updated_at: datetime
    webhook_secret: str | None = None  # only when the rule is created: what its webhooks are signed with


class NotificationView(BaseModel):
    id: str
    channel: str
    target: str
    state: NotificationState
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


class AlertView(BaseModel):
    id: str
    tenant_id: str | None
    rule_id: str
    kind: AlertKind
    severity: Severity
    subject: str
    title: str
    detail: dict[str, Any]
    state: AlertState
    occurrences: int
    first_at: datetime
    last_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None
    notifications: list[NotificationView]


@dataclass(frozen=True, slots=True)
class Signal:
    """What a rule saw about one subject this evaluation."""

    subject: str
    title: str
    detail: dict[str, Any]


def _rule_view(row: AlertRuleRow, secret: str | None = None) -> RuleView:
    return RuleView(id=row.id, tenant_id=row.tenant_id, spec=AlertRuleSpec.model_validate(row.spec),
                    created_by=row.created_by, created_at=as_utc(row.created_at),
                    updated_at=as_utc(row.updated_at), webhook_secret=secret)


def _notification_view(row: AlertNotificationRow) -> NotificationView:
    return NotificationView(id=row.id, channel=row.channel, target=row.target, state=NotificationState(row.state),
                            attempts=row.attempts, last_error=row.last_error, created_at=as_utc(row.created_at),
                            sent_at=as_utc(row.sent_at) if row.sent_at else None)


def _alert_view(row: AlertRow, notifications: Sequence[AlertNotificationRow] = ()) -> AlertView:
    return AlertView(
        id=row.id, tenant_id=row.tenant_id, rule_id=row.rule_id, kind=AlertKind(row.kind),
        severity=Severity(row.severity), subject=row.subject, title=row.title, detail=row.detail,
        state=AlertState(row.state), occurrences=row.occurrences, first_at=as_utc(row.first_at),
        last_at=as_utc(row.last_at), acknowledged_by=row.acknowledged_by,
        acknowledged_at=as_utc(row.acknowledged_at) if row.acknowledged_at else None,
        resolved_by=row.resolved_by, resolved_at=as_utc(row.resolved_at) if row.resolved_at else None,
        notifications=[_notification_view(n) for n in notifications])


def _one_line(text: str, limit: int = 200) -> str:
    """A title fit for a list row and a mail subject: carriers' reasons can be whole HTML pages."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _spec_document(spec: AlertRuleSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_none=True)


class Alerts:
    def __init__(self, ctx: ServiceContext, capacity: Capacity, audit: AuditLog) -> None:
        self._ctx = ctx
        self._capacity = capacity
        self._audit = audit
        self._raised: set[tuple[str, str]] = set()  # (rule, event subject) known raised: no insert tried again
        self._timeout = aiohttp.ClientTimeout(total=ctx.settings.callback_timeout_seconds)

    # ---- rules ------------------------------------------------------------------------------------------

    async def add_rule(self, owner: str | None, spec: AlertRuleSpec, by: str) -> RuleView:
        secret = secrets.token_urlsafe(32)
        now = utcnow()
        async with self._ctx.db.transaction() as session:
            cursor = await AlertSignals(session).last_health_event()  # history is not news
            row = AlertRuleRow(id=new_id(), tenant_id=owner, name=spec.name, kind=spec.kind.value,
                               enabled=spec.enabled, spec=_spec_document(spec),
                               webhook_secret_sealed=self._ctx.secrets.seal({"secret": secret}),
                               event_cursor=cursor, created_by=by, created_at=now, updated_at=now)
            await AlertRepository(session, owner).add_rule(row)
            await self._audit.record(session, action="alert_rule.create", target_type="alert_rule",
                                     target_id=row.id, after=row.spec, tenant_id=owner)
        return _rule_view(row, secret)

    async def rules(self, owner: str | None) -> list[RuleView]:
        async with self._ctx.db.reader() as session:
            return [_rule_view(r) for r in await AlertRepository(session, owner).rules()]

    async def rule(self, owner: str | None, rule_id: str) -> RuleView:
        async with self._ctx.db.reader() as session:
            row = await AlertRepository(session, owner).rule(rule_id)
        if row is None:
            raise NotFound("no such alert rule", code="alert_rule_not_found")
        return _rule_view(row)

    async def replace_rule(self, owner: str | None, rule_id: str, spec: AlertRuleSpec) -> RuleView:
        async with self._ctx.db.transaction() as session:
            row = await AlertRepository(session, owner).rule(rule_id, for_update=True)
            if row is None:
                raise NotFound("no such alert rule", code="alert_rule_not_found")
            if spec.kind.value != row.kind:
                raise Conflict("a rule's kind cannot change: add a new rule", code="alert_rule_kind_fixed")
            before = row.spec
            row.name, row.enabled, row.spec, row.updated_at = spec.name, spec.enabled, _spec_document(spec), utcnow()
            await self._audit.record(session, action="alert_rule.update", target_type="alert_rule",
                                     target_id=row.id, before=before, after=row.spec, tenant_id=owner)
        return _rule_view(row)

    async def delete_rule(self, owner: str | None, rule_id: str) -> None:
        """The rule stops; the alerts it raised stay in the history."""
        async with self._ctx.db.transaction() as session:
            repository = AlertRepository(session, owner)
            row = await repository.rule(rule_id, for_update=True)
            if row is None:
                raise NotFound("no such alert rule", code="alert_rule_not_found")
            await repository.delete_rule(row)
            await self._audit.record(session, action="alert_rule.delete", target_type="alert_rule",
                                     target_id=row.id, before=row.spec, tenant_id=owner)

    # ---- alerts -----------------------------------------------------------------------------------------

    async def alerts(self, owner: str | None, *, state: AlertState | None = None, kind: AlertKind | None = None,
                     rule_id: str | None = None, before: datetime | None = None,
                     limit: int = 100) -> list[AlertView]:
        async with self._ctx.db.reader() as session:
            repository = AlertRepository(session, owner)
            rows = await repository.alerts(state=state.value if state else None, kind=kind.value if kind else None,
                                           rule_id=rule_id, before=before, limit=limit)
            sent = await repository.notifications([r.id for r in rows])
        by_alert: dict[str, list[AlertNotificationRow]] = {}
        for n in sent:
            by_alert.setdefault(n.alert_id, []).append(n)
        return [_alert_view(r, by_alert.get(r.id, [])) for r in rows]

    async def open_counts(self, owner: str | None) -> dict[str, int]:
        async with self._ctx.db.reader() as session:
            return await AlertRepository(session, owner).open_counts()

    async def alert(self, owner: str | None, alert_id: str) -> AlertView:
        async with self._ctx.db.reader() as session:
            repository = AlertRepository(session, owner)
            row = await repository.alert(alert_id)
            if row is None:
                raise NotFound("no such alert", code="alert_not_found")
            return _alert_view(row, await repository.notifications([row.id]))

    async def acknowledge(self, owner: str | None, alert_id: str, by: str) -> AlertView:
        """Someone has the alert in hand: nothing more is sent for it."""
        async with self._ctx.db.transaction() as session:
            row = await AlertRepository(session, owner).alert(alert_id, for_update=True)
            if row is None:
                raise NotFound("no such alert", code="alert_not_found")
            if row.state == AlertState.RESOLVED:
                raise Conflict("the alert is resolved", code="alert_resolved")
            if row.state == AlertState.FIRING:
                row.state, row.acknowledged_by, row.acknowledged_at = AlertState.ACKNOWLEDGED.value, by, utcnow()
                await self._audit.record(session, action="alert.acknowledge", target_type="alert",
                                         target_id=row.id, after={"state": row.state}, tenant_id=owner)
        return await self.alert(owner, alert_id)

    async def resolve(self, owner: str | None, alert_id: str, by: str) -> AlertView:
        """Closed by a person. A condition that still holds raises a new alert at the next evaluation."""
        async with self._ctx.db.transaction() as session:
            row = await AlertRepository(session, owner).alert(alert_id, for_update=True)
            if row is None:
                raise NotFound("no such alert", code="alert_not_found")
            if row.state != AlertState.RESOLVED:
                before = row.state
                row.state, row.resolved_by, row.resolved_at = AlertState.RESOLVED.value, by, utcnow()
                if AlertKind(row.kind) not in EVENT_KINDS:
                    row.open_subject = None
                await self._audit.record(session, action="alert.resolve", target_type="alert", target_id=row.id,
                                         before={"state": before}, after={"state": row.state}, tenant_id=owner)
        return await self.alert(owner, alert_id)

    # ---- evaluation -------------------------------------------------------------------------------------

    async def evaluate(self) -> None:
        """One look at every enabled rule; a rule that fails to evaluate does not stop the others."""
        async with self._ctx.db.reader() as session:
            rules = await AlertSignals(session).enabled_rules()
        for rule in rules:
            try:
                await self._evaluate(rule)
            except Exception:
                log.exception("alert rule failed to evaluate", extra={"rule_id": rule.id})

    async def _evaluate(self, rule: AlertRuleRow) -> None:
        spec = AlertRuleSpec.model_validate(rule.spec)
        if spec.kind is AlertKind.CHANNEL_HEALTH:
            await self._channel_health(rule, spec)
            return
        current_periods: set[tuple[str, str]] = set()
        if spec.kind is AlertKind.CAPACITY:
            signals, current_periods = await self._capacity_signals(rule, spec)
        elif spec.kind is AlertKind.QUEUE_BACKLOG:
            signals = await self._queue_signals(rule, spec)
        elif spec.kind is AlertKind.CALLBACK_FAILURES:
            signals = await self._callback_signals(rule, spec)
        else:
            signals = await self._rejection_signals(rule, spec)
        if spec.kind in EVENT_KINDS:
            fresh = [s for s in signals if (rule.id, s.subject) not in self._raised]
            if fresh:
                async with self._ctx.db.transaction() as session:
                    for signal in fresh:
                        await self._raise(session, rule, spec, signal)
                for signal in fresh:
                    self._raised.add((rule.id, signal.subject))
            if spec.kind is AlertKind.CAPACITY:
                await self._close_past_periods(rule, current_periods)
            return
        await self._hold_conditions(rule, spec, signals)

    async def _raise(self, session: Any, rule: AlertRuleRow, spec: AlertRuleSpec, signal: Signal) -> bool:
        """Raise the rule's alert on the signal's subject unless one is open; True when raised (and sent,
        unless within the quiet period)."""
        repository = AlertRepository(session, rule.tenant_id)
        now = utcnow()
        row = AlertRow(id=new_id(), tenant_id=rule.tenant_id, rule_id=rule.id, kind=rule.kind,
                       severity=spec.severity.value, subject=signal.subject, open_subject=signal.subject,
                       title=_one_line(signal.title), detail=signal.detail, state=AlertState.FIRING.value,
                       occurrences=1, first_at=now, last_at=now, acknowledged_by=None, acknowledged_at=None,
                       resolved_by=None, resolved_at=None)
        if not await repository.raise_alert(row):
            if spec.kind not in EVENT_KINDS:
                await repository.repeat(rule.id, signal.subject, now)
            return False
        last = await repository.last_sent(rule.id, signal.subject)
        quiet = last is not None and as_utc(last) + timedelta(minutes=spec.quiet_minutes) > now
        targets = [("webhook", str(url)) for url in spec.webhooks] + [("email", str(a)) for a in spec.emails]
        rows = []
        for channel, target in targets:
            held: str | None = None
            if quiet:
                held = f"within the rule's quiet period of {spec.quiet_minutes} minutes"
            elif channel == "email" and not self._ctx.settings.smtp_url:
                held = "no mail server is configured (MSG5G_SMTP_URL)"
            rows.append(AlertNotificationRow(
                id=new_id(), alert_id=row.id, tenant_id=rule.tenant_id, channel=channel, target=target,
                state=(NotificationState.SUPPRESSED if held else NotificationState.PENDING).value, attempts=0,
                last_error=held, created_at=now, sent_at=None))
        await repository.add_notifications(rows)
        await self._ctx.queue.enqueue(session, [
            NewJob(topic=TOPIC_ALERT_NOTIFY, tenant_id=rule.tenant_id,
                   payload={"owner": rule.tenant_id, "notification_id": n.id})
            for n in rows if n.state == NotificationState.PENDING])
        self._ctx.queue.notify(TOPIC_ALERT_NOTIFY)
        log.info("alert raised", extra={"rule_id": rule.id, "subject": signal.subject})
        return True

    async def _hold_conditions(self, rule: AlertRuleRow, spec: AlertRuleSpec, signals: list[Signal]) -> None:
        """Raise or count what holds; resolve the rule's open alerts whose condition cleared."""
        async with self._ctx.db.reader() as session:
            open_subjects = {a.subject for a in await AlertRepository(session, rule.tenant_id).open_conditions(
                rule.id)}
        holding = {s.subject for s in signals}
        cleared = open_subjects - holding
        if not signals and not cleared:
            return
        async with self._ctx.db.transaction() as session:
            for signal in signals:
                await self._raise(session, rule, spec, signal)
            repository = AlertRepository(session, rule.tenant_id)
            for subject in cleared:
                await repository.clear(rule.id, subject, utcnow())

    async def _close_past_periods(self, rule: AlertRuleRow, current: set[tuple[str, str]]) -> None:
        """A capacity alert of a period that is over resolves itself (its key keeps it from coming back)."""
        async with self._ctx.db.reader() as session:
            open_rows = [a for a in await AlertRepository(session, rule.tenant_id).alerts(
                rule_id=rule.id, limit=500) if a.state != AlertState.RESOLVED]
        past = [a for a in open_rows if (a.detail.get("cap_id"), a.detail.get("period_key")) not in current]
        if not past:
            return
        async with self._ctx.db.transaction() as session:
            repository = AlertRepository(session, rule.tenant_id)
            for alert in past:
                row = await repository.alert(alert.id, for_update=True)
                if row is not None and row.state != AlertState.RESOLVED:
                    row.state, row.resolved_at = AlertState.RESOLVED.value, utcnow()

    # ---- what each kind watches ----------------------------------------------------------------------

    async def _caps_of(self, rule: AlertRuleRow) -> list[tuple[str, CapView]]:
        if rule.tenant_id is not None:
            tenants = [rule.tenant_id]
        else:
            async with self._ctx.db.reader() as session:
                tenants = await AlertSignals(session).tenants_with_caps()
        return [(tenant, cap) for tenant in tenants for cap in await self._capacity.caps(tenant)]

    async def _capacity_signals(self, rule: AlertRuleRow, spec: AlertRuleSpec,
                                ) -> tuple[list[Signal], set[tuple[str, str]]]:
        """The thresholds passed, and every (cap, current period) looked at."""
        signals = []
        current = set()
        for tenant_id, cap in await self._caps_of(rule):
            if cap.period_key is not None:
                current.add((cap.id, cap.period_key))
            if (spec.cap_id is not None and cap.id != spec.cap_id) or cap.period_key is None or cap.limit <= 0:
                continue
            used = cap.reserved + cap.charged
            percent = used * 100 // cap.limit
            unit = "messages" if cap.metric.value == "count" else "fen"
            for threshold in spec.capacity_thresholds:
                if used * 100 < threshold * cap.limit:
                    break
                signals.append(Signal(
                    subject=f"cap:{cap.id}:{cap.period_key}:{threshold}",
                    title=f"{cap.name or 'cap'} passed {threshold}%: {used} of {cap.limit} {unit} in {cap.period_key}",
                    detail={"tenant_id": tenant_id, "cap_id": cap.id, "cap_name": cap.name, "scope": cap.scope.value,
                            "scope_id": cap.scope_id, "metric": cap.metric.value, "period_key": cap.period_key,
                            "threshold": threshold, "percent": percent, "used": used, "limit": cap.limit}))
        return signals, current

    async def _channel_health(self, rule: AlertRuleRow, spec: AlertRuleSpec) -> None:
        async with self._ctx.db.reader() as session:
            signals_db = AlertSignals(session)
            events = await signals_db.health_events(rule.event_cursor)
            watched = await signals_db.tenant_channels(rule.tenant_id) if rule.tenant_id else None
        if not events:
            return
        async with self._ctx.db.transaction() as session:
            repository = AlertRepository(session, rule.tenant_id)
            if not await repository.move_cursor(rule.id, rule.event_cursor, events[-1].id):
                return  # another process took these events
            for event in events:
                if (spec.channel_id is not None and event.channel_id != spec.channel_id) or (
                        watched is not None and event.channel_id not in watched):
                    continue
                subject = f"channel:{event.channel_id}"
                if event.state == "open":
                    await self._raise(session, rule, spec, Signal(
                        subject=subject, title=f"Channel {event.channel_id} is failing: {event.reason or 'unknown'}",
                        detail={"channel_id": event.channel_id, "state": event.state, "reason": event.reason,
                                "at": as_utc(event.occurred_at).isoformat()}))
                elif event.state == "closed":
                    await repository.clear(rule.id, subject, utcnow())

    async def _queue_signals(self, rule: AlertRuleRow, spec: AlertRuleSpec) -> list[Signal]:
        signals = []
        for backlog in await self._ctx.queue.backlog(rule.tenant_id):
            if spec.topic is not None and backlog.topic != spec.topic:
                continue
            too_many = spec.max_waiting is not None and backlog.waiting > spec.max_waiting
            too_old = spec.max_age_seconds is not None and backlog.oldest_age_seconds > spec.max_age_seconds
            if too_many or too_old:
                signals.append(Signal(
                    subject=f"queue:{backlog.topic}",
                    title=f"Queue {backlog.topic}: {backlog.waiting} waiting, the oldest for "
                          f"{backlog.oldest_age_seconds:.0f} s",
                    detail={"topic": backlog.topic, "waiting": backlog.waiting,
                            "oldest_age_seconds": round(backlog.oldest_age_seconds, 1),
                            "max_waiting": spec.max_waiting, "max_age_seconds": spec.max_age_seconds}))
        return signals

    async def _callback_signals(self, rule: AlertRuleRow, spec: AlertRuleSpec) -> list[Signal]:
        since = utcnow() - timedelta(minutes=spec.failure_window_minutes)
        async with self._ctx.db.reader() as session:
            failing = await AlertSignals(session).failing_callbacks(rule.tenant_id, since)
        return [Signal(subject=f"callbacks:{tenant_id}:{business_id}",
                       title=f"Callbacks of business {business_id} failing: {count} in "
                             f"{spec.failure_window_minutes} minutes",
                       detail={"tenant_id": tenant_id, "business_id": business_id, "failing": count,
                               "window_minutes": spec.failure_window_minutes})
                for (tenant_id, business_id), count in sorted(failing.items())
                if count >= spec.failure_count and spec.business_id in (None, business_id)]

    async def _rejection_signals(self, rule: AlertRuleRow, spec: AlertRuleSpec) -> list[Signal]:
        since = max(as_utc(rule.created_at) - _REJECTION_LOOKBACK, utcnow() - _REJECTION_LOOKBACK)
        async with self._ctx.db.reader() as session:
            found = await AlertSignals(session).rejections(rule.tenant_id, since)
        watched = spec.watched_resources
        return [Signal(subject=f"{r.resource}:{r.resource_id}:{r.identity}",
                       title=f"The carrier rejected {r.resource.replace('_', ' ')} {r.resource_id}"
                             + (f" on channel {r.channel_id}" if r.channel_id else "")
                             + f": {r.reason or 'no reason given'}",
                       detail={"tenant_id": r.tenant_id, "resource": r.resource, "resource_id": r.resource_id,
                               "channel_id": r.channel_id, "reason": r.reason, "at": as_utc(r.at).isoformat()})
                for r in found if AuditResource(r.resource) in watched]

    # ---- notifications ------------------------------------------------------------------------------

    async def run_notification(self, job: Job) -> None:
        """Handler of TOPIC_ALERT_NOTIFY: one notification to its webhook or mailbox."""
        owner = job.payload["owner"]
        async with self._ctx.db.reader() as session:
            repository = AlertRepository(session, owner)
            notification = await repository.notification(job.payload["notification_id"])
            if notification is None or notification.state != NotificationState.PENDING:
                return
            alert = await repository.alert(notification.alert_id)
            rule = await repository.rule(alert.rule_id) if alert else None
        if alert is None:
            return
        error: str | None = None
        if alert.state == AlertState.ACKNOWLEDGED:
            await self._record(owner, notification.id, NotificationState.SUPPRESSED, job.attempts - 1,
                               "acknowledged before it was sent")
            return
        try:
            if notification.channel == "webhook":
                error = await self._post(notification, alert, rule)
            else:
                error = await self._mail(notification, alert)
        except Exception as exc:  # any failure of one notification is that notification's
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            await self._record(owner, notification.id, NotificationState.SENT, job.attempts, None)
            return
        if job.attempts >= _NOTIFY_TRIES:
            await self._record(owner, notification.id, NotificationState.FAILED, job.attempts, error)
            log.warning("alert notification gave up", extra={"notification_id": notification.id, "error": error})
            return
        await self._record(owner, notification.id, NotificationState.PENDING, job.attempts, error)
        raise RetryLater(backoff_delay(job.attempts, base=2.0, cap=600.0), f"alert notification: {error}")

    async def _record(self, owner: str | None, notification_id: str, state: NotificationState, attempts: int,
                      error: str | None) -> None:
        async with self._ctx.db.transaction() as session:
            row = await AlertRepository(session, owner).notification(notification_id)
            if row is not None:
                row.state, row.attempts, row.last_error = state.value, attempts, error
                if state is NotificationState.SENT:
                    row.sent_at = utcnow()

    def _document(self, alert: AlertRow) -> dict[str, Any]:
        view = _alert_view(alert).model_dump(mode="json", exclude={"notifications"})
        view["url"] = f"{self._ctx.settings.resolved_public_base_url()}/admin/alerts/{alert.id}"
        return view

    async def _post(self, notification: AlertNotificationRow, alert: AlertRow, rule: AlertRuleRow | None) -> str | None:
        secret = self._ctx.secrets.open(rule.webhook_secret_sealed)["secret"] if rule else ""
        body = orjson.dumps({"id": notification.id, "type": "alert.firing", "alert": self._document(alert)})
        headers = signed_headers(secret, body, notification.id, "alert.firing")
        try:
            async with self._ctx.http.post(notification.target, data=body, headers=headers,
                                           timeout=self._timeout) as response:
                await response.read()
                return None if 200 <= response.status < 300 else f"HTTP {response.status}"
        except TimeoutError:
            return "timed out"
        except aiohttp.ClientError as exc:
            return f"{type(exc).__name__}: {exc}"

    async def _mail(self, notification: AlertNotificationRow, alert: AlertRow) -> str | None:
        server = urlsplit(self._ctx.settings.smtp_url)
        message = EmailMessage()
        message["From"] = self._ctx.settings.alert_mail_from
        message["To"] = notification.target
        message["Subject"] = _one_line(f"[msg5g {alert.severity}] {alert.title}", 250)
        document = self._document(alert)
        message.set_content("\n".join([
            alert.title, "", f"Severity: {alert.severity}", f"Kind: {alert.kind}", f"Subject: {alert.subject}",
            f"Raised: {document['first_at']}", "",
            *(f"{key}: {value}" for key, value in sorted(alert.detail.items())), "",
            f"Acknowledge it: {document['url']}"]))
        try:
            await aiosmtplib.send(
                message, hostname=server.hostname or "localhost",
                port=server.port or (465 if server.scheme == "smtps" else 25),
                username=unquote(server.username) if server.username else None,
                password=unquote(server.password) if server.password else None,
                use_tls=server.scheme == "smtps", start_tls="starttls=true" in server.query or None,
                timeout=self._ctx.settings.callback_timeout_seconds)
        except (aiosmtplib.SMTPException, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None
