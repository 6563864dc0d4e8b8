"""Retention: after a tenant's retention period its messages' content and numbers are purged, while the
counts that reports and billing use (messages by status, charge lines) stay as they were."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from msg5g.domain.capacity import PriceSpec
from msg5g.kit.clock import utcnow
from msg5g.storage.tables import Charge, InboundMessageRow, Message, Submission
from tests.conftest import CARRIER_CHATBOT_ID, Stack
from tests.e2e.library import wait_for

pytestmark = pytest.mark.asyncio

NUMBERS = ["+8613900138101", "+8613900138102", "+8613900138103"]


async def totals(stack: Stack) -> tuple[list[tuple[str, int]], int, int]:
    async with stack.platform.services.ctx.db.reader() as session:
        by_status = (await session.execute(select(Message.status, func.count()).where(
            Message.tenant_id == stack.tenant.tenant_id).group_by(Message.status).order_by(Message.status))).all()
        charged = await session.scalar(select(func.coalesce(func.sum(Charge.amount_fen), 0)).where(
            Charge.tenant_id == stack.tenant.tenant_id))
        inbound = await session.scalar(select(func.count()).select_from(InboundMessageRow).where(
            InboundMessageRow.tenant_id == stack.tenant.tenant_id))
    return [(s, int(n)) for s, n in by_status], int(charged or 0), int(inbound or 0)


async def test_a_purge_removes_content_and_numbers_and_keeps_the_totals(stack: Stack) -> None:
    services = stack.platform.services
    await services.capacity.set_prices(stack.tenant.tenant_id, [PriceSpec(content_kind="text", price_fen=4)])
    status, sent = await stack.text(NUMBERS, "您的验证码是 482913")
    assert status == 202, sent
    for message in sent["messages"]:
        await stack.wait_status(message["id"], "displayed")
    code, _ = await stack.sim("POST", f"/_sim/handsets/{NUMBERS[0]}/uplink",
                              {"chatbot_id": CARRIER_CHATBOT_ID, "text": "我的身份证号 110101"})
    assert code == 200

    async def charged_and_received() -> bool:
        _, charged, inbound = await totals(stack)
        return charged == 12 and inbound == 1
    await wait_for(charged_and_received, "three charges and the uplink")
    before = await totals(stack)
    assert await services.retention.set_days(stack.tenant.tenant_id, 30) == 30
    # Nothing is 30 days old yet: a purge now changes nothing.
    assert await services.retention.purge(stack.tenant.tenant_id, 30) == 0
    purged = await services.retention.purge_all(now=utcnow() + timedelta(days=31))
    assert purged[stack.tenant.tenant_id] == 3
    assert await totals(stack) == before  # the counts reports and billing read are unchanged
    async with services.ctx.db.reader() as session:
        recipients = (await session.scalars(select(Message.recipient).where(
            Message.tenant_id == stack.tenant.tenant_id))).all()
        contents = (await session.scalars(select(Submission.content).where(
            Submission.tenant_id == stack.tenant.tenant_id))).all()
        uplinks = (await session.execute(select(InboundMessageRow.sender, InboundMessageRow.content).where(
            InboundMessageRow.tenant_id == stack.tenant.tenant_id))).all()
    assert sorted(recipients) == sorted(n[:6] + "****" + n[-4:] for n in NUMBERS)
    assert all("482913" not in str(c) for c in contents)
    assert [(s, "110101" in str(c)) for s, c in uplinks] == [(NUMBERS[0][:6] + "****" + NUMBERS[0][-4:], False)]
    # The message is still there for its sender, without what it said or to whom.
    status, message = await stack.message(sent["messages"][0]["id"])
    assert status == 200, message
    assert message["status"] == "displayed"
    assert NUMBERS[0] not in str(message)
    # A second purge finds nothing more.
    assert (await services.retention.purge_all(now=utcnow() + timedelta(days=31)))[stack.tenant.tenant_id] == 0
