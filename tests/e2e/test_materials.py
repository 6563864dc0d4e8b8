"""Materials end to end: uploaded through the API, checked, synced to every chatbot's carrier
simulator in that carrier's format, audited asynchronously, refreshed before their URLs expire,
synced to new chatbots, and used in messages under the URL of the carrier that sends them."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from msg5g.domain.messages import TrafficClass
from msg5g.services.access import BusinessAccess
from msg5g.services.grants import ResourceType
from tests.conftest import ServeFn, Stack
from tests.e2e.channels import (
    ChannelUnderTest,
    aggregator_channel,
    chatbot_json_channel,
    cucc_channel,
    smpp_channel,
)
from tests.e2e.library import (
    approved_template,
    card_template,
    channel_states,
    material,
    settled,
    settled_syncs,
    sim_media,
    upload,
    wait_for,
)
from tests.media_samples import jpeg, png

pytestmark = pytest.mark.asyncio

USER = "+8613900139111"


async def test_an_upload_reaches_every_chatbot_in_its_carriers_format(stack: Stack, serve: ServeFn) -> None:
    channels = {"ctcc": await chatbot_json_channel(stack, serve, "ctcc", "106598858810000006"),
                "cucc": await cucc_channel(stack, serve), "aggregator": await aggregator_channel(stack, serve),
                "smpp": await smpp_channel(stack, serve)}
    data = png(1024, 768)
    status, body = await upload(stack, data, "活动 banner.png", name="Spring banner")
    assert status == 201, body
    assert (body["kind"], body["content_type"], body["width"], body["height"]) == ("image", "image/png", 1024, 768)
    assert body["sha256"] == hashlib.sha256(data).hexdigest()
    assert body["has_thumbnail"] is True
    syncs = await settled_syncs(stack, body["id"], 5)
    assert syncs[stack.tenant.chatbot_id]["state"] == "approved"  # China Mobile
    for name in ("ctcc", "cucc", "aggregator"):
        sync = syncs[channels[name].chatbot_id]
        assert sync["state"] == "approved", (name, sync)
        assert sync["url"].startswith(channels[name].simulator_url), (name, sync)
        assert sync["thumbnail_url"], (name, sync)
        async with stack.http.get(sync["url"]) as r:  # the carrier really serves the file now
            assert r.status == 200
            assert hashlib.sha256(await r.read()).hexdigest() == body["sha256"]
    sms = syncs[channels["smpp"].chatbot_id]
    assert sms["state"] == "unsupported"
    assert "takes no image files" in sms["reason"]
    # Each carrier got it in its own format: CT/CU one `file` part per upload (the thumbnail is an
    # upload of its own, §3.3.4), the aggregator `chatbot` + `file` + `thumbnail` in one form.
    ctcc_uploads = await sim_media(stack.http, channels["ctcc"].simulator_url)
    assert sorted(u["parts"] for u in ctcc_uploads) == [["file"], ["file"]]
    assert {u["upload_mode"] for u in ctcc_uploads} == {"perm"}
    assert hashlib.sha256(data).hexdigest() in {u["sha256"] for u in ctcc_uploads}
    assert "activebanner.png" in {u["file_name"] for u in ctcc_uploads} or any(
        u["file_name"].endswith(".png") for u in ctcc_uploads)
    cmcc_upload, = await sim_media(stack.http, stack.simulator_url)  # China Mobile: File + Thumbnail, one tid
    assert sorted(cmcc_upload["parts"], key=str.lower) == ["File", "Thumbnail"]
    assert cmcc_upload["sha256"] == body["sha256"]
    aggregator_upload, = await sim_media(stack.http, channels["aggregator"].simulator_url)
    assert sorted(aggregator_upload["parts"]) == ["chatbot", "file", "thumbnail"]
    assert aggregator_upload["sha256"] == body["sha256"]


async def test_a_carrier_rejection_arrives_with_its_reason(stack: Stack, serve: ServeFn) -> None:
    ctcc = await chatbot_json_channel(stack, serve, "ctcc", "106598858810000006")
    async with stack.http.put(f"{ctcc.simulator_url}/_sim/audit",
                              json={"media": "reject", "reason": "图片含有违规内容"}) as r:
        assert r.status == 200, await r.text()
    status, body = await upload(stack, jpeg())
    assert status == 201, body
    syncs = await settled_syncs(stack, body["id"], 2)
    assert syncs[ctcc.chatbot_id]["state"] == "rejected"
    assert "图片含有违规内容" in syncs[ctcc.chatbot_id]["reason"]
    assert syncs[stack.tenant.chatbot_id]["state"] == "approved"


async def test_an_audit_held_by_the_carrier_waits_then_settles(stack: Stack, serve: ServeFn) -> None:
    aggregator = await aggregator_channel(stack, serve)
    async with stack.http.put(f"{aggregator.simulator_url}/_sim/audit", json={"media": "hold"}) as r:
        assert r.status == 200
    status, body = await upload(stack, png())
    assert status == 201, body

    async def pending() -> bool:
        syncs = {s["chatbot_id"]: s for s in (await material(stack, body["id"]))["syncs"]}
        return syncs[aggregator.chatbot_id]["state"] == "pending_audit"
    await wait_for(pending, "the aggregator copy to wait for its audit")
    held, = await sim_media(stack.http, aggregator.simulator_url)
    async with stack.http.post(f"{aggregator.simulator_url}/_sim/media/{held['id']}/audit",
                               json={"approved": True}) as r:
        assert r.status == 200, await r.text()
    syncs = await settled_syncs(stack, body["id"], 2)
    assert syncs[aggregator.chatbot_id]["state"] == "approved"
    assert syncs[aggregator.chatbot_id]["until"] is not None  # the Media event's `expired`


async def test_a_url_about_to_expire_is_uploaded_again(stack: Stack, serve: ServeFn) -> None:
    ctcc = await temp_ctcc(stack, serve, ttl_seconds=6)
    status, body = await upload(stack, png())
    assert status == 201, body
    first = (await settled_syncs(stack, body["id"], 2))[ctcc.chatbot_id]
    assert first["state"] == "approved"
    assert first["until"] is not None

    async def refreshed() -> dict[str, Any] | None:
        sync = {s["chatbot_id"]: s for s in (await material(stack, body["id"]))["syncs"]}[ctcc.chatbot_id]
        return sync if sync["url"] != first["url"] and sync["state"] == "approved" else None
    second = await wait_for(refreshed, "a refreshed URL", timeout=20)
    assert second["until"] > first["until"]
    uploads = await sim_media(stack.http, ctcc.simulator_url)
    assert len([u for u in uploads if u["sha256"] == body["sha256"]]) == 2  # uploaded twice


async def test_a_url_that_expires_before_a_refresh_is_approved_is_marked_expired(stack: Stack,
                                                                                serve: ServeFn) -> None:
    ctcc = await temp_ctcc(stack, serve, ttl_seconds=4)
    status, body = await upload(stack, png())
    assert status == 201, body
    await settled_syncs(stack, body["id"], 2)
    async with stack.http.put(f"{ctcc.simulator_url}/_sim/audit", json={"media": "hold"}) as r:
        assert r.status == 200  # the refresh's audit never comes back

    async def expired() -> dict[str, Any] | None:
        sync = {s["chatbot_id"]: s for s in (await material(stack, body["id"]))["syncs"]}[ctcc.chatbot_id]
        return sync if sync["state"] == "expired" else None
    gone = await wait_for(expired, "the copy to expire", timeout=20)
    assert "expired" in gone["reason"]
    # A message with that material no longer goes through the expired copy.
    status, answer = await stack.send({"chatbot_id": ctcc.chatbot_id, "recipients": [USER], "content": {
        "kind": "file", "file": {"material_id": body["id"]}}})
    assert status == 422, answer
    assert answer["error"]["code"] == "material_not_approved"


async def temp_ctcc(stack: Stack, serve: ServeFn, *, ttl_seconds: float) -> ChannelUnderTest:
    ctcc = await chatbot_json_channel(stack, serve, "ctcc", "106598858810000006")
    services = stack.platform.services
    channel = (await services.directory.chatbot(stack.tenant.tenant_id, ctcc.chatbot_id)).endpoint.channel_id
    await services.channel_admin.update(channel, settings={"media_upload_mode": "temp"})
    services.directory.forget()
    async with stack.http.put(f"{ctcc.simulator_url}/_sim/audit", json={"ttl_seconds": ttl_seconds}) as r:
        assert r.status == 200, await r.text()
    return ctcc


async def test_a_new_chatbot_gets_every_existing_material(stack: Stack, serve: ServeFn) -> None:
    ids = []
    for color in ((255, 0, 0), (0, 255, 0), (0, 0, 255)):
        status, body = await upload(stack, png(color=color))
        assert status == 201, body
        ids.append(body["id"])
    for material_id in ids:
        await settled_syncs(stack, material_id, 1)
    template = await approved_template(stack, card_template(ids[0]))
    await channel_states(stack, template["id"], 1, settled)
    cucc = await cucc_channel(stack, serve)  # added afterwards

    async def synced() -> dict[str, Any] | None:
        async with stack.http.get(f"{stack.base_url}/v1/chatbots/{cucc.chatbot_id}/sync",
                                  headers=stack.auth()) as r:
            progress = await r.json()
        done = progress["materials"].get("approved") == 3 and progress["templates"].get("approved") == 1
        return progress if done else None
    progress = await wait_for(synced, "the new chatbot's materials and template")
    assert progress["materials_total"] == progress["materials_settled"] == 3
    states = await channel_states(stack, template["id"], 1, settled)
    assert states[cucc.chatbot_id]["state"] == "approved"
    assert len(await sim_media(stack.http, cucc.simulator_url)) == 6  # three files and their thumbnails


async def test_a_message_uses_the_url_of_the_carrier_that_sends_it(stack: Stack, serve: ServeFn) -> None:
    cucc = await cucc_channel(stack, serve)
    status, body = await upload(stack, jpeg(800, 600), "poster.jpg")
    assert status == 201, body
    syncs = await settled_syncs(stack, body["id"], 2)
    status, answer = await stack.send({"chatbot_id": cucc.chatbot_id, "recipients": [USER], "content": {
        "kind": "rich_card", "card": {"title": "新品", "media": {"file": {"material_id": body["id"]}}}}})
    assert status == 202, answer
    await stack.wait_status(answer["messages"][0]["id"], "displayed")
    async with stack.http.get(f"{cucc.simulator_url}/_sim/handsets/{USER}/inbox") as r:
        inbox = await r.json()
    card = inbox[-1]["card"]
    text = str(card)
    assert syncs[cucc.chatbot_id]["url"] in text
    assert syncs[cucc.chatbot_id]["thumbnail_url"] in text
    assert syncs[stack.tenant.chatbot_id]["url"] not in text


async def test_routing_passes_over_a_chatbot_where_the_material_is_not_approved(stack: Stack,
                                                                               serve: ServeFn) -> None:
    ctcc = await chatbot_json_channel(stack, serve, "ctcc", "106598858810000006")
    aggregator = await aggregator_channel(stack, serve)
    async with stack.http.put(f"{ctcc.simulator_url}/_sim/audit", json={"media": "reject"}) as r:
        assert r.status == 200
    async with stack.http.put(f"{stack.base_url}/v1/chatbots/{ctcc.chatbot_id}/routes", headers=stack.auth(), json={
            "routes": [{"carrier": "*", "via_chatbot_id": ctcc.chatbot_id, "priority": 0},
                       {"carrier": "*", "via_chatbot_id": aggregator.chatbot_id, "priority": 1}]}) as r:
        assert r.status == 200, await r.text()
    status, body = await upload(stack, png())
    assert status == 201, body
    syncs = await settled_syncs(stack, body["id"], 3)
    assert syncs[ctcc.chatbot_id]["state"] == "rejected"
    status, answer = await stack.send({"chatbot_id": ctcc.chatbot_id, "recipients": ["+8618900001111"],
                                       "content": {"kind": "file", "file": {"material_id": body["id"]}}})
    assert status == 202, answer
    view = await stack.wait_status(answer["messages"][0]["id"], "displayed")
    assert {a["chatbot_id"] for a in view["attempts"]} == {aggregator.chatbot_id}, view


async def test_bad_uploads_are_refused_and_leave_nothing_behind(stack: Stack, tmp_path: Path) -> None:
    cases = [(b"%PDF-1.7 a document, not media" * 20, "photo.png", 415, "unsupported_media_type"),
             (jpeg()[:300], "cut.jpg", 422, "corrupt_file"),
             (b"", "empty.png", 422, "corrupt_file")]
    for data, name, http_status, code in cases:
        status, body = await upload(stack, data, name)
        assert (status, body["error"]["code"]) == (http_status, code), body
    stack.platform.settings.material_max_bytes = 50_000
    status, body = await upload(stack, png(2000, 2000, (1, 2, 3)) + b"\0" * 60_000)
    assert (status, body["error"]["code"]) == (413, "file_too_large"), body
    folder = tmp_path / "materials"
    assert not folder.exists() or [p for p in folder.rglob("*") if p.is_file()] == []
    async with stack.http.get(f"{stack.base_url}/v1/materials", headers=stack.auth()) as r:
        assert await r.json() == []


async def test_another_business_cannot_see_or_use_a_material(stack: Stack) -> None:
    status, body = await upload(stack, png())
    assert status == 201, body
    services = stack.platform.services
    other_business, _ = await services.provisioning.create_business(stack.tenant.tenant_id, "Other",
                                                                    TrafficClass.MARKETING)
    _, other_key = await services.api_keys.create(stack.tenant.tenant_id, other_business, "other")
    headers = {"Authorization": f"Bearer {other_key}"}
    # Mapped to the chatbot, so that what refuses the send below is the material, not the chatbot.
    grant = await services.grants.apply(BusinessAccess(stack.tenant.tenant_id, other_business, "other"),
                                        ResourceType.CHATBOT, stack.tenant.chatbot_id, None, requested_by="other")
    await services.grants.decide(stack.tenant.tenant_id, grant.id, approve=True, by="admin:checker")
    async with stack.http.get(f"{stack.base_url}/v1/materials/{body['id']}", headers=headers) as r:
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "material_not_found"
    async with stack.http.post(f"{stack.base_url}/v1/messages", headers=headers, json={
            "chatbot_id": stack.tenant.chatbot_id, "recipients": [USER],
            "content": {"kind": "file", "file": {"material_id": body["id"]}}}) as r:
        assert r.status == 404
        assert (await r.json())["error"]["code"] == "material_not_found"
