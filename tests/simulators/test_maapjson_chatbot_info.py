"""Raw-HTTP tests of the CT/CU simulator's chatbot information and menu (protocols.md §2.5, §2.6,
§3.3.5, §3.3.6; choices "Chatbot information and menus").

Updates of the optionals and the menu, their audit `check`, find/chatBotInfo, the carrier-side
offline/online notice, the directory and a menu tap. Bodies, headers and the notification signature
are built and checked by hand (maapjson_wire.py); the simulator runs on real uvicorn over loopback.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import uvicorn
from aiohttp import web

from msg5g.simulators.maapjson import ChatbotAccount, Faults, SimulatorSettings, create_app

from .maapjson_wire import (
    APP_ID,
    APP_KEY,
    BOT_ID,
    DOMAINS,
    NOTIFY_TOKEN,
    OTHER_APP_ID,
    OTHER_APP_KEY,
    OTHER_BOT_ID,
    OTHER_TOKEN,
    SUGGESTION_RESPONSE,
    TOKENS,
    USER,
    Carrier,
    CspReceiver,
    FilePart,
    PromptServer,
    Received,
    bound_socket,
    dial_action,
    form_data,
    media_headers,
    menu_body,
    png_bytes,
    reply,
    sub_menu,
)

CarrierFactory = Callable[..., Awaitable[Carrier]]
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
CREDENTIALS = {BOT_ID: (APP_ID, APP_KEY), OTHER_BOT_ID: (OTHER_APP_ID, OTHER_APP_KEY)}
# A logo on someone else's file server: not issued by the simulator, so taken as it is (choices).
FOREIGN_ICON = "https://maaptest.189.cn/maap_message/bot/chanageUrl/head/20210129/3,41565fa3f6fc.png"
OPTIONALS = "update/chatBotInfo/optionals"
MENU = "update/chatBotInfo/menu"
FIND = "find/chatBotInfo"


def code(dialect: str, value: int) -> int | str:
    """choices "errorCode type": CTCC strings, CUCC integers."""
    return str(value) if dialect == "ctcc" else value


def success(dialect: str) -> dict[str, Any]:
    """§2.5 (TestBjdx `chatbotMenu`): the answer to an accepted update."""
    return {"errorCode": code(dialect, 0), "errorMessage": "success"}


async def settle(seconds: float = 0.2) -> None:
    """Give the simulator time to send anything it (wrongly) still owes."""
    await asyncio.sleep(seconds)


# ---------------------------------------------------------------- fixtures


@pytest_asyncio.fixture
async def csp() -> AsyncIterator[CspReceiver]:
    receiver = CspReceiver()
    app = web.Application()
    app.router.add_route("*", "/csp/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = bound_socket()
    await web.SockSite(runner, sock).start()
    receiver.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def make_carrier(csp: CspReceiver) -> AsyncIterator[CarrierFactory]:
    """Start simulators on loopback; keyword arguments override SimulatorSettings."""
    started: list[tuple[PromptServer, asyncio.Task[None], aiohttp.ClientSession]] = []

    async def start(dialect: str = "ctcc", **overrides: Any) -> Carrier:
        overrides.setdefault("audit_delay_seconds", 0.02)
        settings = SimulatorSettings(
            dialect=dialect,  # type: ignore[arg-type]
            chatbots=[
                ChatbotAccount(BOT_ID, APP_ID, APP_KEY, NOTIFY_TOKEN, csp.root),
                ChatbotAccount(OTHER_BOT_ID, OTHER_APP_ID, OTHER_APP_KEY, OTHER_TOKEN, csp.root),
            ],
            faults=Faults(delivered_delay_ms=5, displayed_delay_ms=5),
            notify_backoff_ms=5,
            notify_workers=4,
            **overrides,
        )
        config = uvicorn.Config(
            create_app(settings),
            log_level="warning",
            access_log=False,
            ws="none",
            lifespan="on",
            timeout_graceful_shutdown=1,
        )
        server = PromptServer(config)
        sock = bound_socket()
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("simulator did not start")
            await asyncio.sleep(0.005)
        session = aiohttp.ClientSession()
        started.append((server, task, session))
        return Carrier(dialect, f"http://127.0.0.1:{sock.getsockname()[1]}", session, config.app)

    try:
        yield start
    finally:
        for server, task, session in started:
            await session.close()
            server.should_exit = True
            server.stop_event.set()
            await task


@pytest.fixture(params=["ctcc", "cucc"])
def dialect(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest_asyncio.fixture
async def carrier(make_carrier: CarrierFactory, dialect: str) -> Carrier:
    return await make_carrier(dialect)


# ---------------------------------------------------------------- hand-rolled client


async def token_for(carrier: Carrier, chatbot_id: str = BOT_ID) -> str:
    app_id, app_key = CREDENTIALS[chatbot_id]
    return await carrier.authorization(chatbot_id, app_id, app_key)


async def update(
    carrier: Carrier,
    action: str,
    body: dict[str, Any] | bytes,
    *,
    chatbot_id: str = BOT_ID,
    auth: str | None = "",
    headers: dict[str, str | None] | None = None,
) -> tuple[int, Any]:
    """POST update/chatBotInfo/{optionals|menu} with the send path's headers (§3.3.5); auth ""
    fetches a fresh token."""
    if auth == "":
        auth = await token_for(carrier, chatbot_id)
    status, answer, _ = await carrier.call(action, body, authorization=auth, chatbot_id=chatbot_id, headers=headers)
    return status, answer


async def update_ok(carrier: Carrier, action: str, body: dict[str, Any], chatbot_id: str = BOT_ID) -> None:
    assert await update(carrier, action, body, chatbot_id=chatbot_id) == (200, success(carrier.dialect))


async def find(carrier: Carrier, chatbot_id: str = BOT_ID) -> dict[str, Any]:
    auth = await token_for(carrier, chatbot_id)
    status, document, headers = await carrier.get(FIND, authorization=auth, chatbot_id=chatbot_id)
    assert status == 200, document
    assert headers["Content-Type"].startswith("application/json")
    return dict(document)


async def sim_info(carrier: Carrier, chatbot_id: str = BOT_ID) -> dict[str, Any]:
    status, body = await carrier.control("GET", f"/_sim/chatbots/{chatbot_id}/info")
    assert status == 200, body
    return dict(body)


async def set_audit(carrier: Carrier, **policy: Any) -> dict[str, Any]:
    status, body = await carrier.control("PUT", "/_sim/audit", policy)
    assert status == 200, body
    return dict(body)


async def directory(carrier: Carrier, keyword: str) -> list[dict[str, Any]]:
    async with carrier.session.get(carrier.base_url + "/_sim/directory", params={"q": keyword}) as response:
        assert response.status == 200
        return list(await response.json())


async def upload_icon(carrier: Carrier, chatbot_id: str = BOT_ID) -> str:
    """A logo uploaded for the chatbot (§3.3.4 medias/upload, multipart part `file`); its url."""
    body, form_type = form_data([FilePart("file", png_bytes(), "logo.png", "image/png")])
    headers = media_headers(await token_for(carrier, chatbot_id), **{"Content-Type": form_type, "uploadMode": "perm"})
    async with carrier.session.post(
        carrier.url("medias/upload", chatbot_id), data=body, headers=headers, skip_auto_headers=["Content-Type"]
    ) as response:
        answer = json.loads(await response.read())
    assert answer["errorCode"] == code(carrier.dialect, 0), answer
    return str(answer["fileInfo"][0]["url"])


def signed_json(received: Received, chatbot_id: str = BOT_ID) -> dict[str, Any]:
    """A notification's body, its signature recomputed by hand (choices "Notification signature")."""
    headers = {k.lower(): v for k, v in received.headers.items()}
    assert received.method == "POST"
    assert headers["content-type"].startswith("application/json")
    joined = "".join(sorted([TOKENS[chatbot_id], headers["timestamp"], headers["nonce"]]))
    assert headers["signature"] == hashlib.sha256(joined.encode("utf-8")).hexdigest()
    assert abs(int(headers["timestamp"]) - time.time() * 1000) < 300_000
    assert received.signature_ok
    return dict(received.json())


def info_checks(csp: CspReceiver, chatbot_id: str = BOT_ID) -> list[dict[str, Any]]:
    """The `check`s of type chatbotInformation (media checks share the path), oldest first."""
    path = f"/notifyInfoNotification/{chatbot_id}/check"
    bodies = [signed_json(r, chatbot_id) for r in csp.received if r.path == path]
    return [b for b in bodies if b.get("type") == "chatbotInformation"]


async def wait_info_checks(
    csp: CspReceiver, count: int, chatbot_id: str = BOT_ID, timeout: float = 5.0
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while len(checks := info_checks(csp, chatbot_id)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} chatbotInformation checks, got {checks}")
        await asyncio.sleep(0.01)
    return checks


async def wait_notices(csp: CspReceiver, count: int, chatbot_id: str = BOT_ID) -> list[dict[str, Any]]:
    path = f"/notifyInfoNotification/{chatbot_id}/notice/informationChange"
    await csp.wait_for(path, count, timeout=5.0)
    return [signed_json(r, chatbot_id) for r in csp.received if r.path == path]


def assert_check(dialect: str, check: dict[str, Any], *, approved: bool) -> None:
    """choices "Their audit": the five keys, result typed per dialect (0 approved, 1 rejected)."""
    assert set(check) == {"type", "result", "description", "time", "remark"}
    assert (check["type"], check["remark"]) == ("chatbotInformation", "chatbotInformation")
    assert check["result"] == code(dialect, 0 if approved else 1)
    assert isinstance(check["description"], str)
    assert check["description"]
    assert ISO_Z.match(check["time"])


def bank_optionals(icon: str = FOREIGN_ICON, **changes: Any) -> dict[str, Any]:
    """§2.6's updatable fields plus the [I] name, logo, tcPage and smsNumber of choices."""
    body: dict[str, Any] = {
        "serviceName": "招商银行信用卡",
        "serviceIcon": icon,
        "serviceDescription": "信用卡账单、积分和 Credit Card 服务",
        "category": ["金融"],
        "callBackNumber": "95555",
        "provider": "招商银行",
        "longitude": 114.057,
        "latitude": 22.543,
        "themeColour": "#BBFFFF",
        "serviceWebsite": "https://cc.example.cn",
        "emailAddress": "cc@example.cn",
        "backgroundImage": "",
        "address": "广东省深圳市福田区",
        "cssStyle": "",
        "tcPage": "https://cc.example.cn/terms",
        "smsNumber": "1065988588",
    }
    body.update(changes)
    return body


def bank_menu() -> dict[str, Any]:
    """§2.5's TestBjdx menu, one level of sub-menu deep."""
    return menu_body(
        reply("简介", "set_by_chatbot_reply1"),
        sub_menu(
            "建议操作",
            reply("建议回复", "set_by_chatbot_reply2"),
            dial_action("拨打电话", "+8615300000000", "set_by_chatbot_dial_menu_phone_number"),
        ),
    )


# ---------------------------------------------------------------- update, audit, find


@pytest.mark.asyncio
async def test_optionals_and_menu_are_audited_then_found(carrier: Carrier, csp: CspReceiver) -> None:
    dialect = carrier.dialect
    icon = await upload_icon(carrier)
    await csp.wait_for("/check", 1)  # the logo's own media audit
    optionals = bank_optionals(icon)
    await update_ok(carrier, OPTIONALS, optionals)
    (check,) = await wait_info_checks(csp, 1)
    assert_check(dialect, check, approved=True)

    menu = bank_menu()
    await update_ok(carrier, MENU, menu)
    checks = await wait_info_checks(csp, 2)
    assert_check(dialect, checks[1], approved=True)

    document = await find(carrier)
    assert document["accessNo"] == BOT_ID
    assert document["domain"] == DOMAINS[dialect]
    for key in ("serviceName", "serviceIcon", "serviceDescription", "callBackNumber", "provider", "themeColour",
                "serviceWebsite", "emailAddress", "backgroundImage", "address", "cssStyle", "longitude", "latitude"):
        assert document[key] == optionals[key], key
    assert document["category"] == ["金融"]
    # §2.6 capture: the CSP-facing document spells these two in lower case.
    assert (document["tcpage"], document["smsnumber"]) == (optionals["tcPage"], optionals["smsNumber"])
    assert document["status"] == 1
    assert document["verified"] is True
    # [I] the GSMA menu document as the update carried it.
    assert document["menu"] == menu
    assert document["url"] == csp.root
    assert document["version"] == 2
    assert document["authName"] == optionals["serviceName"]

    info = await sim_info(carrier)
    assert ISO_Z.match(info["approved_at"])
    assert (info["status"], info["status_code"]) == ("online", 1)
    assert info["pending_update"] is None
    assert info["approved"] == optionals
    assert info["menu"] == menu
    assert [(a["kind"], a["result"], a["ok"]) for a in info["audits"]] == [
        ("optionals", "approved", True),
        ("menu", "approved", True),
    ]


@pytest.mark.asyncio
async def test_a_later_update_changes_only_the_fields_it_names(carrier: Carrier, csp: CspReceiver) -> None:
    await update_ok(carrier, OPTIONALS, bank_optionals())
    await wait_info_checks(csp, 1)
    await update_ok(carrier, OPTIONALS, {"serviceDescription": "新的服务描述", "category": ["生活服务"]})
    (_, second) = await wait_info_checks(csp, 2)
    assert_check(carrier.dialect, second, approved=True)
    document = await find(carrier)
    assert (document["serviceDescription"], document["category"]) == ("新的服务描述", ["生活服务"])
    assert (document["serviceName"], document["serviceIcon"]) == ("招商银行信用卡", FOREIGN_ICON)


@pytest.mark.asyncio
async def test_before_any_approval_the_document_holds_the_carriers_defaults(carrier: Carrier) -> None:
    document = await find(carrier, OTHER_BOT_ID)
    assert (document["accessNo"], document["smsnumber"]) == (OTHER_BOT_ID, OTHER_BOT_ID)
    assert (document["serviceName"], document["serviceIcon"], document["category"]) == ("", "", [])
    assert (document["status"], document["version"], document["menu"]) == (1, 0, None)


# ---------------------------------------------------------------- hold and settle by hand


@pytest.mark.asyncio
async def test_a_held_update_waits_for_a_settlement_by_hand(carrier: Carrier, csp: CspReceiver) -> None:
    dialect = carrier.dialect
    policy = await set_audit(carrier, chatbot_info="hold")
    assert (policy["chatbot_info"], policy["media"]) == ("hold", "approve")
    optionals = bank_optionals()
    await update_ok(carrier, OPTIONALS, optionals)
    await settle()
    assert info_checks(csp) == []
    info = await sim_info(carrier)
    assert info["pending_update"]["kind"] == "optionals"
    assert info["pending_update"]["changes"] == optionals
    assert (info["approved_at"], info["approved"]) == (None, {})
    assert (await find(carrier))["serviceName"] == ""

    path = f"/_sim/chatbots/{BOT_ID}/info/audit"
    status, info = await carrier.control("POST", path, {"approved": True})
    assert (status, info["pending_update"], info["approved"]) == (200, None, optionals)
    (check,) = await wait_info_checks(csp, 1)
    assert_check(dialect, check, approved=True)
    assert (await find(carrier))["serviceName"] == optionals["serviceName"]

    await update_ok(carrier, MENU, bank_menu())
    reason = "菜单名称与服务不符"
    status, info = await carrier.control("POST", path, {"approved": False, "reason": reason})
    assert status == 200
    (_, rejected) = await wait_info_checks(csp, 2)
    assert_check(dialect, rejected, approved=False)
    assert rejected["description"] == reason
    assert (await find(carrier))["menu"] is None
    assert info["audits"][-1]["description"] == reason

    assert (await carrier.control("POST", path, {"approved": True}))[0] == 409
    assert (await carrier.control("POST", path, {"approved": "yes"}))[0] == 400
    assert (await carrier.control("POST", "/_sim/chatbots/999/info/audit", {"approved": True}))[0] == 404


@pytest.mark.asyncio
async def test_reject_policy_sends_its_reason_and_keeps_the_old_information(carrier: Carrier, csp: CspReceiver) -> None:
    await update_ok(carrier, OPTIONALS, bank_optionals())
    await wait_info_checks(csp, 1)
    await set_audit(carrier, chatbot_info="reject", reason="资质材料不全")
    await update_ok(carrier, OPTIONALS, {"serviceName": "另一个名字"})
    (_, check) = await wait_info_checks(csp, 2)
    assert_check(carrier.dialect, check, approved=False)
    assert check["description"] == "资质材料不全"
    assert (await find(carrier))["serviceName"] == "招商银行信用卡"


@pytest.mark.asyncio
async def test_audit_policy_and_reset_cover_chatbot_information(carrier: Carrier, csp: CspReceiver) -> None:
    assert (await carrier.control("GET", "/_sim/audit"))[1]["chatbot_info"] == "approve"
    assert (await carrier.control("PUT", "/_sim/audit", {"chatbot_info": "maybe"}))[0] == 400
    await update_ok(carrier, OPTIONALS, bank_optionals())
    await wait_info_checks(csp, 1)
    assert await carrier.control("POST", "/_sim/reset", {}) == (200, {"status": "reset"})
    assert (await find(carrier))["serviceName"] == "招商银行信用卡"
    await carrier.control("POST", "/_sim/reset", {"chatbot_info": True})
    assert (await find(carrier))["serviceName"] == ""
    assert (await sim_info(carrier))["audits"] == []


# ---------------------------------------------------------------- automatic rejections


REJECTIONS: list[tuple[str, dict[str, Any], str]] = [
    ("no icon", {k: v for k, v in bank_optionals().items() if k != "serviceIcon"}, "serviceIcon"),
    ("empty icon", bank_optionals(icon=""), "serviceIcon"),
    ("151 characters", bank_optionals(serviceDescription="银" * 151), "150"),
    ("forbidden word", bank_optionals(address="广东省深圳市违禁路1号"), "违禁"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("changes", "named"), [c[1:] for c in REJECTIONS], ids=[c[0] for c in REJECTIONS])
async def test_the_auditors_reject_on_their_own_even_under_approve(
    carrier: Carrier, csp: CspReceiver, changes: dict[str, Any], named: str
) -> None:
    await update_ok(carrier, OPTIONALS, changes)
    (check,) = await wait_info_checks(csp, 1)
    assert_check(carrier.dialect, check, approved=False)
    assert named in check["description"]
    document = await find(carrier)
    assert (document["serviceName"], document["serviceDescription"]) == ("", "")
    info = await sim_info(carrier)
    assert (info["approved"], info["audits"][0]["description"]) == ({}, check["description"])


@pytest.mark.asyncio
async def test_exactly_150_characters_pass(carrier: Carrier, csp: CspReceiver) -> None:
    await update_ok(carrier, OPTIONALS, bank_optionals(serviceDescription="银" * 150))
    (check,) = await wait_info_checks(csp, 1)
    assert_check(carrier.dialect, check, approved=True)
    assert (await find(carrier))["serviceDescription"] == "银" * 150


@pytest.mark.asyncio
async def test_a_menu_is_judged_with_the_chatbots_information(carrier: Carrier, csp: CspReceiver) -> None:
    # No logo yet: even a clean menu cannot pass.
    await update_ok(carrier, MENU, bank_menu())
    (first,) = await wait_info_checks(csp, 1)
    assert_check(carrier.dialect, first, approved=False)
    assert "serviceIcon" in first["description"]
    await update_ok(carrier, OPTIONALS, bank_optionals())
    # Queued right behind the logo: judged once the logo is in, so it passes.
    await update_ok(carrier, MENU, bank_menu())
    (_, second, third) = await wait_info_checks(csp, 3)
    assert_check(carrier.dialect, second, approved=True)
    assert_check(carrier.dialect, third, approved=True)
    await update_ok(carrier, MENU, menu_body(reply("违禁品", "x")))
    (*_, fourth) = await wait_info_checks(csp, 4)
    assert_check(carrier.dialect, fourth, approved=False)
    assert "违禁" in fourth["description"]
    assert (await find(carrier))["menu"] == bank_menu()


@pytest.mark.asyncio
async def test_an_issued_logo_must_be_an_approved_material_of_the_chatbot(carrier: Carrier, csp: CspReceiver) -> None:
    await set_audit(carrier, media="hold")
    icon = await upload_icon(carrier)
    await update_ok(carrier, OPTIONALS, bank_optionals(icon))
    (check,) = await wait_info_checks(csp, 1)
    assert_check(carrier.dialect, check, approved=False)
    assert check["description"] == "头像素材未审核"

    _, media = await carrier.control("GET", "/_sim/media")
    (record,) = media["media"]
    assert (await carrier.control("POST", f"/_sim/media/{record['id']}/audit", {"approved": True}))[0] == 200
    # Another chatbot's approved material is not this chatbot's logo.
    await update_ok(carrier, OPTIONALS, bank_optionals(icon), chatbot_id=OTHER_BOT_ID)
    (other,) = await wait_info_checks(csp, 1, OTHER_BOT_ID)
    assert_check(carrier.dialect, other, approved=False)
    assert other["description"] == "头像素材未审核"

    await update_ok(carrier, OPTIONALS, bank_optionals(icon))
    (_, approved) = await wait_info_checks(csp, 2)
    assert_check(carrier.dialect, approved, approved=True)
    assert (await find(carrier))["serviceIcon"] == icon


# ---------------------------------------------------------------- synchronous refusals (20002)


def _menu_of_depth(levels: int) -> dict[str, Any]:
    """A menu with `levels` nested sub-menus under its first entry."""
    entry: dict[str, Any] = reply("最里层", "deep")
    for level in range(levels):
        entry = sub_menu(f"第{level}层", entry)
    return menu_body(entry)


MALFORMED: list[tuple[str, str, Any, str]] = [
    ("unknown field", OPTIONALS, {"serviceName": "a", "nickname": "b"}, "nickname"),
    ("empty body", OPTIONALS, {}, ""),
    ("category not a list", OPTIONALS, {"category": "金融"}, "category"),
    ("two categories", OPTIONALS, {"category": ["金融", "银行"]}, "category"),
    ("longitude as text", OPTIONALS, {"longitude": "114.057"}, "longitude"),
    ("latitude out of range", OPTIONALS, {"latitude": 91}, "latitude"),
    ("name not a string", OPTIONALS, {"serviceName": 5}, "serviceName"),
    ("empty name", OPTIONALS, {"serviceName": " "}, "serviceName"),
    ("address null", OPTIONALS, {"address": None}, "address"),
    ("body not an object", OPTIONALS, [1, 2], ""),
    ("six top-level entries", MENU, menu_body(*[reply(f"第{i}项", str(i)) for i in range(6)]), "/menu/entries"),
    ("no entries", MENU, menu_body(), "/menu/entries"),
    ("three sub-menu levels", MENU, _menu_of_depth(3), "/menu/entries/0/menu/entries/0/menu/entries/0/menu"),
    ("six sub-menu entries", MENU, menu_body(sub_menu("多", *[reply(f"{i}", str(i)) for i in range(6)])),
     "/menu/entries/0/menu/entries"),
    ("long display text", MENU, menu_body(reply("字" * 26, "x")), "/menu/entries/0/reply/displayText"),
    ("sub-menu without text", MENU, menu_body({"menu": {"entries": [reply()]}}), "/menu/entries/0/menu/displayText"),
    ("reply and menu at once", MENU, menu_body({**reply(), **sub_menu("x", reply())}), "/menu/entries/0"),
    ("bad action", MENU, menu_body({"action": {"displayText": "去", "jumpAction": {}}}), "/menu/entries/0/action"),
    ("no menu", MENU, {"entries": []}, "entries"),
    ("menu beside other keys", MENU, {**bank_menu(), "version": 2}, "version"),
    ("menu as a string", MENU, {"menu": json.dumps(bank_menu()["menu"])}, "/menu"),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("action", "body", "named"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
async def test_malformed_updates_are_20002_naming_the_field(
    carrier: Carrier, csp: CspReceiver, action: str, body: Any, named: str
) -> None:
    raw = json.dumps(body, ensure_ascii=False).encode()
    status, answer = await update(carrier, action, raw)
    assert status == 200
    assert set(answer) == {"errorCode", "errorMessage"}
    assert answer["errorCode"] == code(carrier.dialect, 20002)
    assert answer["errorMessage"].startswith("参数异常(")
    assert named in answer["errorMessage"]
    assert (await sim_info(carrier))["pending_updates"] == []
    await settle(0.1)
    assert info_checks(csp) == []


@pytest.mark.asyncio
async def test_two_levels_of_sub_menus_are_allowed(carrier: Carrier, csp: CspReceiver) -> None:
    await update_ok(carrier, OPTIONALS, bank_optionals())
    menu = _menu_of_depth(2)
    menu["menu"]["entries"].extend(reply(f"第{i}项", str(i)) for i in range(4))
    await update_ok(carrier, MENU, menu)
    (_, check) = await wait_info_checks(csp, 2)
    assert_check(carrier.dialect, check, approved=True)
    assert (await find(carrier))["menu"] == menu


@pytest.mark.asyncio
async def test_headers_and_token_are_checked_as_on_the_send_path(carrier: Carrier) -> None:
    dialect = carrier.dialect
    auth = await token_for(carrier)
    body = bank_optionals()
    no_accept = {"errorCode": code(dialect, 41001), "errorMessage": "请求头中Accept必须存在且有值"}
    no_date = {"errorCode": code(dialect, 41001), "errorMessage": "请求头中Date必须存在且有值"}
    bad_type = {
        "errorCode": code(dialect, 20002),
        "errorMessage": "参数异常(Http头域字段Content-Type  Null或缺失或不合法)",
    }
    bad_token = {
        "errorCode": code(dialect, 40014),
        "errorMessage": "不合法的accessToken" if dialect == "ctcc" else "不合法的Token",
    }
    for action in (OPTIONALS, MENU):
        assert await update(carrier, action, body, auth=auth, headers={"Accept": None}) == (200, no_accept)
        assert await update(carrier, action, body, auth=auth, headers={"Date": None}) == (200, no_date)
        assert await update(carrier, action, body, auth=auth, headers={"Content-Type": "text/plain"}) == (200, bad_type)
        assert await update(carrier, action, body, auth="accessToken not-a-token") == (200, bad_token)
        assert await update(carrier, action, body, auth=None) == (200, bad_token)
        # Another chatbot's token does not open this chatbot's information.
        assert await update(carrier, action, body, auth=await token_for(carrier, OTHER_BOT_ID)) == (200, bad_token)
    assert (await sim_info(carrier))["pending_updates"] == []

    assert (await carrier.get(FIND, authorization=auth, headers={"Accept": None}))[:2] == (200, no_accept)
    assert (await carrier.get(FIND, authorization=auth, headers={"Date": None}))[:2] == (200, no_date)
    assert (await carrier.get(FIND, authorization="accessToken not-a-token"))[:2] == (200, bad_token)
    status, document, _ = await carrier.get(FIND, authorization=auth)
    assert (status, document["accessNo"]) == (200, BOT_ID)

    async with carrier.session.post(carrier.url(FIND)) as response:
        assert (response.status, response.headers.get("Allow")) == (405, "GET")
    async with carrier.session.get(carrier.url(MENU)) as response:
        assert (response.status, response.headers.get("Allow")) == (405, "POST")


# ---------------------------------------------------------------- carrier-side status and the directory


async def approve_profile(carrier: Carrier, csp: CspReceiver, chatbot_id: str, optionals: dict[str, Any]) -> None:
    before = len(info_checks(csp, chatbot_id))
    await update_ok(carrier, OPTIONALS, optionals, chatbot_id=chatbot_id)
    checks = await wait_info_checks(csp, before + 1, chatbot_id)
    assert_check(carrier.dialect, checks[-1], approved=True)


@pytest.mark.asyncio
async def test_directory_search_and_carrier_offline(carrier: Carrier, csp: CspReceiver) -> None:
    travel = {
        "serviceName": "Happy Travel 旅行",
        "serviceIcon": FOREIGN_ICON,
        "serviceDescription": "机票和酒店",
        "category": ["旅游"],
    }
    await approve_profile(carrier, csp, BOT_ID, bank_optionals())
    # Not approved yet: an online chatbot without approved information is not in the directory.
    assert await directory(carrier, "Travel") == []
    await approve_profile(carrier, csp, OTHER_BOT_ID, travel)

    bank_entry = {
        "chatbotId": BOT_ID,
        "serviceName": "招商银行信用卡",
        "serviceIcon": FOREIGN_ICON,
        "serviceDescription": "信用卡账单、积分和 Credit Card 服务",
        "category": ["金融"],
        "smsNumber": "1065988588",
        "verified": True,
    }
    assert await directory(carrier, "银行") == [bank_entry]  # in the name
    assert await directory(carrier, "credit card") == [bank_entry]  # in the description, any case
    assert await directory(carrier, "金融") == [bank_entry]  # the category
    (found,) = await directory(carrier, "TRAVEL")
    assert (found["chatbotId"], found["smsNumber"], found["category"]) == (OTHER_BOT_ID, OTHER_BOT_ID, ["旅游"])
    assert await directory(carrier, "保险") == []

    path = f"/_sim/chatbots/{BOT_ID}/status"
    status, info = await carrier.control("POST", path, {"status": "offline", "description": "违反运营规范"})
    assert (status, info["status"], info["status_code"]) == (200, "offline", 0)
    (notice,) = await wait_notices(csp, 1)
    assert notice == {"chatbotId": BOT_ID, "status": "offline", "description": "违反运营规范"}
    assert (await find(carrier))["status"] == 0
    assert await directory(carrier, "银行") == []
    assert [e["chatbotId"] for e in await directory(carrier, "")] == [OTHER_BOT_ID]

    status, info = await carrier.control("POST", path, {"status": "online"})
    assert status == 200
    (_, back) = await wait_notices(csp, 2)
    assert (back["chatbotId"], back["status"]) == (BOT_ID, "online")
    assert isinstance(back["description"], str)
    assert back["description"]
    assert (await find(carrier))["status"] == 1
    assert await directory(carrier, "银行") == [bank_entry]
    info = await sim_info(carrier)
    assert [(c["status"], c["ok"]) for c in info["information_changes"]] == [("offline", True), ("online", True)]

    assert (await carrier.control("POST", path, {"status": "paused"}))[0] == 400
    assert (await carrier.control("POST", path, {"status": "offline", "description": 7}))[0] == 400
    assert (await carrier.control("POST", "/_sim/chatbots/999/status", {"status": "offline"}))[0] == 404


# ---------------------------------------------------------------- a menu tap


async def tap(carrier: Carrier, payload: dict[str, Any], chatbot_id: str = BOT_ID) -> tuple[int, Any]:
    return await carrier.control("POST", f"/_sim/handsets/{USER}/uplink", {"chatbot_id": chatbot_id, **payload})


async def mo_content(csp: CspReceiver, count: int) -> Any:
    """The contentText of the `count`-th MO message, after checking it is a suggestion response."""
    calls = await csp.wait_for("/messages", count)
    call = calls[count - 1]
    assert call.path == f"/messageNotification/{BOT_ID}/messages"
    mo = signed_json(call)
    assert mo["senderAddress"] == f"tel:{USER}"
    (item,) = mo["messageList"]
    assert item["contentType"] == SUGGESTION_RESPONSE
    return item["contentText"]


@pytest.mark.asyncio
async def test_a_menu_tap_arrives_as_a_suggestion_response(carrier: Carrier, csp: CspReceiver) -> None:
    await update_ok(carrier, OPTIONALS, bank_optionals())
    await update_ok(carrier, MENU, bank_menu())
    await wait_info_checks(csp, 2)

    status, result = await tap(carrier, {"menu_path": [0]})
    assert (status, result["ok"]) == (200, True), result
    tapped = await mo_content(csp, 1)
    # §2.3 decoded traffic: a reply carries its displayText, postback and type.
    assert tapped == {
        "response": {"reply": {"displayText": "简介", "postback": {"data": "set_by_chatbot_reply1"}, "type": "reply"}}
    }
    # The existing `postback` option sends the very same shape: a menu tap is a chip tap on the wire.
    await tap(carrier, {"postback": {"display_text": "简介", "data": "set_by_chatbot_reply1"}})
    assert await mo_content(csp, 2) == tapped

    await tap(carrier, {"menu_path": [1, 1]})
    dial = {"displayText": "拨打电话", "postback": {"data": "set_by_chatbot_dial_menu_phone_number"}}
    assert await mo_content(csp, 3) == {"response": {"action": dial}}
    await tap(carrier, {"menu_path": [1, 0]})
    assert (await mo_content(csp, 4))["response"]["reply"]["postback"] == {"data": "set_by_chatbot_reply2"}

    for bad in ([1], [2], [1, 2], [0, 0], [], "0", [-1], [True]):
        status, body = await tap(carrier, {"menu_path": bad})
        assert status == 400, (bad, body)
    assert (await tap(carrier, {"menu_path": [0], "text": "你好"}))[0] == 400
    # A chatbot without an approved menu has nothing to tap.
    assert (await tap(carrier, {"menu_path": [0]}, OTHER_BOT_ID))[0] == 400
    await settle(0.1)
    assert len(csp.at("/messages")) == 4


@pytest.mark.asyncio
async def test_a_pending_menu_is_not_on_the_handset_yet(carrier: Carrier, csp: CspReceiver) -> None:
    await update_ok(carrier, OPTIONALS, bank_optionals())
    await wait_info_checks(csp, 1)
    await set_audit(carrier, chatbot_info="hold")
    await update_ok(carrier, MENU, bank_menu())
    assert (await tap(carrier, {"menu_path": [0]}))[0] == 400
    await carrier.control("POST", f"/_sim/chatbots/{BOT_ID}/info/audit", {"approved": True})
    status, result = await tap(carrier, {"menu_path": [0]})
    assert (status, result["ok"]) == (200, True)
