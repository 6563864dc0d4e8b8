"""The conformance suite: every channel adapter against its own simulator, the same cases for all.

See tests/channels/conformance.py for the harness and the per-carrier tables.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from msg5g.domain.content import UplinkSuggestionResponse, UplinkText
from msg5g.domain.errors import ChannelAuthError, PermanentChannelError, RateLimited, TransientChannelError
from msg5g.domain.messages import MessageStatus
from tests.channels.conformance import PERMANENT_NUMBERS, TABLES, CarrierTable, Harness, sample_content, start_inbox
from tests.conftest import ServeFn

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture(params=TABLES, ids=[t.type for t in TABLES])
async def carrier(request: pytest.FixtureRequest, serve: ServeFn) -> AsyncIterator[Harness]:
    table: CarrierTable = request.param
    inbox, inbox_url, stop_inbox = await start_inbox()
    inbox.root = inbox_url
    async with aiohttp.ClientSession() as http:
        harness = await table.start(serve, http, inbox, inbox_url)
        inbox.adapter, inbox.account = harness.adapter, harness.account
        yield harness
        await harness.adapter.close()
        await table.close()
    await stop_inbox()


async def test_auth_good_credentials_send_and_wrong_ones_are_an_auth_failure(carrier: Harness) -> None:
    result = await carrier.send(sample_content("text"))
    assert result.carrier_message_id
    endpoint, account = carrier.table.bad_credentials(carrier)
    with pytest.raises(ChannelAuthError):
        await carrier.send(sample_content("text"), account=account, endpoint=endpoint)


@pytest.mark.parametrize("kind", ["text", "text_with_suggestions", "file", "rich_card", "carousel"])
async def test_each_content_kind_is_accepted_and_reported_through_to_the_final_status(
        carrier: Harness, kind: str) -> None:
    if kind not in carrier.table.kinds:
        pytest.skip(f"{carrier.table.type} does not carry {kind}")
    result = await carrier.send(sample_content(kind))
    statuses = await carrier.statuses_for(result.carrier_message_id, carrier.table.final_status)
    assert MessageStatus.DELIVERED in statuses or carrier.table.final_status == MessageStatus.DELIVERED
    assert carrier.inbox.errors() == []
    report = next(s for s in carrier.inbox.statuses() if s.carrier_message_id == result.carrier_message_id)
    assert report.recipient == "+8613900000001"


async def test_a_repeated_message_id_is_recognised_and_delivered_once(carrier: Harness) -> None:
    if not carrier.table.recognises_repeats:
        pytest.skip(f"{carrier.table.type} carries no client message id the carrier could recognise")
    first = await carrier.send(sample_content("text"), message_id="0195f0a0-dupe-7000-8000-000000000001")
    again = await carrier.send(sample_content("text"), message_id="0195f0a0-dupe-7000-8000-000000000001")
    assert again.carrier_message_id == first.carrier_message_id
    await carrier.statuses_for(first.carrier_message_id, carrier.table.final_status)
    status, inbox = await carrier.sim("GET", "/_sim/handsets/+8613900000001/inbox")
    assert status == 200, inbox
    entries = inbox if isinstance(inbox, list) else inbox.get("messages", inbox.get("inbox", []))
    assert len(entries) == 1, inbox


async def test_carrier_5xx_is_transient(carrier: Harness) -> None:
    status, body = await carrier.sim("PUT", "/_sim/faults", carrier.table.transient_fault)
    assert status == 200, body
    with pytest.raises(TransientChannelError) as caught:
        await carrier.send(sample_content("text"))
    assert not isinstance(caught.value, RateLimited)
    if carrier.table.transient_cleared is not None:
        status, body = await carrier.sim("PUT", "/_sim/faults", carrier.table.transient_cleared)
        assert status == 200, body
    assert (await carrier.send(sample_content("text"))).carrier_message_id  # the trouble is over


async def test_over_the_carrier_rate_is_rate_limited(carrier: Harness) -> None:
    await carrier.table.limit_rate(carrier)
    outcomes: list[BaseException | None] = []
    for _ in range(4):
        try:
            await carrier.send(sample_content("text"))
            outcomes.append(None)
        except (RateLimited, TransientChannelError, PermanentChannelError) as exc:
            outcomes.append(exc)
    assert outcomes[0] is None
    assert any(isinstance(o, RateLimited) for o in outcomes[1:]), outcomes


async def test_a_refused_number_is_a_permanent_failure(carrier: Harness) -> None:
    number = PERMANENT_NUMBERS.get(carrier.table.type, "+8613900000077")
    account = await carrier.table.refuse_permanently(carrier, number)
    with pytest.raises(PermanentChannelError) as caught:
        await carrier.send(sample_content("text"), recipient=number, account=account)
    assert not isinstance(caught.value, ChannelAuthError)


@pytest.mark.parametrize("kind", ["text", "postback"])
async def test_uplinks_are_parsed_into_the_unified_model(carrier: Harness, kind: str) -> None:
    if kind not in carrier.table.uplink_kinds:
        pytest.skip(f"{carrier.table.type} has no {kind} uplink")
    number = "+8613900000055"
    uplink = carrier.table.uplink_body(carrier, kind)
    status, body = await carrier.sim("POST", f"/_sim/handsets/{number}/uplink", uplink)
    assert status in {200, 201, 202}, body
    await carrier.inbox.wait_for(lambda: bool(carrier.inbox.inbound()))
    inbound = carrier.inbox.inbound()[0]
    assert inbound.sender == number
    if kind == "text":
        assert inbound.content == UplinkText(text="查询余额")
    else:
        assert isinstance(inbound.content, UplinkSuggestionResponse)
        assert inbound.content.postback_data == "pay-1"
        assert inbound.content.text == "立即还款"
    assert carrier.inbox.errors() == []


async def test_an_expired_token_is_refreshed_once_mid_run(carrier: Harness) -> None:
    if not carrier.table.has_tokens:
        pytest.skip(f"{carrier.table.type} issues no access tokens")
    await carrier.send(sample_content("text"))
    status, body = await carrier.sim("POST", "/_sim/tokens/expire")
    assert status == 200, body
    result = await carrier.send(sample_content("text"))
    await carrier.statuses_for(result.carrier_message_id, carrier.table.final_status)
    status, stats = await carrier.sim("GET", "/_sim/stats")
    assert status == 200, stats
    assert carrier.inbox.errors() == []


async def test_the_callback_handshake_is_answered(carrier: Harness) -> None:
    if not carrier.table.has_tokens:
        pytest.skip(f"{carrier.table.type} has no notifyPath handshake")
    status, body = await carrier.sim("POST", f"/_sim/chatbots/{carrier.account.carrier_chatbot_id}/verify")
    assert status == 200, body
    assert body["notify_path_verified"] is True, body
