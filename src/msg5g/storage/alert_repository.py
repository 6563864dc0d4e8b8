"""Queries of alert management (services/alerts.py).

`AlertRepository` is scoped to its owner: one tenant, or the platform (owner None), whose rules and
alerts have no tenant. `AlertSignals` reads what the rules watch; a tenant's rule reads only its own
tenant's rows through it, a platform rule every tenant's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.storage.database import upsert_insert
from msg5g.storage.tables import (
    AlertNotificationRow,
    AlertRow,
    AlertRuleRow,
    CallbackDelivery,
    CapacityCap,
    CarrierCustomer,
    ChannelHealthEvent,
    Chatbot,
    ChatbotApplication,
    MaterialSync,
    TemplateChannelState,
    core_table,
)


class AlertRepository:
    def __init__(self, session: AsyncSession, owner: str | None) -> None:
        self.session = session
        self.owner = owner  # a tenant id, or None for the platform's own rules and alerts

    def _mine(self, column: Any) -> ColumnElement[bool]:
        return column.is_(None) if self.owner is None else column == self.owner  # type: ignore[no-any-return]

    # ---- rules ------------------------------------------------------------------------------------

    async def add_rule(self, row: AlertRuleRow) -> None:
        if row.tenant_id != self.owner:
            raise ValueError("rule belongs to another owner")
        self.session.add(row)
        await self.session.flush()

    async def rule(self, rule_id: str, *, for_update: bool = False) -> AlertRuleRow | None:
        statement = select(AlertRuleRow).where(AlertRuleRow.id == rule_id, self._mine(AlertRuleRow.tenant_id))
        if for_update:
            statement = statement.with_for_update()
        row: AlertRuleRow | None = await self.session.scalar(statement)
        return row

    async def rules(self) -> Sequence[AlertRuleRow]:
        statement = select(AlertRuleRow).where(self._mine(AlertRuleRow.tenant_id)).order_by(AlertRuleRow.created_at)
        return (await self.session.scalars(statement)).all()

    async def delete_rule(self, row: AlertRuleRow) -> None:
        await self.session.delete(row)

    # ---- alerts -----------------------------------------------------------------------------------

    async def alert(self, alert_id: str, *, for_update: bool = False) -> AlertRow | None:
        statement = select(AlertRow).where(AlertRow.id == alert_id, self._mine(AlertRow.tenant_id))
        if for_update:
            statement = statement.with_for_update()
        row: AlertRow | None = await self.session.scalar(statement)
        return row

    async def alerts(self, *, state: str | None = None, kind: str | None = None, rule_id: str | None = None,
                     before: datetime | None = None, limit: int = 100) -> Sequence[AlertRow]:
        statement = select(AlertRow).where(self._mine(AlertRow.tenant_id))
        if state is not None:
            statement = statement.where(AlertRow.state == state)
        if kind is not None:
            statement = statement.where(AlertRow.kind == kind)
        if rule_id is not None:
            statement = statement.where(AlertRow.rule_id == rule_id)
        if before is not None:
            statement = statement.where(AlertRow.first_at < before)
        statement = statement.order_by(AlertRow.first_at.desc(), AlertRow.id.desc()).limit(limit)
        return (await self.session.scalars(statement)).all()

    async def open_counts(self) -> dict[str, int]:
        statement = select(AlertRow.state, func.count()).where(
            self._mine(AlertRow.tenant_id), AlertRow.state != "resolved").group_by(AlertRow.state)
        return {state: count for state, count in (await self.session.execute(statement)).all()}

    async def notifications(self, alert_ids: Sequence[str]) -> Sequence[AlertNotificationRow]:
        if not alert_ids:
            return []
        statement = select(AlertNotificationRow).where(
            AlertNotificationRow.alert_id.in_(alert_ids), self._mine(AlertNotificationRow.tenant_id),
        ).order_by(AlertNotificationRow.created_at)
        return (await self.session.scalars(statement)).all()

    async def notification(self, notification_id: str) -> AlertNotificationRow | None:
        statement = select(AlertNotificationRow).where(
            AlertNotificationRow.id == notification_id, self._mine(AlertNotificationRow.tenant_id))
        row: AlertNotificationRow | None = await self.session.scalar(statement)
        return row

    # ---- what the evaluator writes ------------------------------------------------------------------

    async def raise_alert(self, row: AlertRow) -> bool:
        """Insert `row` unless the rule already has an alert open on its subject; True when inserted."""
        values = {c.name: getattr(row, c.key) for c in core_table(AlertRow).columns}
        statement = upsert_insert(self.session, core_table(AlertRow)).values(**values).on_conflict_do_nothing(
            index_elements=["rule_id", "open_subject"])
        result: Any = await self.session.execute(statement)
        return bool(result.rowcount)

    async def repeat(self, rule_id: str, subject: str, at: datetime) -> None:
        """The rule saw its open alert's signal again: counted, not raised again."""
        await self.session.execute(update(AlertRow).where(
            AlertRow.rule_id == rule_id, AlertRow.open_subject == subject, AlertRow.state != "resolved",
        ).values(occurrences=AlertRow.occurrences + 1, last_at=at))

    async def open_conditions(self, rule_id: str) -> Sequence[AlertRow]:
        statement = select(AlertRow).where(AlertRow.rule_id == rule_id, AlertRow.open_subject.is_not(None),
                                           AlertRow.state != "resolved")
        return (await self.session.scalars(statement)).all()

    async def clear(self, rule_id: str, subject: str, at: datetime) -> bool:
        """A condition's alert resolves itself; True when one was open."""
        result: Any = await self.session.execute(update(AlertRow).where(
            AlertRow.rule_id == rule_id, AlertRow.open_subject == subject, AlertRow.state != "resolved",
        ).values(state="resolved", resolved_at=at, open_subject=None))
        return bool(result.rowcount)

    async def last_sent(self, rule_id: str, subject: str) -> datetime | None:
        """When an alert of this rule about this subject was last sent anywhere."""
        statement = select(func.max(AlertNotificationRow.created_at)).join(
            AlertRow, AlertRow.id == AlertNotificationRow.alert_id,
        ).where(AlertRow.rule_id == rule_id, AlertRow.subject == subject,
                AlertNotificationRow.state.in_(("pending", "sent", "failed")))
        value: datetime | None = await self.session.scalar(statement)
        return value

    async def add_notifications(self, rows: Sequence[AlertNotificationRow]) -> None:
        for row in rows:
            if row.tenant_id != self.owner:
                raise ValueError("notification belongs to another owner")
        self.session.add_all(rows)
        await self.session.flush()

    async def move_cursor(self, rule_id: str, seen: int, to: int) -> bool:
        """Compare-and-set of the rule's event cursor: True when this caller moved it from `seen`."""
        result: Any = await self.session.execute(update(AlertRuleRow).where(
            AlertRuleRow.id == rule_id, self._mine(AlertRuleRow.tenant_id), AlertRuleRow.event_cursor == seen,
        ).values(event_cursor=to))
        return bool(result.rowcount)


@dataclass(frozen=True, slots=True)
class Rejection:
    resource: str  # domain.alerts.AuditResource
    resource_id: str
    tenant_id: str
    channel_id: str | None
    reason: str | None
    identity: str  # what makes this rejection one event: a version, a try
    at: datetime


class AlertSignals:
    """What rules watch. `tenant_id` None reads every tenant's (a platform rule)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def enabled_rules(self) -> Sequence[AlertRuleRow]:
        statement = select(AlertRuleRow).where(AlertRuleRow.enabled.is_(True)).order_by(AlertRuleRow.created_at)
        return (await self.session.scalars(statement)).all()

    async def tenants_with_caps(self) -> list[str]:
        return list(await self.session.scalars(select(CapacityCap.tenant_id).distinct()))

    async def health_events(self, after: int, limit: int = 500) -> Sequence[ChannelHealthEvent]:
        statement = select(ChannelHealthEvent).where(ChannelHealthEvent.id > after).order_by(
            ChannelHealthEvent.id).limit(limit)
        return (await self.session.scalars(statement)).all()

    async def last_health_event(self) -> int:
        return int(await self.session.scalar(select(func.coalesce(func.max(ChannelHealthEvent.id), 0))) or 0)

    async def tenant_channels(self, tenant_id: str) -> set[str]:
        statement = select(Chatbot.channel_id).where(Chatbot.tenant_id == tenant_id).distinct()
        return set(await self.session.scalars(statement))

    async def failing_callbacks(self, tenant_id: str | None, since: datetime) -> dict[tuple[str, str], int]:
        """Deliveries since `since` that failed their last try and have not got through since, per
        (tenant, business)."""
        statement = select(CallbackDelivery.tenant_id, CallbackDelivery.business_id, func.count()).where(
            CallbackDelivery.created_at >= since, CallbackDelivery.state.in_(("pending", "failed")),
            CallbackDelivery.last_error.is_not(None),
        ).group_by(CallbackDelivery.tenant_id, CallbackDelivery.business_id)
        if tenant_id is not None:
            statement = statement.where(CallbackDelivery.tenant_id == tenant_id)
        return {(t, b): n for t, b, n in (await self.session.execute(statement)).all()}

    async def rejections(self, tenant_id: str | None, since: datetime, limit: int = 500) -> list[Rejection]:
        """Carrier audits that rejected something, updated since `since`."""
        found: list[Rejection] = []

        def scoped(statement: Any, table: Any) -> Any:
            statement = statement.where(table.updated_at >= since).limit(limit)
            return statement if tenant_id is None else statement.where(table.tenant_id == tenant_id)

        for t in await self.session.scalars(scoped(select(TemplateChannelState).where(
                TemplateChannelState.state == "rejected"), TemplateChannelState)):
            found.append(Rejection("template", t.template_id, t.tenant_id, t.channel_id, t.reason,
                                   f"{t.version_id}:{t.chatbot_id}", t.updated_at))
        for m in await self.session.scalars(scoped(select(MaterialSync).where(
                MaterialSync.state == "rejected"), MaterialSync)):
            found.append(Rejection("material", m.material_id, m.tenant_id, m.channel_id, m.reason,
                                   f"{m.chatbot_id}:{m.attempts}", m.updated_at))
        for c in await self.session.scalars(scoped(select(Chatbot).where(
                Chatbot.info_state == "rejected"), Chatbot)):
            found.append(Rejection("chatbot", c.id, c.tenant_id, c.channel_id, c.info_reason,
                                   f"{c.info_version}", c.updated_at or c.created_at))
        for e in await self.session.scalars(scoped(select(CarrierCustomer).where(
                CarrierCustomer.state == "rejected"), CarrierCustomer)):
            found.append(Rejection("enterprise", e.id, e.tenant_id, e.channel_id, e.reason,
                                   f"{e.record_version}", e.updated_at))
        for a in await self.session.scalars(scoped(select(ChatbotApplication).where(
                ChatbotApplication.state == "rejected"), ChatbotApplication)):
            found.append(Rejection("chatbot_application", a.id, a.tenant_id, a.channel_id, a.reason,
                                   f"{len(a.history or [])}", a.updated_at))
        return found
