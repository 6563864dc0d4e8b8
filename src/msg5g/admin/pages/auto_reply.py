"""Auto-reply rules in the admin (自动回复): one chatbot's rules in the order they run, a rule added as JSON
(the API's RuleSpec, with an example to start from), turned off or deleted, and "what would happen" for a
sample uplink before a rule goes live. The rules are the business's that receives the chatbot's
uplinks; a user limited to other businesses sees none of it."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import ValidationError
from starlette.responses import Response

from msg5g.admin.context import InTenantDep, Operator
from msg5g.admin.forms import form_text
from msg5g.admin.i18n import N_
from msg5g.admin.pages.materials import DoneQuery
from msg5g.domain.errors import DomainError, NotFound
from msg5g.domain.roles import Permission
from msg5g.domain.rules import RuleSpec
from msg5g.services.access import BusinessAccess
from msg5g.services.auto_reply import Outcome, SampleUplink

router = APIRouter()

ChatbotId = Annotated[str, Path(min_length=1, max_length=64)]
RuleId = Annotated[str, Path(min_length=1, max_length=64)]
EXAMPLE = json.dumps({
    "name": "查询余额", "priority": 10,
    "conditions": {"match": "any_of", "keywords": ["余额", "balance"]},
    "actions": [{"kind": "reply", "content": {"kind": "text",
                                              "text": "{{ contact.name }}，您的余额是 {{ contact.balance }} 元"}},
                {"kind": "set", "add_tags": ["asked_balance"]}],
}, ensure_ascii=False, indent=2)
_NOTICES = {"added": N_("Rule added: it answers uplinks within seconds."), "deleted": N_("Rule deleted."),
            "toggled": N_("Rule changed.")}


async def _access(op: Operator, chatbot_id: str) -> BusinessAccess | None:
    """Acting for the business that receives the chatbot's uplinks, if the user may."""
    try:
        chatbot = await op.services.directory.chatbot(op.tenant_id, chatbot_id)
    except NotFound:
        return None
    if not op.user.covers(chatbot.business_id):
        return None
    return BusinessAccess(tenant_id=op.tenant_id, business_id=chatbot.business_id, api_key_id=op.user.actor)


def _no_chatbot(op: Operator) -> Response:
    return op.ctx.render("error.html", status_code=404, active="chatbots", title=op.ctx.gettext("Not found"),
                         detail=op.ctx.gettext("There is no such chatbot in this tenant."))


async def _page(op: Operator, access: BusinessAccess, chatbot_id: str, *, source: str = EXAMPLE,
                error: str | None = None, outcome: Outcome | None = None, sample: dict[str, str] | None = None,
                notice: str | None = None, status_code: int = 200) -> Response:
    rules = await op.services.auto_reply.rules(access, chatbot_id)
    names = dict(await op.services.provisioning.chatbots(op.tenant_id))
    return op.ctx.render("auto_reply.html", status_code=status_code, active="chatbots", chatbot_id=chatbot_id,
                         chatbot_name=names.get(chatbot_id, chatbot_id), rules=rules, source=source, error=error,
                         outcome=outcome, sample=sample or {}, notice=notice,
                         can_manage=op.user.can(Permission.MANAGE_CONTENT),
                         rule_names={r.id: r.spec.name for r in rules})


@router.get("/chatbots/{chatbot_id}/rules", name="auto_reply_rules")
async def rules_page(op: InTenantDep, chatbot_id: ChatbotId, done: DoneQuery = None) -> Response:
    access = await _access(op, chatbot_id)
    if access is None:
        return _no_chatbot(op)
    notice = _NOTICES.get(done or "")
    return await _page(op, access, chatbot_id, notice=op.ctx.gettext(notice) if notice else None)


@router.post("/chatbots/{chatbot_id}/rules", name="auto_reply_rule_add")
async def rule_add(op: InTenantDep, chatbot_id: ChatbotId) -> Response:
    access = await _access(op, chatbot_id)
    if access is None:
        return _no_chatbot(op)
    source = form_text(await op.ctx.request.form(), "rule")
    try:
        spec = RuleSpec.model_validate_json(source)
        await op.services.auto_reply.add_rule(access, chatbot_id, spec)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'rule'}: {e['msg']}" for e in exc.errors())
        return await _page(op, access, chatbot_id, source=source, error=problems, status_code=422)
    except DomainError as exc:
        return await _page(op, access, chatbot_id, source=source, error=exc.message, status_code=422)
    return op.ctx.redirect(op.ctx.url("auto_reply_rules", chatbot_id=chatbot_id, query={"done": "added"}))


@router.post("/chatbots/{chatbot_id}/rules/test", name="auto_reply_test")
async def rule_test(op: InTenantDep, chatbot_id: ChatbotId) -> Response:
    """What a sample uplink would make the rules do; nothing is sent."""
    access = await _access(op, chatbot_id)
    if access is None:
        return _no_chatbot(op)
    form = await op.ctx.request.form()
    sample = {name: form_text(form, name).strip() for name in ("text", "postback", "state", "tags")}
    try:
        uplink = SampleUplink(text=sample["text"] or None, postback=sample["postback"] or None,
                              state=sample["state"] or None,
                              tags=[t for t in sample["tags"].replace("，", ",").split(",") if t.strip()])
    except ValidationError as exc:
        return await _page(op, access, chatbot_id, error=str(exc.errors()[0]["msg"]), sample=sample,
                           status_code=422)
    outcome = await op.services.auto_reply.test(access, chatbot_id, uplink)
    return await _page(op, access, chatbot_id, outcome=outcome, sample=sample)


async def _change(op: Operator, chatbot_id: str, rule_id: str, *, delete: bool) -> Response:
    access = await _access(op, chatbot_id)
    if access is None:
        return _no_chatbot(op)
    try:
        if delete:
            await op.services.auto_reply.delete_rule(access, chatbot_id, rule_id)
        else:
            rule = await op.services.auto_reply.rule(access, chatbot_id, rule_id)
            enabled = form_text(await op.ctx.request.form(), "enabled") == "true"
            await op.services.auto_reply.replace_rule(access, chatbot_id, rule_id,
                                                      rule.spec.model_copy(update={"enabled": enabled}))
    except NotFound:
        return op.ctx.render("error.html", status_code=404, active="chatbots", title=op.ctx.gettext("Not found"),
                             detail=op.ctx.gettext("There is no such rule."))
    return op.ctx.redirect(op.ctx.url("auto_reply_rules", chatbot_id=chatbot_id,
                                      query={"done": "deleted" if delete else "toggled"}))


@router.post("/chatbots/{chatbot_id}/rules/{rule_id}/delete", name="auto_reply_rule_delete")
async def rule_delete(op: InTenantDep, chatbot_id: ChatbotId, rule_id: RuleId) -> Response:
    return await _change(op, chatbot_id, rule_id, delete=True)


@router.post("/chatbots/{chatbot_id}/rules/{rule_id}/enabled", name="auto_reply_rule_enabled")
async def rule_enabled(op: InTenantDep, chatbot_id: ChatbotId, rule_id: RuleId) -> Response:
    return await _change(op, chatbot_id, rule_id, delete=False)
