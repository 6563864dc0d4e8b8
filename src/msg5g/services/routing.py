"""Routing: which chatbot account (and so which channel) carries a message to its recipient.

The recipient's carrier comes from its number (kit/carriers.py), overridden by what the platform
knows of that number (`number_facts`: set by an operator, or learned when a carrier refused it as
"not our subscriber", 携号转网). A chatbot's routes list, per carrier and in priority order, the
accounts that can send for it (a direct carrier line, then an aggregator); a chatbot without
routes sends through itself. Channels that are disabled, cannot carry the content, or whose
circuit is open (ChannelHealth) are passed over; when every candidate's circuit is open the first
enabled one is used anyway, so that the message waits for the channel instead of failing.

Circuit breakers live in each process: every process notices a failing channel by itself within a
few sends, and reports each change of health as a `channel_health_events` row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.domain.content import Content
from msg5g.domain.errors import NotFound, PermanentChannelError, ValidationFailed
from msg5g.kit.carriers import CARRIERS, home_carrier
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory, ResolvedChatbot
from msg5g.storage.repositories import ChatbotRepository, PlatformRepository, RouteRepository
from msg5g.storage.tables import ChannelHealthEvent, ChatbotRoute, NumberFact

log = logging.getLogger(__name__)

ANY_CARRIER = "*"
SMS_ROUTE = "sms"  # the route a platform-side fallback (SMS, H5) takes
NOT_CAPABLE = "not_capable"  # the error code of an attempt that ended because the handset cannot take 5G
CAPABILITY_TTL = timedelta(days=30)
_CACHE_SECONDS = 15.0
LEARNED_CARRIER_TTL = timedelta(days=90)


class NoRoute(PermanentChannelError):
    """No enabled channel that can carry the message serves the recipient's carrier."""


# ---- health ----------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Circuit:
    state: str = "closed"  # closed | open | half_open
    consecutive_failures: int = 0
    opened_at: float = 0.0
    probing: bool = False
    sends: int = 0
    failures: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    latency_total: float = 0.0


@dataclass(frozen=True, slots=True)
class HealthChange:
    channel_id: str
    state: str
    reason: str | None
    at: datetime = field(default_factory=utcnow)


class ChannelHealth:
    """A circuit breaker per channel: opens after consecutive channel failures (timeouts, 5xx, auth),
    lets one probe through after a cooldown, and closes when the probe succeeds."""

    def __init__(self, *, failures_to_open: int = 5, open_seconds: float = 30.0) -> None:
        self.failures_to_open = failures_to_open
        self.open_seconds = open_seconds
        self._circuits: dict[str, _Circuit] = {}
        self._cooldowns: dict[str, float] = {}  # channel -> monotonic time its back-off ends
        self.changes: list[HealthChange] = []  # not yet written; see drain()

    def back_off(self, channel_id: str, seconds: float) -> None:
        """The carrier answered "too many requests": nothing goes to that channel for a while."""
        until = time.monotonic() + seconds
        self._cooldowns[channel_id] = max(until, self._cooldowns.get(channel_id, 0.0))

    def cooldown_remaining(self, channel_id: str) -> float:
        until = self._cooldowns.get(channel_id)
        if until is None:
            return 0.0
        remaining = until - time.monotonic()
        if remaining <= 0:
            del self._cooldowns[channel_id]
            return 0.0
        return remaining

    def allows(self, channel_id: str) -> bool:
        circuit = self._circuits.get(channel_id)
        if circuit is None or circuit.state == "closed":
            return True
        if circuit.state == "open" and time.monotonic() - circuit.opened_at >= self.open_seconds:
            circuit.state = "half_open"
            circuit.probing = False
            self.changes.append(HealthChange(channel_id, "half_open", "probing after cooldown"))
        if circuit.state == "half_open" and not circuit.probing:
            circuit.probing = True  # one probe at a time
            return True
        return False

    def would_allow(self, channel_id: str) -> bool:
        """allows() without taking the probe slot: for asking whether a route is worth trying."""
        circuit = self._circuits.get(channel_id)
        if circuit is None or circuit.state == "closed":
            return True
        if circuit.state == "open":
            return time.monotonic() - circuit.opened_at >= self.open_seconds
        return not circuit.probing

    def record(self, channel_id: str, *, ok: bool, seconds: float, error: str | None = None) -> None:
        circuit = self._circuits.setdefault(channel_id, _Circuit())
        circuit.sends += 1
        circuit.latency_total += seconds
        if ok:
            circuit.consecutive_failures = 0
            if circuit.state != "closed":
                circuit.state = "closed"
                circuit.probing = False
                self.changes.append(HealthChange(channel_id, "closed", "a send succeeded"))
            return
        circuit.failures += 1
        circuit.consecutive_failures += 1
        circuit.last_error, circuit.last_error_at = error, utcnow()
        if circuit.state == "half_open" or (
                circuit.state == "closed" and circuit.consecutive_failures >= self.failures_to_open):
            circuit.state = "open"
            circuit.opened_at = time.monotonic()
            circuit.probing = False
            self.changes.append(HealthChange(channel_id, "open", error))
            log.warning("channel circuit opened", extra={"channel_id": channel_id, "reason": error})

    def is_open(self, channel_id: str) -> bool:
        circuit = self._circuits.get(channel_id)
        return circuit is not None and circuit.state == "open"

    def view(self, channel_id: str) -> dict[str, object] | None:
        circuit = self._circuits.get(channel_id)
        if circuit is None:
            return None
        return {"circuit": circuit.state, "sends": circuit.sends,
                "success_rate": round(1 - circuit.failures / circuit.sends, 4) if circuit.sends else None,
                "mean_latency_ms": round(circuit.latency_total / circuit.sends * 1000, 1) if circuit.sends else None,
                "last_error": circuit.last_error,
                "last_error_at": circuit.last_error_at.isoformat() if circuit.last_error_at else None}

    def drain(self) -> list[HealthChange]:
        changes, self.changes = self.changes, []
        return changes


# ---- routing ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NumberView:
    """What routing knows of a number, for the operator API."""

    number: str
    home_carrier: str | None
    carrier: str | None
    carrier_source: str | None
    carrier_expires_at: datetime | None
    not_carriers: list[str]
    routed_carrier: str | None
    capability: str | None
    capability_source: str | None
    capability_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class RouteChoice:
    chatbot: ResolvedChatbot
    carrier: str | None  # the recipient's carrier as routing saw it


class Router:
    def __init__(self, ctx: ServiceContext, directory: Directory, health: ChannelHealth) -> None:
        self._ctx = ctx
        self._directory = directory
        self.health = health
        self._routes: dict[tuple[str, str], tuple[float, list[tuple[str, int, str]]]] = {}
        self._facts: dict[str, tuple[float, NumberFact | None]] = {}

    def forget(self) -> None:
        self._routes.clear()
        self._facts.clear()

    async def _routes_of(self, tenant_id: str, chatbot_id: str) -> list[tuple[str, int, str]]:
        key = (tenant_id, chatbot_id)
        cached = self._routes.get(key)
        if cached is None or cached[0] <= time.monotonic():
            async with self._ctx.db.reader() as session:
                rows = await RouteRepository(session, tenant_id).of_chatbot(chatbot_id)
            cached = (time.monotonic() + _CACHE_SECONDS, [(r.carrier, r.priority, r.via_chatbot_id) for r in rows])
            self._routes[key] = cached
        return cached[1]

    async def reachable_chatbots(self, tenant_id: str, chatbot_id: str) -> list[str]:
        """Every chatbot account a message named for this chatbot may go through."""
        routes = await self._routes_of(tenant_id, chatbot_id)
        return list(dict.fromkeys(via for _, _, via in routes)) if routes else [chatbot_id]

    async def fact(self, number: str) -> NumberFact | None:
        cached = self._facts.get(number)
        if cached is None or cached[0] <= time.monotonic():
            async with self._ctx.db.reader() as session:
                found = await PlatformRepository(session).number_fact(number)
            cached = (time.monotonic() + _CACHE_SECONDS, found)
            self._facts[number] = cached
        return cached[1]

    async def prefetch(self, numbers: Iterable[str]) -> None:
        """Read what is known of many numbers in one query (a send job's recipients), so that
        routing them does not cost a query each."""
        now = time.monotonic()
        missing = [n for n in dict.fromkeys(numbers) if (c := self._facts.get(n)) is None or c[0] <= now]
        if not missing:
            return
        async with self._ctx.db.reader() as session:
            found = {f.number: f for f in await PlatformRepository(session).number_facts(missing)}
        expires = now + _CACHE_SECONDS
        for number in missing:
            self._facts[number] = (expires, found.get(number))
        if len(self._facts) > 200_000:
            self._facts.clear()

    async def view(self, number: str) -> NumberView:
        fact = await self.fact(number)
        routed, refused = await self.carrier_of(number)
        return NumberView(
            number=number, home_carrier=home_carrier(number), carrier=fact.carrier if fact else None,
            carrier_source=fact.carrier_source if fact else None,
            carrier_expires_at=as_utc(fact.carrier_expires_at) if fact and fact.carrier_expires_at else None,
            not_carriers=sorted(refused), routed_carrier=routed,
            capability=fact.capability if fact else None, capability_source=fact.capability_source if fact else None,
            capability_expires_at=as_utc(fact.capability_expires_at) if fact and fact.capability_expires_at else None)

    async def carrier_of(self, number: str) -> tuple[str | None, set[str]]:
        """(the carrier serving the number, carriers known not to), facts first."""
        fact = await self.fact(number)
        refused = set(fact.not_carriers or []) if fact else set()
        if fact and fact.carrier and (fact.carrier_expires_at is None or as_utc(fact.carrier_expires_at) > utcnow()):
            return fact.carrier, refused
        home = home_carrier(number)
        return (None if home in refused else home), refused

    async def choose(self, tenant_id: str, chatbot_id: str, recipient: str, content: Content,
                     fallback_text: str | None, *, avoid_channels: Iterable[str] = (),
                     probe: bool = True, over_sms: bool = False,
                     ready: Callable[[ResolvedChatbot], Awaitable[bool]] | None = None) -> RouteChoice:
        """`ready` says whether a chatbot has what the message references (its template and
        materials approved there); one that has not is passed over like a disabled channel."""
        avoid = set(avoid_channels)
        routes = await self._routes_of(tenant_id, chatbot_id)
        # What is known of the number matters only where there is a choice of routes.
        carrier, refused = await self.carrier_of(recipient) if routes else (None, set())
        if over_sms:
            candidates = [via for c, _, via in sorted(routes, key=lambda r: r[1]) if c == SMS_ROUTE]
            if not candidates:
                raise NoRoute("the chatbot has no `sms` route for a platform-side fallback")
        elif not routes:
            candidates = [chatbot_id]
        else:
            by_priority = [r for r in sorted(routes, key=lambda r: r[1]) if r[0] != SMS_ROUTE]
            exact = [via for c, _, via in by_priority if carrier is not None and c == carrier]
            if carrier is None:
                # Ported away from its home carrier to one we do not know yet: try the carriers
                # that have not refused it, then the routes for any carrier.
                exact = [via for c, _, via in by_priority if c not in refused and c != ANY_CARRIER]
            anywhere = [via for c, _, via in by_priority if c == ANY_CARRIER]
            candidates = list(dict.fromkeys(exact + anywhere))
        usable: list[ResolvedChatbot] = []
        not_ready = 0
        for via in candidates:
            try:
                resolved = await self._directory.chatbot(tenant_id, via)
            except NotFound:
                continue
            adapter_type = self._ctx.registry.adapter_type(resolved.endpoint.type)
            if not resolved.endpoint.enabled or resolved.endpoint.channel_id in avoid or resolved.unsendable:
                continue
            if adapter_type.carrier is not None and adapter_type.carrier in refused:
                continue  # that carrier said the number is not its subscriber
            if adapter_type.capabilities.refusal(content, fallback_text):
                continue
            if ready is not None and not await ready(resolved):
                not_ready += 1
                continue
            usable.append(resolved)
            allowed = self.health.allows if probe else self.health.would_allow
            if allowed(resolved.endpoint.channel_id):
                return RouteChoice(resolved, carrier)
        if usable:
            return RouteChoice(usable[0], carrier)  # every circuit open: wait on the first
        if not_ready:
            raise NoRoute("the message's template or materials are not approved on any channel that reaches "
                          f"{carrier or 'this'} number")
        raise NoRoute(f"no enabled channel that can carry this message reaches {carrier or 'this'} number")

    # ---- management -----------------------------------------------------------------------------

    async def set_routes(self, tenant_id: str, chatbot_id: str,
                         routes: list[tuple[str, str, int]]) -> list[tuple[str, str, int]]:
        """Replace a chatbot's routes with (carrier, via chatbot id, priority) entries."""
        allowed = {*CARRIERS, ANY_CARRIER, SMS_ROUTE}
        async with self._ctx.db.transaction() as session:
            chatbots = ChatbotRepository(session, tenant_id)
            if await chatbots.get(chatbot_id) is None:
                raise NotFound("no such chatbot", code="chatbot_not_found", field="chatbot_id")
            rows = []
            for index, (carrier, via, priority) in enumerate(routes):
                if carrier not in allowed:
                    raise ValidationFailed(f"carrier must be one of {', '.join(sorted(allowed))}",
                                           code="invalid_route", field=f"routes.{index}.carrier")
                if await chatbots.get(via) is None:
                    raise ValidationFailed("no such chatbot in this tenant", code="invalid_route",
                                           field=f"routes.{index}.via_chatbot_id")
                rows.append(ChatbotRoute(id=new_id(), tenant_id=tenant_id, chatbot_id=chatbot_id, carrier=carrier,
                                         priority=priority, via_chatbot_id=via, created_at=utcnow()))
            await RouteRepository(session, tenant_id).replace(chatbot_id, rows)
        self._routes.pop((tenant_id, chatbot_id), None)
        return [(r.carrier, r.via_chatbot_id, r.priority) for r in rows]

    async def get_routes(self, tenant_id: str, chatbot_id: str) -> list[tuple[str, str, int]]:
        async with self._ctx.db.reader() as session:
            if await ChatbotRepository(session, tenant_id).get(chatbot_id) is None:
                raise NotFound("no such chatbot", code="chatbot_not_found", field="chatbot_id")
            rows = await RouteRepository(session, tenant_id).of_chatbot(chatbot_id)
        return [(r.carrier, r.via_chatbot_id, r.priority) for r in rows]

    async def set_capability(self, number: str, capability: str | None, ttl_days: float | None) -> None:
        """An operator's word on whether a number takes 5G messages (None clears it)."""
        now = utcnow()
        async with self._ctx.db.transaction() as session:
            fact = await PlatformRepository(session).number_fact_to_change(number, now)
            fact.capability = capability
            fact.capability_source = "manual" if capability else None
            fact.capability_expires_at = now + timedelta(days=ttl_days) if capability and ttl_days else None
            fact.updated_at = now
        self._facts.pop(number, None)

    async def set_fact(self, number: str, *, carrier: str | None, ttl_days: float | None) -> NumberFact:
        """An operator's override of the carrier serving a number (None clears it)."""
        if carrier is not None and carrier not in CARRIERS:
            raise ValidationFailed(f"carrier must be one of {', '.join(CARRIERS)}", code="invalid_number_fact",
                                   field="carrier")
        now = utcnow()
        async with self._ctx.db.transaction() as session:
            fact = await PlatformRepository(session).number_fact_to_change(number, now)
            fact.carrier = carrier
            fact.carrier_source = "manual" if carrier else None
            fact.carrier_expires_at = now + timedelta(days=ttl_days) if carrier and ttl_days else None
            if carrier:
                fact.not_carriers = [c for c in (fact.not_carriers or []) if c != carrier]
            fact.updated_at = now
        self._facts.pop(number, None)
        return fact

    async def clear_fact(self, number: str) -> None:
        async with self._ctx.db.transaction() as session:
            if not await PlatformRepository(session).delete_number_fact(number):
                raise NotFound("nothing is known of that number", code="number_not_found")
        self._facts.pop(number, None)

    async def sms_only(self, number: str) -> bool:
        """Whether the number is known (and not long ago) to take no 5G messages."""
        fact = await self.fact(number)
        return bool(fact and fact.capability == "sms_only" and (
            fact.capability_expires_at is None or as_utc(fact.capability_expires_at) > utcnow()))

    async def learn_capabilities(self, session: AsyncSession, capabilities: dict[str, str]) -> None:
        """What outcomes said of handsets, in the caller's transaction. Only what routing acts on
        is written: a number found unable to take 5G messages, or one found able again."""
        now = utcnow()
        repo = PlatformRepository(session)
        for number, capability in capabilities.items():
            cached = self._facts.get(number)
            known = cached[1].capability if cached and cached[1] else None
            if capability == "rcs" and known != "sms_only" and cached is not None:
                continue  # nothing to undo
            if capability == "rcs" and cached is None:
                continue  # unknown numbers are assumed able; not worth a write per delivery
            fact = await repo.number_fact(number)
            if fact is None:
                if capability != "sms_only":
                    continue
                fact = NumberFact(number=number, not_carriers=[], updated_at=now)
                await repo.add(fact)
            if fact.capability_source == "manual" and fact.capability != capability:
                continue  # an operator's setting wins over what an outcome suggests
            fact.capability = capability
            fact.capability_source = "learned"
            fact.capability_expires_at = now + CAPABILITY_TTL
            fact.updated_at = now
            self._facts.pop(number, None)

    async def learn_ported(self, number: str, refused_by: str) -> None:
        """A carrier refused the number as not its subscriber: route it elsewhere from now on."""
        now = utcnow()
        async with self._ctx.db.transaction() as session:
            fact = await PlatformRepository(session).number_fact_to_change(number, now)
            fact.not_carriers = sorted({*(fact.not_carriers or []), refused_by})
            if fact.carrier == refused_by:
                fact.carrier, fact.carrier_source, fact.carrier_expires_at = None, None, None
            fact.updated_at = now
        self._facts.pop(number, None)
        log.info("number learned as ported", extra={"refused_by": refused_by})

    async def write_health_changes(self) -> None:
        changes = self.health.drain()
        if not changes:
            return
        async with self._ctx.db.transaction() as session:
            for change in changes:
                session.add(ChannelHealthEvent(channel_id=change.channel_id, state=change.state,
                                               reason=(change.reason or "")[:500] or None, occurred_at=change.at))
