"""Channel management at runtime through /v1/platform: types, create, edit, enable and disable,
secrets sealed and never returned, every bad input refused with the field named."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from msg5g.storage.tables import Channel, Chatbot
from tests.conftest import CARRIER_PASSWORD, Stack

pytestmark = pytest.mark.asyncio


async def _operator(stack: Stack) -> dict[str, str]:
    _, key = await stack.platform.services.operator_keys.create("tests")
    return {"Authorization": f"Bearer {key}"}


async def _call(stack: Stack, method: str, path: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    async with stack.http.request(method, f"{stack.base_url}/v1/platform{path}", json=body, headers=headers) as r:
        return r.status, await r.json()


async def test_without_an_operator_key_nothing_is_shown(stack: Stack) -> None:
    for headers, code in (({}, "missing_operator_key"), ({"Authorization": "Bearer m5gop_nope_nope"},
                                                         "invalid_operator_key")):
        status, body = await _call(stack, "GET", "/channels", headers)
        assert status == 401, body
        assert body["error"]["code"] == code


async def test_channel_types_describe_their_forms(stack: Stack) -> None:
    status, types = await _call(stack, "GET", "/channel-types", await _operator(stack))
    assert status == 200, types
    by_type = {t["type"]: t for t in types}
    assert set(by_type) >= {"cmcc", "ctcc", "cucc", "aggregator", "smpp"}
    smpp = {f["name"]: f for f in by_type["smpp"]["settings_fields"]}
    assert smpp["password"]["secret"] is True
    assert smpp["password"]["max_length"] == 8
    assert smpp["system_id"]["secret"] is False
    assert smpp["system_id"]["required"] is True
    assert by_type["smpp"]["url_schemes"] == ["smpp"]
    ctcc = {f["name"]: f for f in by_type["ctcc"]["credentials_fields"]}
    assert ctcc["app_key"]["secret"] is True
    assert ctcc["notify_token"]["max_length"] == 16
    assert by_type["smpp"]["capabilities"]["rich_cards"] is False


async def test_secrets_are_sealed_and_never_returned(stack: Stack) -> None:
    operator = await _operator(stack)
    status, created = await _call(stack, "POST", "/channels", operator, {
        "type": "smpp", "name": "SMSC line 1", "base_url": "smpp://127.0.0.1:2775",
        "settings": {"system_id": "esme1", "password": "s3cr3t!"}, "enabled": False})
    assert status == 201, created
    assert created["settings"] == {"system_id": "esme1", "system_type": ""}
    assert created["secrets_set"] == ["password"]
    assert "s3cr3t!" not in str(created)
    status, listed = await _call(stack, "GET", "/channels", operator)
    assert status == 200
    assert "s3cr3t!" not in str(listed)
    async with stack.platform.services.ctx.db.reader() as session:
        row = await session.get(Channel, created["id"])
        chatbot = (await session.scalars(select(Chatbot))).first()
    assert row is not None
    assert row.secrets_sealed is not None
    assert "s3cr3t!" not in row.secrets_sealed
    assert "s3cr3t!" not in str(row.settings)
    assert chatbot is not None
    assert CARRIER_PASSWORD not in chatbot.credentials_sealed  # chatbot credentials are sealed as well


async def test_an_edit_that_leaves_out_a_secret_keeps_it(stack: Stack) -> None:
    operator = await _operator(stack)
    status, created = await _call(stack, "POST", "/channels", operator, {
        "type": "smpp", "name": "SMSC", "base_url": "smpp://127.0.0.1:2775",
        "settings": {"system_id": "esme1", "password": "pw1"}, "enabled": False})
    assert status == 201, created
    status, edited = await _call(stack, "PATCH", f"/channels/{created['id']}", operator,
                                 {"name": "SMSC renamed", "settings": {"system_id": "esme2"}})
    assert status == 200, edited
    assert edited["name"] == "SMSC renamed"
    assert edited["settings"]["system_id"] == "esme2"
    assert edited["secrets_set"] == ["password"]
    endpoint = stack.platform.services.directory.endpoint(
        await _channel_row(stack, created["id"]))
    assert endpoint.settings["password"] == "pw1"


async def _channel_row(stack: Stack, channel_id: str) -> Channel:
    async with stack.platform.services.ctx.db.reader() as session:
        row = await session.get(Channel, channel_id)
    assert row is not None
    return row


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"type": "telegraph", "name": "x", "base_url": "https://x.example"}, "type", "unknown_channel_type"),
    ({"type": "cmcc", "name": "x", "base_url": "ftp://x.example"}, "base_url", "invalid_channel_config"),
    ({"type": "smpp", "name": "x", "base_url": "https://x.example",
      "settings": {"system_id": "a", "password": "b"}}, "base_url", "invalid_channel_config"),
    ({"type": "smpp", "name": "x", "base_url": "smpp://h:1", "settings": {"password": "b"}},
     "settings.system_id", "invalid_channel_config"),
    ({"type": "smpp", "name": "x", "base_url": "smpp://h:1", "settings": {"system_id": "a", "password": "123456789"}},
     "settings.password", "invalid_channel_config"),
    ({"type": "cmcc", "name": "x", "base_url": "https://x.example", "settings": {"surprise": 1}},
     "settings.surprise", "invalid_channel_config"),
    ({"type": "cmcc", "name": "", "base_url": "https://x.example"}, "name", "invalid_request"),
    ({"type": "cmcc", "name": "x", "base_url": "https://x.example", "colour": "red"}, "colour",
     "invalid_request"),
], ids=["unknown-type", "bad-scheme", "http-for-smpp", "missing-setting", "password-too-long", "unknown-setting",
        "empty-name", "unknown-field"])
async def test_bad_channel_input_is_refused_with_the_field(stack: Stack, body: dict[str, Any], field: str,
                                                           code: str) -> None:
    operator = await _operator(stack)
    status, before = await _call(stack, "GET", "/channels", operator)
    assert status == 200
    status, answer = await _call(stack, "POST", "/channels", operator, body)
    assert status == 422, answer
    assert answer["error"]["code"] == code
    assert answer["error"]["field"] == field
    status, after = await _call(stack, "GET", "/channels", operator)
    assert len(after) == len(before)


async def test_editing_an_unknown_channel_is_not_found(stack: Stack) -> None:
    status, answer = await _call(stack, "PATCH", "/channels/nope", await _operator(stack), {"enabled": False})
    assert status == 404, answer
    assert answer["error"]["code"] == "channel_not_found"


async def test_a_channel_disabled_at_runtime_refuses_sends_until_enabled(stack: Stack) -> None:
    operator = await _operator(stack)
    status, body = await _call(stack, "PATCH", f"/channels/{stack.channel_id}", operator, {"enabled": False})
    assert status == 200, body
    assert body["enabled"] is False
    status, refused = await stack.text(["+8613800138123"], "通道已停用")
    assert status == 409, refused
    assert refused["error"]["code"] == "channel_disabled"
    status, body = await _call(stack, "PATCH", f"/channels/{stack.channel_id}", operator, {"enabled": True})
    assert status == 200, body
    status, accepted = await stack.text(["+8613800138123"], "通道已恢复")
    assert status == 202, accepted
    await stack.wait_status(accepted["messages"][0]["id"], "displayed")
