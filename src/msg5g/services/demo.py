"""The demo tenant that `make run` seeds: one business, one chatbot on a simulated China Mobile
channel, one API key and one admin login. Seeding twice changes nothing."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from msg5g.domain.alerts import AlertKind, AlertRuleSpec, Severity
from msg5g.domain.capacity import CapMetric, CapPeriod, CapScope, CapSpec, ContentKind, PriceSpec
from msg5g.domain.messages import TrafficClass
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
        scope=CapScope.BUSINESS, scope_id=business_id, metric=CapMetric.COUNT, period=CapPeriod.DAY, limit=1000,
        name="Daily messages 每日条数"))
    for rule in (AlertRuleSpec(name="Caps at 80% and 100% 容量告警", kind=AlertKind.CAPACITY),
                 AlertRuleSpec(name="Channel failing 通道故障", kind=AlertKind.CHANNEL_HEALTH,
                               severity=Severity.CRITICAL),
                 AlertRuleSpec(name="Callbacks failing 回调失败", kind=AlertKind.CALLBACK_FAILURES),
                 AlertRuleSpec(name="Carrier rejections 审核驳回", kind=AlertKind.AUDIT_REJECTED)):
        await services.alerts.add_rule(DEMO_TENANT_ID, rule, "demo seed")
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
