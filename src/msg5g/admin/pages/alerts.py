"""Alerts (告警管理): the history of alerts with their notifications, acknowledging and resolving them, and
the rules that raise them.

Anyone who reads the tenant sees its alerts; operators and tenant admins (`manage_content`) acknowledge
and resolve them; rules are the tenant admin's (`manage_tenant`). A platform admin also sees the
platform's own rules and alerts (`?scope=platform`), those of no tenant, and manages them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.responses import Response

from msg5g.admin.context import InTenantDep, Operator
from msg5g.admin.forms import FieldError, form_text, model_errors, whole_number
from msg5g.admin.i18n import N_
from msg5g.admin.pages.materials import DoneQuery
from msg5g.domain.alerts import AlertKind, AlertRuleSpec, AlertState, AuditResource, Severity
from msg5g.domain.errors import DomainError, NotFound
from msg5g.domain.roles import Permission

router = APIRouter()

Gettext = Callable[..., str]
AlertId = Annotated[str, Path(min_length=1, max_length=64)]
RuleId = Annotated[str, Path(min_length=1, max_length=64)]
StateQuery = Annotated[str | None, Query(alias="state", max_length=20)]
ScopeQuery = Annotated[str | None, Query(alias="scope", max_length=20)]
PLATFORM = "platform"
ALL = "all"

STATE_LABELS: dict[str, str] = {
    AlertState.FIRING: N_("Firing"),
    AlertState.ACKNOWLEDGED: N_("Acknowledged"),
    AlertState.RESOLVED: N_("Resolved"),
}
KIND_LABELS: dict[str, str] = {
    AlertKind.CAPACITY: N_("Capacity threshold"),
    AlertKind.CHANNEL_HEALTH: N_("Channel health"),
    AlertKind.QUEUE_BACKLOG: N_("Queue backlog"),
    AlertKind.CALLBACK_FAILURES: N_("Failing callbacks"),
    AlertKind.AUDIT_REJECTED: N_("Carrier audit rejection"),
}
SEVERITY_LABELS: dict[str, str] = {
    Severity.INFO: N_("Info"), Severity.WARNING: N_("Warning"), Severity.CRITICAL: N_("Critical"),
}
RESOURCE_LABELS: dict[str, str] = {
    AuditResource.TEMPLATE: N_("Templates"),
    AuditResource.MATERIAL: N_("Materials"),
    AuditResource.CHATBOT: N_("Chatbot information"),
    AuditResource.ENTERPRISE: N_("Enterprise registrations"),
    AuditResource.CHATBOT_APPLICATION: N_("Chatbot applications"),
}
NOTIFICATION_LABELS: dict[str, str] = {
    "pending": N_("Pending"), "sent": N_("Sent"), "failed": N_("Failed"), "suppressed": N_("Not sent"),
}
RULE_LABELS: dict[str, str] = {
    "name": N_("Name"),
    "kind": N_("Watches"),
    "severity": N_("Severity"),
    "webhooks": N_("Webhooks"),
    "emails": N_("E-mail addresses"),
    "quiet_minutes": N_("Quiet period (minutes)"),
    "thresholds": N_("Thresholds (percent of the cap)"),
    "max_waiting": N_("Most jobs waiting"),
    "max_age_seconds": N_("Longest wait (seconds)"),
    "topic": N_("Stage"),
    "min_failures": N_("Failures"),
    "window_minutes": N_("Within (minutes)"),
    "resources": N_("Rejections of"),
    "": N_("Alert rule"),
}
_PARAMETERS: dict[str, tuple[str, ...]] = {
    AlertKind.CAPACITY: ("thresholds",),
    AlertKind.CHANNEL_HEALTH: (),
    AlertKind.QUEUE_BACKLOG: ("max_waiting", "max_age_seconds", "topic"),
    AlertKind.CALLBACK_FAILURES: ("min_failures", "window_minutes"),
    AlertKind.AUDIT_REJECTED: ("resources",),
}

_NOTICES = {
    "acknowledged": N_("Alert acknowledged: nothing more is sent for it."),
    "resolved": N_("Alert resolved."),
    "added": N_("Alert rule added. It is evaluated within seconds."),
    "deleted": N_("Alert rule deleted; the alerts it raised stay in the history."),
    "toggled": N_("Alert rule changed."),
}
_DOMAIN_MESSAGES = {
    "alert_resolved": N_("The alert is resolved already. Reload the page."),
}


def _status(exc: DomainError) -> int:
    return exc.http_status if 400 <= exc.http_status < 500 else 422


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.replace(",", "\n").splitlines() if line.strip()]


@dataclass(slots=True)
class RuleForm:
    name: str = ""
    kind: str = AlertKind.CAPACITY.value
    severity: str = Severity.WARNING.value
    webhooks: str = ""
    emails: str = ""
    quiet_minutes: str = "60"
    thresholds: str = "80, 100"
    max_waiting: str = ""
    max_age_seconds: str = ""
    topic: str = ""
    min_failures: str = ""
    window_minutes: str = ""
    resources: tuple[str, ...] = ()

    @classmethod
    def parse(cls, form: FormData) -> RuleForm:
        values = {f.name: form_text(form, f.name).strip() for f in fields(cls) if f.name != "resources"}
        resources = tuple(v for v in form.getlist("resources") if isinstance(v, str))
        return cls(**values, resources=resources)

    def get(self, name: str) -> str:
        return str(getattr(self, name))

    def spec(self, _: Gettext) -> tuple[AlertRuleSpec | None, list[FieldError]]:
        """The rule the form says; only the parameters of its kind are taken (the others stay hidden)."""
        body: dict[str, Any] = {"name": self.name, "kind": self.kind, "severity": self.severity,
                                "webhooks": _lines(self.webhooks), "emails": _lines(self.emails)}
        if self.quiet_minutes:
            body["quiet_minutes"] = whole_number(self.quiet_minutes)
        for name in _PARAMETERS.get(self.kind, ()):
            if name == "thresholds" and self.thresholds:
                body[name] = [whole_number(t) for t in _lines(self.thresholds)]
            elif name == "resources":
                body[name] = list(self.resources) or None
            elif name == "topic" and self.topic:
                body[name] = self.topic
            elif name not in {"thresholds", "topic"} and self.get(name):
                body[name] = whole_number(self.get(name))
        try:
            return AlertRuleSpec.model_validate(body), []
        except ValidationError as exc:
            return None, model_errors(exc, RULE_LABELS, _)


def _owner(op: Operator, scope: str | None) -> str | None:
    """Whose alerts the page shows: the tenant's, or for a platform admin who asks, the platform's."""
    if scope == PLATFORM and op.user.tenant_id is None:
        return None
    return op.tenant_id


def _scope_query(owner: str | None) -> dict[str, str | None]:
    return {"scope": PLATFORM if owner is None else None}


def _not_found(op: Operator, detail: str) -> Response:
    return op.ctx.render("error.html", status_code=404, active="alerts", title=op.ctx.gettext("Not found"),
                         detail=op.ctx.gettext(detail))


def _common(op: Operator, owner: str | None) -> dict[str, Any]:
    return {"active": "alerts", "platform_scope": owner is None, "can_see_platform": op.user.tenant_id is None,
            "state_labels": STATE_LABELS, "kind_labels": KIND_LABELS, "severity_labels": SEVERITY_LABELS,
            "notification_labels": NOTIFICATION_LABELS, "scope_query": _scope_query(owner),
            "can_handle": op.user.can(Permission.MANAGE_CONTENT), "can_manage": op.user.can(Permission.MANAGE_TENANT)}


@router.get("/alerts", name="alerts")
async def alerts_page(op: InTenantDep, state: StateQuery = None, scope: ScopeQuery = None,
                      done: DoneQuery = None) -> Response:
    owner = _owner(op, scope)
    shown = state if state in STATE_LABELS or state == ALL else AlertState.FIRING.value
    alerts = await op.services.alerts.alerts(owner, state=None if shown == ALL else AlertState(shown), limit=200)
    counts = await op.services.alerts.open_counts(owner)
    notice = _NOTICES.get(done or "")
    return op.ctx.render("alerts.html", alerts=alerts, state=shown, states=[*STATE_LABELS, ALL], counts=counts,
                         notice=op.ctx.gettext(notice) if notice else None, **_common(op, owner))


@router.get("/alert-rules", name="alert_rules")
async def rules_page(op: InTenantDep, scope: ScopeQuery = None, done: DoneQuery = None) -> Response:
    notice = _NOTICES.get(done or "")
    return await _rules_page(op, _owner(op, scope), notice=op.ctx.gettext(notice) if notice else None)


async def _rules_page(op: Operator, owner: str | None, *, form: RuleForm | None = None,
                      errors: list[FieldError] | None = None, notice: str | None = None,
                      status_code: int = 200) -> Response:
    rules = await op.services.alerts.rules(owner)
    field_errors: dict[str, list[str]] = {}
    for error in errors or []:
        field_errors.setdefault(error.field, []).append(error.inline)
    return op.ctx.render("alert_rules.html", status_code=status_code, rules=rules, form=form or RuleForm(),
                         resource_labels=RESOURCE_LABELS, rule_labels=RULE_LABELS, errors=errors or [],
                         field_errors=field_errors, notice=notice, smtp=bool(op.ctx.site.settings.smtp_url),
                         **_common(op, owner))


@router.post("/alert-rules", name="alert_rule_add")
async def rule_add(op: InTenantDep, scope: ScopeQuery = None) -> Response:
    owner = _owner(op, scope)
    form = RuleForm.parse(await op.ctx.request.form())
    spec, errors = form.spec(op.ctx.gettext)
    if spec is None:
        return await _rules_page(op, owner, form=form, errors=errors, status_code=422)
    created = await op.services.alerts.add_rule(owner, spec, op.user.actor)
    return op.ctx.render("alert_rule_added.html", rule=created, **_common(op, owner))


@router.post("/alert-rules/{rule_id}/delete", name="alert_rule_delete")
async def rule_delete(op: InTenantDep, rule_id: RuleId, scope: ScopeQuery = None) -> Response:
    owner = _owner(op, scope)
    try:
        await op.services.alerts.delete_rule(owner, rule_id)
    except NotFound:
        return _not_found(op, "There is no such alert rule.")
    return op.ctx.redirect(op.ctx.url("alert_rules", query={**_scope_query(owner), "done": "deleted"}))


@router.post("/alert-rules/{rule_id}/enabled", name="alert_rule_enabled")
async def rule_enabled(op: InTenantDep, rule_id: RuleId, scope: ScopeQuery = None) -> Response:
    owner = _owner(op, scope)
    posted = await op.ctx.request.form()
    try:
        rule = await op.services.alerts.rule(owner, rule_id)
        spec = rule.spec.model_copy(update={"enabled": form_text(posted, "enabled") == "true"})
        await op.services.alerts.replace_rule(owner, rule_id, spec)
    except NotFound:
        return _not_found(op, "There is no such alert rule.")
    return op.ctx.redirect(op.ctx.url("alert_rules", query={**_scope_query(owner), "done": "toggled"}))


@router.get("/alerts/{alert_id}", name="alert")
async def alert_page(op: InTenantDep, alert_id: AlertId, scope: ScopeQuery = None, done: DoneQuery = None,
                     ) -> Response:
    owner = _owner(op, scope)
    try:
        alert = await op.services.alerts.alert(owner, alert_id)
    except NotFound:
        return _not_found(op, "There is no such alert.")
    rules = {r.id: r for r in await op.services.alerts.rules(owner)}
    notice = _NOTICES.get(done or "")
    return op.ctx.render("alert.html", alert=alert, rule=rules.get(alert.rule_id),
                         notice=op.ctx.gettext(notice) if notice else None, **_common(op, owner))


async def _handle(op: Operator, alert_id: str, scope: str | None, action: str) -> Response:
    owner = _owner(op, scope)
    try:
        if action == "acknowledged":
            await op.services.alerts.acknowledge(owner, alert_id, op.user.actor)
        else:
            await op.services.alerts.resolve(owner, alert_id, op.user.actor)
    except NotFound:
        return _not_found(op, "There is no such alert.")
    except DomainError as exc:
        known = _DOMAIN_MESSAGES.get(exc.code)
        return op.ctx.render("error.html", status_code=_status(exc), active="alerts",
                             title=op.ctx.gettext("The alert was not changed"),
                             detail=op.ctx.gettext(known) if known else exc.message)
    return op.ctx.redirect(op.ctx.url("alert", alert_id=alert_id, query={**_scope_query(owner), "done": action}))


@router.post("/alerts/{alert_id}/acknowledge", name="alert_acknowledge")
async def alert_acknowledge(op: InTenantDep, alert_id: AlertId, scope: ScopeQuery = None) -> Response:
    return await _handle(op, alert_id, scope, "acknowledged")


@router.post("/alerts/{alert_id}/resolve", name="alert_resolve")
async def alert_resolve(op: InTenantDep, alert_id: AlertId, scope: ScopeQuery = None) -> Response:
    return await _handle(op, alert_id, scope, "resolved")
