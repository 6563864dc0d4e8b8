"""The demo tenant that `make run` seeds: one business, one chatbot on a simulated China Mobile
channel, one API key and one admin login. Seeding twice changes nothing."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from pydantic import TypeAdapter

from msg5g.domain.alerts import AlertKind, AlertRuleSpec, Severity
from msg5g.domain.capacity import CapMetric, CapPeriod, CapScope, CapSpec, ContentKind, PriceSpec
from msg5g.domain.content import Content
from msg5g.domain.conversations import ContactSpec
from msg5g.domain.messages import TrafficClass
from msg5g.domain.rules import Conditions, HandoverAction, KeywordMatch, ReplyAction, RuleSpec, SetAction
from msg5g.services.access import BusinessAccess
from msg5g.services.bundle import Services

DEMO_TENANT_ID = "00000000-0000-7000-8000-000000000001"
DEMO_CHANNEL_ID = "00000000-0000-7000-8000-0000000000c1"
DEMO_CARRIER_CHATBOT_ID = "125200401111528"
DEMO_APP_ID = "125200401111528"
DEMO_ADMIN_EMAIL = "admin@demo.msg5g.local"


@dataclass
class DemoAccount:
    tenant_id: str
    business_id: str
    chatbot_id: str
    channel_id: str
    api_key: str
    callback_secret: str
    admin_email: str
    admin_password: str
    carrier_chatbot_id: str
    carrier_app_id: str
    carrier_password: str
    operator_key: str = ""  # for /v1/platform (channels); empty in a demo seeded before it existed


async def seed_demo(services: Services, *, simulator_url: str, state_file: Path) -> DemoAccount:
    if state_file.exists() and await services.provisioning.tenant_exists(DEMO_TENANT_ID):
        stored = json.loads(state_file.read_text())
        return DemoAccount(**{f.name: stored[f.name] for f in fields(DemoAccount) if f.name in stored})
    provisioning = services.provisioning
    if not await provisioning.tenant_exists(DEMO_TENANT_ID):
        await provisioning.create_tenant("Demo Tenant 演示租户", tenant_id=DEMO_TENANT_ID)
        await provisioning.create_channel("cmcc", "China Mobile (simulated)", simulator_url, channel_id=DEMO_CHANNEL_ID)
    business_id, secret = await provisioning.create_business(DEMO_TENANT_ID, "Loan reminders 贷款提醒",
                                                             TrafficClass.NOTIFICATION)
    carrier_password = "demo-carrier-password"  # noqa: S105 - the simulator's demo account
    chatbot_id = await provisioning.create_chatbot(
        DEMO_TENANT_ID, channel_id=DEMO_CHANNEL_ID, business_id=business_id, name="Demo bot 演示机器人",
        carrier_chatbot_id=DEMO_CARRIER_CHATBOT_ID,
        address=f"sip:{DEMO_CARRIER_CHATBOT_ID}@botplatform.rcs.chinamobile.com",
        credentials={"app_id": DEMO_APP_ID, "password": carrier_password},
    )
    _, api_key = await services.api_keys.create(DEMO_TENANT_ID, business_id, "demo key")
    # A price plan, a daily cap and alert rules on it, so the capacity and alert pages have something to show.
    await services.capacity.set_prices(DEMO_TENANT_ID, [
        PriceSpec(content_kind=ContentKind.TEXT, price_fen=4),
        PriceSpec(content_kind=ContentKind.RICH_CARD, price_fen=10),
        PriceSpec(content_kind=ContentKind.SMS, price_fen=5)])
    await services.capacity.add_cap(DEMO_TENANT_ID, CapSpec(
        scope=CapScope.BUSINESS, scope_id=business_id, metric=CapMetric.COUNT, period=CapPeriod.DAY, limit=100_000,
        name="Daily messages 每日条数"))
    for rule in (AlertRuleSpec(name="Caps at 80% and 100% 容量告警", kind=AlertKind.CAPACITY),
                 AlertRuleSpec(name="Channel failing 通道故障", kind=AlertKind.CHANNEL_HEALTH,
                               severity=Severity.CRITICAL),
                 AlertRuleSpec(name="Callbacks failing 回调失败", kind=AlertKind.CALLBACK_FAILURES),
                 AlertRuleSpec(name="Carrier rejections 审核驳回", kind=AlertKind.AUDIT_REJECTED)):
        await services.alerts.add_rule(DEMO_TENANT_ID, rule, "demo seed")
    await _seed_repayment_flow(services, BusinessAccess(DEMO_TENANT_ID, business_id, "demo seed"), chatbot_id)
    _, operator_key = await services.operator_keys.create("demo operator")
    admin_password = "demo-console-2026"  # noqa: S105 - printed by `make run` for the demo
    await services.admins.create(DEMO_ADMIN_EMAIL, admin_password, tenant_id=DEMO_TENANT_ID, display_name="Demo admin")
    account = DemoAccount(
        tenant_id=DEMO_TENANT_ID, business_id=business_id, chatbot_id=chatbot_id, channel_id=DEMO_CHANNEL_ID,
        api_key=api_key, callback_secret=secret, admin_email=DEMO_ADMIN_EMAIL, admin_password=admin_password,
        carrier_chatbot_id=DEMO_CARRIER_CHATBOT_ID, carrier_app_id=DEMO_APP_ID, carrier_password=carrier_password,
        operator_key=operator_key,
    )
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(asdict(account), indent=2))
    return account


DEMO_CUSTOMER = "+8613800138000"


async def _seed_repayment_flow(services: Services, access: BusinessAccess, chatbot_id: str) -> None:
    """"Check my repayment", a small app in the message window: a menu, a card with the amount due and the
    buttons "Pay now" (opens a page) and "Remind me later" (a postback), a confirmation; and a person on
    request. The demo customer has the attributes the card reads."""
    await services.conversations.put_contact(DEMO_TENANT_ID, DEMO_CUSTOMER, ContactSpec(
        attributes={"name": "李雷", "amount_due": "1,288.00", "due_date": "12月15日"}, tags=["borrower"]))
    menu = {"kind": "text", "text": "{{ contact.name | default('您') }}好，这里是贷款服务。请选择：",
            "suggestions": [{"type": "reply", "text": "查询还款", "postback_data": "repay:check"},
                            {"type": "reply", "text": "人工客服", "postback_data": "agent"}]}
    card = {"kind": "rich_card", "card": {
        "title": "本期账单", "description": "{{ contact.name }}，本期应还 {{ contact.amount_due }} 元，"
                                           "到期日 {{ contact.due_date }}。",
        "suggestions": [{"type": "open_url", "text": "立即还款", "url": "https://pay.example.com/repay",
                         "postback_data": "repay:pay"},
                        {"type": "reply", "text": "稍后提醒", "postback_data": "repay:later"}]}}
    rules = [
        RuleSpec(name="Menu 菜单", priority=10, conditions=Conditions(
            match=KeywordMatch.ANY_OF, keywords=["菜单", "menu", "你好", "hi"]),
            actions=[ReplyAction(content=TypeAdapter(Content).validate_python(menu)),
                     SetAction(state="")]),
        RuleSpec(name="Repayment card 还款卡片", priority=20, conditions=Conditions(postback="repay:check"),
                 actions=[ReplyAction(content=TypeAdapter(Content).validate_python(card)),
                          SetAction(state="repayment")]),
        RuleSpec(name="Remind me later 稍后提醒", priority=30, conditions=Conditions(postback="repay:later"),
                 actions=[ReplyAction(content=TypeAdapter(Content).validate_python(
                     {"kind": "text", "text": "好的，我们会在 {{ contact.due_date }} 前一天提醒您。"})),
                     SetAction(state="", add_tags=["remind_me"])]),
        RuleSpec(name="A person 人工客服", priority=40, conditions=Conditions(
            postback="agent"), actions=[ReplyAction(content=TypeAdapter(Content).validate_python(
                {"kind": "text", "text": "正在为您转接人工客服，请稍候。"})), HandoverAction()]),
        RuleSpec(name="Otherwise 其他", default=True, actions=[ReplyAction(content=TypeAdapter(Content).validate_python(
            {"kind": "text", "text": "回复「菜单」查看服务。"}))]),
    ]
    for rule in rules:
        await services.auto_reply.add_rule(access, chatbot_id, rule)
