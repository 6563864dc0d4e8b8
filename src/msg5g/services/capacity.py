"""Capacity: no cap on a tenant, business or template is ever exceeded, in messages or in money.

At accept a message reserves, on every cap that covers it, one message and the worst case it can
cost (its dearest route plus any SMS fallback it may take, from the tenant's price plan). When it
is rated — it reached the carrier (`downlink`), or its SMS fallback did (`fallback_sms`) — an
immutable charge line is written once and the reservation is settled to it; a message that fails
before it reaches the carrier, or ends, releases what it still holds. Reserved and charged amounts
live in one ledger row per cap and period (`capacity_usage`), so a cap counts both.

Exactness under concurrency: the accept transaction locks the ledger rows it needs (in one order,
`SELECT ... FOR UPDATE` on PostgreSQL; SQLite's writers are serialised by `BEGIN IMMEDIATE`) before
it reads them, so two processes can never both take the last message of a cap. Settlements are
relative updates under the message row's lock, so a repeated or concurrent report settles once.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.domain.capacity import (
    CapMetric,
    CapPeriod,
    CapScope,
    CapSpec,
    ContentKind,
    PricePlan,
    PriceSpec,
    content_kind,
    period_key,
)
from msg5g.domain.content import Content
from msg5g.domain.errors import NotFound, ValidationFailed
from msg5g.domain.messages import FallbackPolicy, MessageStatus
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.services.audit import AuditLog
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory
from msg5g.services.routing import Router
from msg5g.services.status import StatusChange
from msg5g.storage.database import upsert_insert
from msg5g.storage.repositories import BusinessRepository, PlatformRepository, TemplateRepository
from msg5g.storage.tables import CapacityCap, CapacityUsage, Charge, Message, PriceRule, Submission, core_table

log = logging.getLogger(__name__)

_CACHE_SECONDS = 5.0  # a cap or price change reaches other processes within this
_FACTS_KEPT = 20_000  # submissions whose settlement facts are kept in memory
UsageKey = tuple[str, str]  # (cap id, period key)
_REACHED = {MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.DISPLAYED, MessageStatus.REVOKED}
_NOT_REACHED = {MessageStatus.FAILED, MessageStatus.EXPIRED}
_ENDED = {MessageStatus.FAILED, MessageStatus.EXPIRED, MessageStatus.REVOKED, MessageStatus.DELIVERED,
          MessageStatus.DISPLAYED}


@dataclass(frozen=True, slots=True)
class CapRule:
    id: str
    name: str | None
    scope: CapScope
    scope_id: str | None
    metric: CapMetric
    period: CapPeriod
    limit: int
    window_start: date | None
    window_end: date | None

    def covers(self, business_id: str, template_id: str | None) -> bool:
        if self.scope is CapScope.TENANT:
            return True
        if self.scope is CapScope.BUSINESS:
            return self.scope_id == business_id
        return template_id is not None and self.scope_id == template_id

    def label(self) -> str:
        what = "messages" if self.metric is CapMetric.COUNT else "fen"
        period = {CapPeriod.DAY: "a day", CapPeriod.MONTH: "a month"}.get(
            self.period, f"from {self.window_start} to {self.window_end}")
        owner = self.scope.value if self.scope_id is None else f"{self.scope.value} {self.scope_id}"
        return f"{self.name or 'cap'} ({owner}: {self.limit} {what} {period}; cap {self.id})"


@dataclass(slots=True)
class _TenantCapacity:
    caps: list[CapRule]
    prices: PricePlan
    loaded_at: float

    @property
    def active(self) -> bool:
        return bool(self.caps) or bool(self.prices)


@dataclass(frozen=True, slots=True)
class Reservation:
    """What each message of one submission reserves: (usage row, metric) pairs, its worst-case cost as
    the part for its first send and the part for a fallback SMS."""

    usage: tuple[tuple[str, str, CapMetric], ...]
    primary: int
    fallback: int

    def as_json(self) -> dict[str, Any]:
        return {"usage": [list(u) for u in self.usage], "primary": self.primary, "fallback": self.fallback}

    @classmethod
    def from_json(cls, document: dict[str, Any] | None) -> Reservation | None:
        if not document:
            return None
        return cls(usage=tuple((c, k, CapMetric(m)) for c, k, m in document.get("usage", [])),
                   primary=int(document.get("primary", 0)), fallback=int(document.get("fallback", 0)))

    def amount(self, metric: CapMetric) -> int:
        return 1 if metric is CapMetric.COUNT else self.primary + self.fallback


@dataclass(frozen=True, slots=True)
class _Facts:
    kind: ContentKind
    template_id: str | None
    reservation: Reservation | None


@dataclass(slots=True)
class ReservationRequest:
    reservation: Reservation
    count: int  # messages asked for
    accepted: int = 0
    refused_by: CapRule | None = None
    labels: dict[str, CapRule] = field(default_factory=dict)


class CapView(BaseModel):
    id: str
    name: str | None
    scope: CapScope
    scope_id: str | None
    metric: CapMetric
    period: CapPeriod
    limit: int
    window_start: date | None
    window_end: date | None
    period_key: str | None  # the current period's
    reserved: int  # held by accepted messages not yet rated
    charged: int  # rated
    refused: int  # messages refused by this cap in the period
    remaining: int
    created_at: datetime


class Capacity:
    def __init__(self, ctx: ServiceContext, directory: Directory, router: Router, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit
        self._directory = directory
        self._router = router
        self._tenants: dict[str, _TenantCapacity] = {}
        self._submission_facts: OrderedDict[str, _Facts] = OrderedDict()

    # ---- what a tenant has set -----------------------------------------------------------------------

    async def _tenant(self, tenant_id: str) -> _TenantCapacity:
        cached = self._tenants.get(tenant_id)
        if cached is not None and cached.loaded_at + _CACHE_SECONDS > time.monotonic():
            return cached
        async with self._ctx.db.reader() as session:
            caps = (await session.scalars(select(CapacityCap).where(CapacityCap.tenant_id == tenant_id))).all()
            prices = (await session.scalars(select(PriceRule).where(PriceRule.tenant_id == tenant_id))).all()
        loaded = _TenantCapacity(
            caps=[_rule(c) for c in caps],
            prices=PricePlan([PriceSpec(content_kind=ContentKind(p.content_kind), channel_type=p.channel_type,
                                        price_fen=p.price_fen) for p in prices]),
            loaded_at=time.monotonic())
        self._tenants[tenant_id] = loaded
        return loaded

    def forget(self, tenant_id: str) -> None:
        self._tenants.pop(tenant_id, None)

    async def price_plan(self, tenant_id: str) -> PricePlan:
        return (await self._tenant(tenant_id)).prices

    # ---- accept ----------------------------------------------------------------------------------------

    async def plan(self, tenant_id: str, business_id: str, template_id: str | None, chatbot_id: str,
                   content: Content, fallback: FallbackPolicy) -> Reservation | None:
        """What each message of a send will reserve; None when no cap covers it."""
        tenant = await self._tenant(tenant_id)
        caps = [c for c in tenant.caps if c.covers(business_id, template_id)]
        if not caps:
            return None
        now = utcnow()
        primary = fallback_cost = 0
        if tenant.prices:
            types = set()
            for via in await self._router.reachable_chatbots(tenant_id, chatbot_id):
                types.add((await self._directory.chatbot(tenant_id, via)).endpoint.type)
            kind = content_kind(content)
            primary = max((tenant.prices.price(ContentKind.SMS if self._sends_sms(t) else kind, t) for t in types),
                          default=0)
            if fallback is not FallbackPolicy.NONE:
                # Any SMS it may fall back to: the carrier's own, or the platform's over any SMS route.
                fallback_cost = tenant.prices.dearest(ContentKind.SMS, types | self._sms_types())
        usage = []
        for cap in caps:
            key = period_key(cap.period, now, cap.window_start, cap.window_end)
            if key is not None:
                usage.append((cap.id, key, cap.metric))
        if not usage:
            return None
        return Reservation(usage=tuple(usage), primary=primary, fallback=fallback_cost)

    def _sends_sms(self, channel_type: str) -> bool:
        if channel_type not in self._ctx.registry.types:
            return False  # "-": a change that came from no channel (expiry, revoke bookkeeping)
        return self._ctx.registry.adapter_type(channel_type).capabilities.sends_fallback_text

    def _sms_types(self) -> set[str]:
        return {t for t in self._ctx.registry.types if self._sends_sms(t)}

    async def reserve(self, session: AsyncSession, tenant_id: str, requests: Sequence[ReservationRequest]) -> None:
        """In the accept transaction: how many messages of each request fit every cap, reserved at once.
        Requests are served in order; each takes what is left by the ones before it."""
        tenant = await self._tenant(tenant_id)
        rules = {c.id: c for c in tenant.caps}
        keys = sorted({(cap_id, key) for r in requests for cap_id, key, _ in r.reservation.usage})
        if not keys:
            for request in requests:
                request.accepted = request.count
            return
        await self._ensure_usage(session, tenant_id, keys)
        statement = select(CapacityUsage).where(tuple_(CapacityUsage.cap_id, CapacityUsage.period_key).in_(keys)) \
            .order_by(CapacityUsage.cap_id, CapacityUsage.period_key)
        if session.get_bind().dialect.name == "postgresql":
            statement = statement.with_for_update()
        usage = {(row.cap_id, row.period_key): row for row in (await session.scalars(statement)).all()}
        held = {key: (row.reserved, row.charged) for key, row in usage.items()}
        reserved = {key: 0 for key in keys}
        refused = {key: 0 for key in keys}
        for request in requests:
            fits, by = request.count, None
            for cap_id, key, metric in request.reservation.usage:
                rule = rules.get(cap_id)
                if rule is None:  # removed meanwhile: it no longer limits
                    continue
                amount = request.reservation.amount(metric)
                base_reserved, charged = held[(cap_id, key)]
                left = rule.limit - base_reserved - reserved[(cap_id, key)] - charged
                room = request.count if amount == 0 else max(0, left // amount)
                if room < fits:
                    fits, by = room, rule
            request.accepted, request.refused_by = fits, by
            for cap_id, key, metric in request.reservation.usage:
                reserved[(cap_id, key)] += fits * request.reservation.amount(metric)
                if by is not None and cap_id == by.id:  # the refusals are counted on the cap that refused
                    refused[(cap_id, key)] += request.count - fits
        for cap_id, key in keys:
            if reserved[(cap_id, key)] or refused[(cap_id, key)]:
                await session.execute(
                    update(CapacityUsage).where(CapacityUsage.cap_id == cap_id, CapacityUsage.period_key == key)
                    .values(reserved=CapacityUsage.reserved + reserved[(cap_id, key)],
                            refused=CapacityUsage.refused + refused[(cap_id, key)]))

    @staticmethod
    async def _ensure_usage(session: AsyncSession, tenant_id: str, keys: Iterable[UsageKey]) -> None:
        rows = [{"cap_id": c, "period_key": k, "tenant_id": tenant_id, "reserved": 0, "charged": 0, "refused": 0}
                for c, k in keys]
        table = core_table(CapacityUsage)
        statement: Any = upsert_insert(session, table)
        await session.execute(statement.on_conflict_do_nothing(index_elements=[table.c.cap_id, table.c.period_key]),
                              rows)

    # ---- rating and settlement ------------------------------------------------------------------------

    async def settle(self, session: AsyncSession, tenant_id: str, rows: dict[str, Message],
                     changes: Sequence[StatusChange], applied: Sequence[StatusChange],
                     before: dict[str, MessageStatus], channel_type: str) -> None:
        """In the status transaction: charge lines for messages that reached the carrier (or whose SMS
        fallback did), and their reservations settled to them or released."""
        tenant = await self._tenant(tenant_id)
        if not tenant.active:
            return
        sms_channel = self._sends_sms(channel_type)
        applied_ids = {id(c) for c in applied}
        events: list[tuple[str, str]] = []  # (message id, event)
        ended: set[str] = set()
        reached = {m for m, status in before.items() if status.progress >= MessageStatus.SENT.progress
                   and status not in _NOT_REACHED}
        reached_before = set(reached)
        for change in changes:
            message_id = change.message_id
            if message_id not in rows:
                continue
            if id(change) in applied_ids:
                # A report can come before the carrier's answer (delivered straight from queued): the
                # message reached the carrier all the same.
                if change.status in _REACHED and message_id not in reached:
                    reached.add(message_id)
                    events.append((message_id, "downlink"))
                # Released once: a message already ended (delivered, then displayed) holds nothing more.
                if change.status in _ENDED and before.get(message_id) not in _ENDED:
                    ended.add(message_id)
            elif change.status is MessageStatus.SENT and sms_channel and message_id in reached:
                events.append((message_id, "fallback_sms"))
        if not events and not ended:
            return
        submissions = await self._facts(session, tenant_id, {rows[m].submission_id for m, _ in events} |
                                        {rows[m].submission_id for m in ended})
        # An ended message that reached the carrier before holds only its fallback part, if it had one.
        ended = {m for m in ended if m not in reached_before or (
            (facts := submissions.get(rows[m].submission_id)) is not None and facts.reservation is not None
            and facts.reservation.fallback > 0)}
        message_ids = sorted({m for m, _ in events} | ended)
        charged = await self._charge(session, tenant, rows, submissions, events, channel_type, sms_channel)
        await self._settle_reservations(session, rows, submissions, message_ids, charged, ended)

    async def _facts(self, session: AsyncSession, tenant_id: str, submission_ids: set[str]) -> dict[str, _Facts]:
        """What settling needs of submissions (immutable once accepted), kept for the recent ones."""
        found = {i: self._submission_facts[i] for i in submission_ids if i in self._submission_facts}
        missing = submission_ids - set(found)
        if missing:
            rows = await session.execute(select(Submission.id, Submission.content, Submission.template_id,
                                                Submission.reservation).where(
                Submission.tenant_id == tenant_id, Submission.id.in_(missing)))
            for submission_id, content, template_id, reservation in rows.all():
                facts = _Facts(_kind_of(content), template_id, Reservation.from_json(reservation))
                found[submission_id] = self._submission_facts[submission_id] = facts
            while len(self._submission_facts) > _FACTS_KEPT:
                self._submission_facts.popitem(last=False)
        return found

    async def _charge(self, session: AsyncSession, tenant: _TenantCapacity, rows: dict[str, Message],
                      submissions: dict[str, _Facts], events: list[tuple[str, str]], channel_type: str,
                      sms_channel: bool) -> dict[tuple[str, str], int]:
        """Charge lines written once (a repeat of the same event writes nothing); returns those written."""
        if not events:
            return {}
        now = utcnow()
        lines = []
        for message_id, event in dict.fromkeys(events):
            message = rows[message_id]
            submission = submissions.get(message.submission_id)
            if submission is None:
                continue
            kind = ContentKind.SMS if sms_channel else submission.kind
            lines.append({"id": new_id(), "tenant_id": message.tenant_id, "business_id": message.business_id,
                          "message_id": message_id, "template_id": submission.template_id, "event": event,
                          "channel_type": channel_type, "content_kind": kind.value,
                          "amount_fen": tenant.prices.price(kind, channel_type), "created_at": now})
        if not lines:
            return {}
        table = core_table(Charge)
        statement: Any = upsert_insert(session, table)
        statement = statement.on_conflict_do_nothing(index_elements=[table.c.message_id, table.c.event]) \
            .returning(table.c.message_id, table.c.event, table.c.amount_fen)
        written = (await session.execute(statement, lines)).all()
        return {(m, e): int(a) for m, e, a in written}

    async def _settle_reservations(self, session: AsyncSession, rows: dict[str, Message],
                                   submissions: dict[str, _Facts], message_ids: list[str],
                                   charged: dict[tuple[str, str], int], ended: set[str]) -> None:
        reservations = {submission_id: s.reservation for submission_id, s in submissions.items()}
        holding = [m for m in message_ids if reservations.get(rows[m].submission_id) is not None]
        if not holding:
            return
        deltas: dict[UsageKey, list[int]] = {}  # key -> [reserved delta, charged delta]
        holding = await self._settle_first_sends(session, rows, reservations, holding, charged, ended, deltas)
        statement = select(Message.id, Message.reserved_cost, Message.reserved_count).where(
            Message.id.in_(holding)).order_by(Message.id)
        if session.get_bind().dialect.name == "postgresql":
            statement = statement.with_for_update()
        current = {m: (int(c or 0), int(n or 0)) for m, c, n in (await session.execute(statement)).all()} \
            if holding else {}
        updates = []
        for message_id in holding:
            reservation = reservations[rows[message_id].submission_id]
            assert reservation is not None
            cost, count = current.get(message_id, (0, 0))
            released_cost = charged_cost = released_count = charged_count = 0
            if (message_id, "downlink") in charged:
                part = min(reservation.primary, cost)
                released_cost += part
                cost -= part
                charged_cost += charged[(message_id, "downlink")]
                charged_count += 1
                if count:
                    released_count, count = released_count + 1, 0
            if (message_id, "fallback_sms") in charged:
                part = min(reservation.fallback, cost)
                released_cost += part
                cost -= part
                charged_cost += charged[(message_id, "fallback_sms")]
            if message_id in ended:
                released_cost += cost
                cost = 0
                if count:  # it ended without reaching the carrier: its message is free again
                    released_count, count = released_count + 1, 0
            if not (released_cost or charged_cost or released_count or charged_count):
                continue
            updates.append({"id": message_id, "reserved_cost": cost, "reserved_count": count})
            for cap_id, key, metric in reservation.usage:
                delta = deltas.setdefault((cap_id, key), [0, 0])
                if metric is CapMetric.COUNT:
                    delta[0] -= released_count
                    delta[1] += charged_count
                else:
                    delta[0] -= released_cost
                    delta[1] += charged_cost
        if updates:  # one executemany by primary key
            await session.execute(update(Message), updates)
        await self._apply_deltas(session, deltas)

    @staticmethod
    async def _settle_first_sends(session: AsyncSession, rows: dict[str, Message],
                                  reservations: dict[str, Reservation | None], holding: list[str],
                                  charged: dict[tuple[str, str], int], ended: set[str],
                                  deltas: dict[UsageKey, list[int]]) -> list[str]:
        """The common case in one statement per submission: a message's first charge and nothing else
        in the batch. Its reservation is then still whole (count 1, the full worst case), so the
        conditional update that takes the message and its primary part is all it needs; the row the
        update locks is what makes a concurrent settlement of the same message see it done. Returns the
        messages left for the general path."""
        simple: dict[str, list[str]] = {}
        rest = []
        for message_id in holding:
            if (message_id, "downlink") in charged and (message_id, "fallback_sms") not in charged \
                    and message_id not in ended:
                simple.setdefault(rows[message_id].submission_id, []).append(message_id)
            else:
                rest.append(message_id)
        for submission_id, ids in simple.items():
            reservation = reservations[submission_id]
            assert reservation is not None
            taken = set((await session.execute(
                update(Message).where(Message.id.in_(ids), Message.reserved_count == 1)
                .values(reserved_cost=Message.reserved_cost - reservation.primary, reserved_count=0)
                .returning(Message.id))).scalars())
            for message_id in ids:
                released = message_id in taken  # else released before (it had failed first): charged only
                for cap_id, key, metric in reservation.usage:
                    delta = deltas.setdefault((cap_id, key), [0, 0])
                    if metric is CapMetric.COUNT:
                        delta[0] -= 1 if released else 0
                        delta[1] += 1
                    else:
                        delta[0] -= reservation.primary if released else 0
                        delta[1] += charged[(message_id, "downlink")]
        return rest

    @staticmethod
    async def _apply_deltas(session: AsyncSession, deltas: dict[UsageKey, list[int]]) -> None:
        for (cap_id, key), (reserved_delta, charged_delta) in sorted(deltas.items()):
            if reserved_delta or charged_delta:
                await session.execute(
                    update(CapacityUsage).where(CapacityUsage.cap_id == cap_id, CapacityUsage.period_key == key)
                    .values(reserved=CapacityUsage.reserved + reserved_delta,
                            charged=CapacityUsage.charged + charged_delta))

    # ---- management -----------------------------------------------------------------------------------

    async def check_tenant(self, tenant_id: str) -> None:
        async with self._ctx.db.reader() as session:
            if await PlatformRepository(session).tenant(tenant_id) is None:
                raise NotFound("no such tenant", code="tenant_not_found", field="tenant_id")

    async def set_prices(self, tenant_id: str, lines: list[PriceSpec]) -> list[PriceSpec]:
        """Replace the tenant's price plan."""
        seen = set()
        for line in lines:
            if (line.content_kind, line.channel_type) in seen:
                raise ValidationFailed(f"two prices for {line.content_kind.value} on {line.channel_type}",
                                       code="duplicate_price", field="prices")
            seen.add((line.content_kind, line.channel_type))
        before = [p.model_dump(mode="json") for p in await self.prices(tenant_id)]
        async with self._ctx.db.transaction() as session:
            await session.execute(delete(PriceRule).where(PriceRule.tenant_id == tenant_id))
            await self._audit.record(session, action="prices.set", target_type="price_plan", target_id=tenant_id,
                                     before=before, after=[line.model_dump(mode="json") for line in lines],
                                     tenant_id=tenant_id)
            now = utcnow()
            session.add_all([PriceRule(id=new_id(), tenant_id=tenant_id, content_kind=line.content_kind.value,
                                       channel_type=line.channel_type, price_fen=line.price_fen, created_at=now)
                             for line in lines])
        self.forget(tenant_id)
        return lines

    async def prices(self, tenant_id: str) -> list[PriceSpec]:
        async with self._ctx.db.reader() as session:
            rows = (await session.scalars(select(PriceRule).where(PriceRule.tenant_id == tenant_id)
                                          .order_by(PriceRule.content_kind, PriceRule.channel_type))).all()
        return [PriceSpec(content_kind=ContentKind(r.content_kind), channel_type=r.channel_type,
                          price_fen=r.price_fen) for r in rows]

    async def add_cap(self, tenant_id: str, spec: CapSpec) -> CapView:
        async with self._ctx.db.transaction() as session:
            if spec.scope is CapScope.BUSINESS and spec.scope_id is not None and \
                    await BusinessRepository(session, tenant_id).get(spec.scope_id) is None:
                raise NotFound("no such business", code="business_not_found", field="scope_id")
            if spec.scope is CapScope.TEMPLATE and spec.scope_id is not None and \
                    await TemplateRepository(session, tenant_id).get(spec.scope_id) is None:
                raise NotFound("no such template", code="template_not_found", field="scope_id")
            row = CapacityCap(id=new_id(), tenant_id=tenant_id, name=spec.name, scope=spec.scope.value,
                              scope_id=spec.scope_id, metric=spec.metric.value, period=spec.period.value,
                              limit=spec.limit, window_start=spec.window_start, window_end=spec.window_end,
                              created_at=utcnow())
            session.add(row)
            await self._audit.record(session, action="cap.add", target_type="cap", target_id=row.id,
                                     after=spec.model_dump(mode="json"), tenant_id=tenant_id)
        self.forget(tenant_id)
        return (await self.caps(tenant_id, cap_id=row.id))[0]

    async def delete_cap(self, tenant_id: str, cap_id: str) -> None:
        before = (await self.caps(tenant_id, cap_id=cap_id))[0].model_dump(mode="json")
        async with self._ctx.db.transaction() as session:
            await self._audit.record(session, action="cap.delete", target_type="cap", target_id=cap_id,
                                     before=before, tenant_id=tenant_id)
            result = await session.execute(delete(CapacityCap).where(CapacityCap.tenant_id == tenant_id,
                                                                     CapacityCap.id == cap_id))
            if not result.rowcount:  # type: ignore[attr-defined]
                raise NotFound("no such cap", code="cap_not_found")
        self.forget(tenant_id)

    async def caps(self, tenant_id: str, *, cap_id: str | None = None, business_id: str | None = None,
                   ) -> list[CapView]:
        """The tenant's caps with their current period's ledger; `business_id`: those that cover it."""
        now = utcnow()
        async with self._ctx.db.reader() as session:
            statement = select(CapacityCap).where(CapacityCap.tenant_id == tenant_id)
            if cap_id is not None:
                statement = statement.where(CapacityCap.id == cap_id)
            caps = (await session.scalars(statement.order_by(CapacityCap.created_at))).all()
            keyed = {c.id: period_key(CapPeriod(c.period), now, c.window_start, c.window_end) for c in caps}
            wanted = [(c, k) for c, k in keyed.items() if k is not None]
            usage = {(u.cap_id, u.period_key): u for u in (await session.scalars(select(CapacityUsage).where(
                CapacityUsage.tenant_id == tenant_id,
                tuple_(CapacityUsage.cap_id, CapacityUsage.period_key).in_(wanted))) if wanted else [])}
        if cap_id is not None and not caps:
            raise NotFound("no such cap", code="cap_not_found")
        views = []
        for cap in caps:
            rule = _rule(cap)
            if business_id is not None and rule.scope is CapScope.BUSINESS and rule.scope_id != business_id:
                continue
            key = keyed[cap.id]
            row = usage.get((cap.id, key)) if key else None
            reserved, charged, refused = (row.reserved, row.charged, row.refused) if row else (0, 0, 0)
            views.append(CapView(
                id=cap.id, name=cap.name, scope=rule.scope, scope_id=cap.scope_id, metric=rule.metric,
                period=rule.period, limit=cap.limit, window_start=cap.window_start, window_end=cap.window_end,
                period_key=key, reserved=reserved, charged=charged, refused=refused,
                remaining=max(0, cap.limit - reserved - charged), created_at=as_utc(cap.created_at)))
        return views


def _rule(row: CapacityCap) -> CapRule:
    return CapRule(id=row.id, name=row.name, scope=CapScope(row.scope), scope_id=row.scope_id,
                   metric=CapMetric(row.metric), period=CapPeriod(row.period), limit=row.limit,
                   window_start=row.window_start, window_end=row.window_end)


def _kind_of(content: dict[str, Any]) -> ContentKind:
    kind = content.get("kind")
    return {"rich_card": ContentKind.RICH_CARD, "carousel": ContentKind.CAROUSEL,
            "file": ContentKind.FILE}.get(str(kind), ContentKind.TEXT)
