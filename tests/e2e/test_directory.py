"""The directory through the API: a chatbot is found by everyone once live on a carrier, by its own
tenant before that, and never by another tenant while unpublished; the public endpoint and page
show published chatbots only."""

from __future__ import annotations

from typing import Any

import pytest

from msg5g.domain.chatbots import InfoState
from msg5g.services.access import BusinessAccess
from tests.conftest import Stack
from tests.e2e.library import wait_for

pytestmark = pytest.mark.asyncio


def profile(name: str, description: str, category: str = "银行") -> dict[str, Any]:
    return {"service_name": name, "description": description, "category": category, "sms_number": "1065595555"}


async def search(stack: Stack, query: str, key: str | None) -> list[dict[str, Any]]:
    path = "/v1/directory" if key else "/public/directory"
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with stack.http.get(f"{stack.base_url}{path}", params={"q": query}, headers=headers) as r:
        assert r.status == 200, await r.text()
        return list(await r.json())


async def test_published_chatbots_are_found_by_everyone_unpublished_only_by_their_tenant(stack: Stack) -> None:
    services = stack.platform.services
    a = BusinessAccess(stack.tenant.tenant_id, stack.tenant.business_id, "test")
    live = await services.chatbots.create_profile(a, profile_model("招商银行", "信用卡与储蓄服务"))
    await services.chatbots.attach(a, live.id, stack.tenant.chatbot_id)
    await wait_for(lambda: _state(stack, a, stack.tenant.chatbot_id, "manual"), "the account to be manual")
    await services.chatbots.record_state(stack.tenant.chatbot_id, InfoState.LIVE, "approved in the console")
    hidden = await services.chatbots.create_profile(a, profile_model("银行内测号", "尚未上线的银行服务"))
    other = await stack.add_tenant("Tenant B", "125200401111529")
    b = BusinessAccess(other.tenant_id, other.business_id, "test")
    b_hidden = await services.chatbots.create_profile(b, profile_model("银行秘密号", "另一个租户的银行服务"))

    async def indexed() -> list[dict[str, Any]] | None:
        hits = await search(stack, "银行", None)
        return hits if any(h["profile_id"] == live.id for h in hits) else None
    public = await wait_for(indexed, "the live chatbot in the public directory")
    assert [h["profile_id"] for h in public] == [live.id]  # the unpublished ones are nobody's business
    assert public[0]["published"] is True
    assert public[0]["carriers"] == ["cmcc"]
    # A tenant also finds its own unpublished chatbots; a name prefix ranks above a substring. (The
    # directory is updated by a background job: wait until each tenant's own entry is there.)
    async def found_by(key: str, count: int) -> list[str] | None:
        ids = [h["profile_id"] for h in await search(stack, "银行", key)]
        return ids if len(ids) >= count else None
    assert await wait_for(lambda: found_by(stack.tenant.api_key, 2), "A's own view") == [hidden.id, live.id]
    assert await wait_for(lambda: found_by(other.api_key, 2), "B's own view") == [b_hidden.id, live.id]
    assert [h["profile_id"] for h in await search(stack, "银行", None)] == [live.id]
    english = await search(stack, "cmb", None)
    assert english == []  # no such word anywhere
    async with stack.http.get(f"{stack.base_url}/directory", params={"q": "银行"}) as r:
        page = await r.text()
    assert "招商银行" in page
    assert "银行内测号" not in page
    assert "银行秘密号" not in page
    assert stack.tenant.chatbot_id not in page


def profile_model(name: str, description: str) -> Any:
    from msg5g.domain.chatbots import ChatbotProfile

    return ChatbotProfile.model_validate(profile(name, description))


async def _state(stack: Stack, access: BusinessAccess, chatbot_id: str, state: str) -> bool:
    view = await stack.platform.services.chatbots.get(access, chatbot_id)
    return view.info_state is not None and view.info_state.value == state


async def test_an_edit_of_a_published_chatbot_shows_publicly_only_once_approved(stack: Stack) -> None:
    services = stack.platform.services
    a = BusinessAccess(stack.tenant.tenant_id, stack.tenant.business_id, "test")
    live = await services.chatbots.create_profile(a, profile_model("招商银行", "信用卡与储蓄服务"))
    await services.chatbots.attach(a, live.id, stack.tenant.chatbot_id)
    await wait_for(lambda: _state(stack, a, stack.tenant.chatbot_id, "manual"), "the account to be manual")
    await services.chatbots.record_state(stack.tenant.chatbot_id, InfoState.LIVE, None)

    async def described(text: str) -> bool:
        hits = await search(stack, "招商银行", None)
        return bool(hits) and hits[0]["description"] == text
    await wait_for(lambda: described("信用卡与储蓄服务"), "the approved description in the public directory")
    await services.chatbots.update_profile(a, live.id, profile_model("招商银行", "未经审核的新简介"))
    await wait_for(lambda: _state(stack, a, stack.tenant.chatbot_id, "manual"), "the edit to await the console")
    assert await described("信用卡与储蓄服务")  # the public still sees the approved version
    own = await search(stack, "招商银行", stack.tenant.api_key)
    assert own[0]["description"] == "信用卡与储蓄服务"  # one directory entry: the published version
    await services.chatbots.record_state(stack.tenant.chatbot_id, InfoState.LIVE, None)
    await wait_for(lambda: described("未经审核的新简介"), "the approved edit in the public directory")
