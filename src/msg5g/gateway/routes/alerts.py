"""Alert management: a tenant's rules and alerts (business keys), and the platform's own (operator keys)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from msg5g.domain.alerts import AlertKind, AlertRuleSpec, AlertState
from msg5g.gateway.deps import AccessDep, ServicesDep
from msg5g.gateway.errors import ErrorResponse
from msg5g.gateway.routes.platform import OperatorDep
from msg5g.services.alerts import AlertView, RuleView

router = APIRouter(prefix="/v1", tags=["alerts"])
_errors: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid key"},
    403: {"model": ErrorResponse, "description": "The key lacks the scope"},
    404: {"model": ErrorResponse, "description": "No such alert rule or alert"},
    409: {"model": ErrorResponse, "description": "The alert is resolved, or a rule's kind would change"},
    422: {"model": ErrorResponse, "description": "Validation failed; `field` names the offending field"},
}
RuleId = Annotated[str, Path(min_length=1, max_length=64)]
AlertId = Annotated[str, Path(min_length=1, max_length=64)]
StateQuery = Annotated[AlertState | None, Query(description="Only alerts in this state")]
KindQuery = Annotated[AlertKind | None, Query(description="Only alerts of this kind")]
BeforeQuery = Annotated[datetime | None, Query(description="Only alerts raised before this (paging back)")]
LimitQuery = Annotated[int, Query(ge=1, le=500)]


def _key_actor(api_key_id: str) -> str:
    return f"api-key:{api_key_id}"


# ---- a tenant's ---------------------------------------------------------------------------------------


@router.post("/alert-rules", status_code=status.HTTP_201_CREATED, response_model=RuleView, responses=_errors,
             summary="Add an alert rule to the caller's tenant")
async def add_rule(body: AlertRuleSpec, access: AccessDep, services: ServicesDep) -> RuleView:
    """The answer carries `webhook_secret` this once: webhooks are signed with it as business callbacks
    are (`X-Msg5g-Signature`)."""
    return await services.alerts.add_rule(access.tenant_id, body, _key_actor(access.api_key_id))


@router.get("/alert-rules", response_model=list[RuleView], responses=_errors, summary="The tenant's alert rules")
async def list_rules(access: AccessDep, services: ServicesDep) -> list[RuleView]:
    return await services.alerts.rules(access.tenant_id)


@router.get("/alert-rules/{rule_id}", response_model=RuleView, responses=_errors, summary="One alert rule")
async def get_rule(rule_id: RuleId, access: AccessDep, services: ServicesDep) -> RuleView:
    return await services.alerts.rule(access.tenant_id, rule_id)


@router.put("/alert-rules/{rule_id}", response_model=RuleView, responses=_errors,
            summary="Replace an alert rule (its kind stays)")
async def replace_rule(rule_id: RuleId, body: AlertRuleSpec, access: AccessDep, services: ServicesDep) -> RuleView:
    return await services.alerts.replace_rule(access.tenant_id, rule_id, body)


@router.delete("/alert-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_errors,
               summary="Remove an alert rule (its alerts stay in the history)")
async def delete_rule(rule_id: RuleId, access: AccessDep, services: ServicesDep) -> None:
    await services.alerts.delete_rule(access.tenant_id, rule_id)


@router.get("/alerts", response_model=list[AlertView], responses=_errors,
            summary="The tenant's alerts, newest first, with where each was sent")
async def list_alerts(access: AccessDep, services: ServicesDep, state: StateQuery = None, kind: KindQuery = None,
                      before: BeforeQuery = None, limit: LimitQuery = 100) -> list[AlertView]:
    return await services.alerts.alerts(access.tenant_id, state=state, kind=kind, before=before, limit=limit)


@router.get("/alerts/{alert_id}", response_model=AlertView, responses=_errors, summary="One alert")
async def get_alert(alert_id: AlertId, access: AccessDep, services: ServicesDep) -> AlertView:
    return await services.alerts.alert(access.tenant_id, alert_id)


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertView, responses=_errors,
             summary="Acknowledge an alert: someone has it in hand, nothing more is sent for it")
async def acknowledge(alert_id: AlertId, access: AccessDep, services: ServicesDep) -> AlertView:
    return await services.alerts.acknowledge(access.tenant_id, alert_id, _key_actor(access.api_key_id))


@router.post("/alerts/{alert_id}/resolve", response_model=AlertView, responses=_errors,
             summary="Resolve an alert by hand (a condition that still holds is raised again)")
async def resolve(alert_id: AlertId, access: AccessDep, services: ServicesDep) -> AlertView:
    return await services.alerts.resolve(access.tenant_id, alert_id, _key_actor(access.api_key_id))


# ---- the platform's ------------------------------------------------------------------------------------


@router.post("/platform/alert-rules", status_code=status.HTTP_201_CREATED, response_model=RuleView,
             responses=_errors, summary="Add a platform alert rule (every tenant, every channel, the whole queue)")
async def add_platform_rule(body: AlertRuleSpec, operator: OperatorDep, services: ServicesDep) -> RuleView:
    return await services.alerts.add_rule(None, body, f"operator:{operator.name}")


@router.get("/platform/alert-rules", response_model=list[RuleView], responses=_errors,
            summary="The platform's alert rules")
async def list_platform_rules(_operator: OperatorDep, services: ServicesDep) -> list[RuleView]:
    return await services.alerts.rules(None)


@router.get("/platform/alert-rules/{rule_id}", response_model=RuleView, responses=_errors,
            summary="One platform alert rule")
async def get_platform_rule(rule_id: RuleId, _operator: OperatorDep, services: ServicesDep) -> RuleView:
    return await services.alerts.rule(None, rule_id)


@router.put("/platform/alert-rules/{rule_id}", response_model=RuleView, responses=_errors,
            summary="Replace a platform alert rule")
async def replace_platform_rule(rule_id: RuleId, body: AlertRuleSpec, _operator: OperatorDep,
                                services: ServicesDep) -> RuleView:
    return await services.alerts.replace_rule(None, rule_id, body)


@router.delete("/platform/alert-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, responses=_errors,
               summary="Remove a platform alert rule")
async def delete_platform_rule(rule_id: RuleId, _operator: OperatorDep, services: ServicesDep) -> None:
    await services.alerts.delete_rule(None, rule_id)


@router.get("/platform/alerts", response_model=list[AlertView], responses=_errors,
            summary="The platform's alerts, newest first")
async def list_platform_alerts(_operator: OperatorDep, services: ServicesDep, state: StateQuery = None,
                               kind: KindQuery = None, before: BeforeQuery = None,
                               limit: LimitQuery = 100) -> list[AlertView]:
    return await services.alerts.alerts(None, state=state, kind=kind, before=before, limit=limit)


@router.get("/platform/alerts/{alert_id}", response_model=AlertView, responses=_errors,
            summary="One platform alert")
async def get_platform_alert(alert_id: AlertId, _operator: OperatorDep, services: ServicesDep) -> AlertView:
    return await services.alerts.alert(None, alert_id)


@router.post("/platform/alerts/{alert_id}/acknowledge", response_model=AlertView, responses=_errors,
             summary="Acknowledge a platform alert")
async def acknowledge_platform(alert_id: AlertId, operator: OperatorDep, services: ServicesDep) -> AlertView:
    return await services.alerts.acknowledge(None, alert_id, f"operator:{operator.name}")


@router.post("/platform/alerts/{alert_id}/resolve", response_model=AlertView, responses=_errors,
             summary="Resolve a platform alert by hand")
async def resolve_platform(alert_id: AlertId, operator: OperatorDep, services: ServicesDep) -> AlertView:
    return await services.alerts.resolve(None, alert_id, f"operator:{operator.name}")
