"""Raw-HTTP tests of the CT/CU simulator's CSP management API (protocols.md §3.4; choices "CSP
management: enterprise and chatbot applications on CT/CU").

Signed headers, tokens, customer files, the enterprise customer and its audit, the chatbot
application and its audit, bringing it online, the developer configuration and what follows from it
(the chatbot API with the credentials handed out, the notifyPath handshake, find/chatBotInfo and the
directory). The signature, the bodies and the multipart uploads are built here by hand, never with
the simulator's or the platform adapter's code; the simulator runs on real uvicorn over loopback.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import string
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

import aiohttp
import pytest
import pytest_asyncio
import uvicorn
from aiohttp import web

from msg5g.simulators.maapjson import Faults, SimulatorSettings, create_app

from .maapjson_wire import (
    Carrier,
    FilePart,
    PromptServer,
    Received,
    bot_uri,
    bound_socket,
    form_data,
    jpeg_bytes,
    png_bytes,
    send_body,
    signature_ok,
)

CSP_ID = "C1210000XX"
ACCESS_KEY = "csp-access-key"
CHATBOT_ID = "1065988588000001"
DEV_TOKEN = "devtoken-csp01"
CHINA = timezone(timedelta(hours=8))
TOKEN_EXPIRED = "accessToken失效,请重新获取!!"
JWT = re.compile(r"^eyJhbGciOiJIUzI1NiJ9\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$")
PDF_BYTES = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n" * 8
T = TypeVar("T")


# ---------------------------------------------------------------- the CSP's client, by hand


def china_timestamp(offset_seconds: float = 0.0) -> str:
    """§3.4: yyyyMMddHHmmss in UTC+8."""
    return (datetime.now(CHINA) + timedelta(seconds=offset_seconds)).strftime("%Y%m%d%H%M%S")


def random_tail(size: int = 8) -> str:
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(size))


def md5_signature(access_key: str, nonce: str, timestamp: str) -> str:
    """§3.4: lower-case hex md5(accessKey + nonce + timestamp)."""
    return hashlib.md5((access_key + nonce + timestamp).encode("utf-8")).hexdigest()


def signed(
    *,
    access_key: str = ACCESS_KEY,
    timestamp: str | None = None,
    nonce: str | None = None,
    signature: str | None = None,
) -> dict[str, str]:
    ts = timestamp if timestamp is not None else china_timestamp()
    once = nonce if nonce is not None else ts + random_tail()
    sig = signature if signature is not None else md5_signature(access_key, once, ts)
    return {"timestamp": ts, "nonce": once, "signature": sig}


@dataclass
class CspClient:
    """Talks to {base}/cspApi/v1 like a CSP: signed headers, `authorization: <token>`."""

    root: str
    session: aiohttp.ClientSession
    token: str | None = None

    async def request(
        self,
        path: str,
        body: dict[str, Any] | bytes | None = None,
        *,
        method: str = "POST",
        headers: dict[str, str] | None = None,
        content_type: str = "application/json;charset=UTF-8",
        auth: bool = True,
    ) -> tuple[int, Any]:
        """One call; `headers` replaces the signed ones; returns (HTTP status, parsed answer)."""
        request_headers = dict(headers) if headers is not None else signed()
        if auth and self.token is not None:
            request_headers.setdefault("authorization", self.token)
        request_headers["Content-Type"] = content_type
        raw = body if isinstance(body, bytes) else json.dumps(body or {}, ensure_ascii=False).encode()
        async with self.session.request(
            method, self.root + path, data=raw, headers=request_headers, skip_auto_headers=["Content-Type"]
        ) as response:
            text = await response.read()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text.decode("utf-8", "replace")

    async def ok(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        """A call that must succeed: HTTP 200, code 0; its `data`."""
        status, answer = await self.request(path, body, **kwargs)
        assert status == 200, answer
        assert answer["code"] == 0, answer
        assert set(answer) == {"code", "message", "data"}
        return answer["data"]

    async def refused(self, path: str, body: dict[str, Any] | bytes | None, code: int, **kwargs: Any) -> str:
        """A call refused with `code`: still HTTP 200, `data` null; its message."""
        status, answer = await self.request(path, body, **kwargs)
        assert status == 200, answer
        assert answer["code"] == code, answer
        assert answer["data"] is None
        assert isinstance(answer["message"], str)
        assert answer["message"]
        return str(answer["message"])

    async def login(self) -> str:
        self.token = None
        data = await self.ok("/accessToken", {"cspId": CSP_ID, "accessKey": ACCESS_KEY}, auth=False)
        assert set(data) == {"accessToken"}
        self.token = str(data["accessToken"])
        return self.token

    async def upload(
        self, path: str, data: bytes, file_name: str, content_type: str, upload_type: str | None
    ) -> tuple[int, Any]:
        body, form_type = form_data([FilePart("file", data, file_name, content_type)])
        headers = signed()
        if upload_type is not None:
            headers["uploadType"] = upload_type
        return await self.request(path, body, headers=headers, content_type=form_type)

    async def customer_file(self, data: bytes, file_name: str = "licence.png", upload_type: str = "0") -> str:
        content_type = "image/png" if file_name.endswith(".png") else "application/octet-stream"
        status, answer = await self.upload("/uploadFile", data, file_name, content_type, upload_type)
        assert (status, answer["code"]) == (200, 0), answer
        return str(answer["data"]["url"])

    async def chatbot_file(self, data: bytes, upload_type: str = "0", file_name: str = "logo.png") -> str:
        status, answer = await self.upload("/Chatbot/uploadChatbotFile", data, file_name, "image/png", upload_type)
        assert (status, answer["code"]) == (200, 0), answer
        return str(answer["data"]["filePath"])


def customer_body(licence: str, *, identity: str | None = None, contract: str | None = None) -> dict[str, Any]:
    """§3.4's four objects, as choices fill them (licence, identity-card and contract urls, dates)."""
    card = identity or licence
    return {
        "rcsRegisterInfo": {"ecName": "深圳市云讯科技有限公司", "businessType": 1, "ecGrade": 1},
        "rcsInfo": {
            "introduce": "企业通信服务",
            "serviceIcon": licence,
            "workPhone": "0755-86000000",
            "businessLicense": licence,
            "businessAddress": "广东省深圳市南山区科技园",
            "province": "广东省",
            "city": "深圳市",
            "area": "南山区",
            "operatorName": "张三",
            "operatorCard": "440300199001011234",
            "operatorPhone": "13800000000",
            "emailAddress": "ops@example.cn",
            "operatorIdentityPic": [card, card],
        },
        "rcsContractInformation": {
            "contractNo": "HT-2024-001",
            "name": "5G消息业务合同",
            "effectiveDate": "20240101000000",
            "expiryDate": "20271231235959",
            "status": 1,
            "renewalDate": "20271231235959",
            "accessory": contract or licence,
        },
        "rcsLegalP": {
            "legalName": "李四",
            "legalIdentification": "440300198001011234",
            "identificationStraight": card,
            "identificationCounter": card,
        },
    }


def chatbot_body(csp_ec_no: str, icon: str | None, chatbot_id: str = CHATBOT_ID, **changes: Any) -> dict[str, Any]:
    """addChatbot's fields as choices list them."""
    body: dict[str, Any] = {
        "cspId": CSP_ID,
        "cspEcNo": csp_ec_no,
        "chatbotId": chatbot_id,
        "serviceName": "云讯信用卡助手",
        "serviceIcon": icon,
        "serviceDescription": "信用卡账单、积分与 Credit Card 服务",
        "SMSNumber": "1065988588",
        "autograph": "云讯",
        "category": ["金融"],
        "provider": "深圳市云讯科技有限公司",
        "showProvider": "1",
        "TCPage": "https://cc.example.cn/terms",
        "emailAddress": "cc@example.cn",
        "serviceWebsite": "https://cc.example.cn",
        "callBackNumber": "95555",
        "address": "广东省深圳市南山区",
        "longitude": 114.057,
        "latitude": 22.543,
        "ipWhiteList": ["127.0.0.1", "10.0.0.8"],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


async def until(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str, timeout: float = 5.0) -> T:
    """Poll `probe` until `done` holds, within a deadline (no timed asserts)."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still {value!r}")
        await asyncio.sleep(0.02)


async def customer_status(csp: CspClient, csp_ec_no: str) -> dict[str, Any]:
    return dict(await csp.ok("/selectCspCustomer", {"cspEcNo": csp_ec_no}))


async def chatbot_status(csp: CspClient, access_tag_no: str) -> dict[str, Any]:
    return dict(await csp.ok("/Chatbot/selectChatbot", {"accessTagNo": access_tag_no}))


async def settled_customer(csp: CspClient, csp_ec_no: str) -> dict[str, Any]:
    return await until(lambda: customer_status(csp, csp_ec_no), lambda r: r["auditStatus"] != -1, "customer audit")


async def settled_chatbot(csp: CspClient, access_tag_no: str) -> dict[str, Any]:
    return await until(lambda: chatbot_status(csp, access_tag_no), lambda r: r["auditStatus"] != -1, "chatbot audit")


async def approved_customer(csp: CspClient) -> str:
    licence = await csp.customer_file(png_bytes())
    csp_ec_no = str((await csp.ok("/cspCustomer/addcspCustomer", customer_body(licence)))["cspEcNo"])
    assert (await settled_customer(csp, csp_ec_no))["auditStatus"] == 1
    return csp_ec_no


async def approved_chatbot(csp: CspClient, chatbot_id: str = CHATBOT_ID) -> str:
    csp_ec_no = await approved_customer(csp)
    icon = await csp.chatbot_file(png_bytes())
    created = await csp.ok("/Chatbot/addChatbot", chatbot_body(csp_ec_no, icon, chatbot_id))
    access_tag_no = str(created["accessTagNo"])
    assert (await settled_chatbot(csp, access_tag_no))["auditStatus"] == 0
    return access_tag_no


# ---------------------------------------------------------------- the CSP's developer callback


@dataclass
class Developer:
    """The CSP's callback root: answers the notifyPath handshake with the appId it has stored."""

    base_url: str = ""
    # chatbotId -> the appId the CSP stored after reading updateDeveloper's answer.
    app_ids: dict[str, str] = field(default_factory=dict)
    # Handshakes to fail (HTTP 503) before answering properly.
    fail_first: int = 0
    received: list[Received] = field(default_factory=list)

    @property
    def root(self) -> str:
        return self.base_url + "/dev"

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path.removeprefix("/dev")
        headers = dict(request.headers)
        self.received.append(
            Received(request.method, path, headers, await request.read(), signature_ok(headers, DEV_TOKEN))
        )
        if path != "/notifyPath":
            return web.json_response({"errorCode": 0})
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=503)
        app_id = self.app_ids.get(request.headers.get("chatbotId", ""))
        if app_id is None:  # the credentials are not stored yet
            return web.Response(status=200)
        return web.Response(status=200, headers={"echoStr": request.headers.get("echoStr", ""), "appId": app_id})

    def at(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]


# ---------------------------------------------------------------- fixtures


@dataclass
class World:
    carrier: Carrier
    csp: CspClient
    developer: Developer

    async def control(self, method: str, path: str, payload: Any = None) -> tuple[int, Any]:
        return await self.carrier.control(method, path, payload)

    async def sim_csp(self) -> dict[str, Any]:
        status, view = await self.control("GET", "/_sim/csp")
        assert status == 200, view
        return dict(view)


WorldFactory = Callable[..., Awaitable[World]]


@pytest_asyncio.fixture
async def developer() -> AsyncIterator[Developer]:
    target = Developer()
    app = web.Application()
    app.router.add_route("*", "/dev/{tail:.*}", target.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = bound_socket()
    await web.SockSite(runner, sock).start()
    target.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        yield target
    finally:
        await runner.cleanup()


@pytest_asyncio.fixture
async def make_world(developer: Developer) -> AsyncIterator[WorldFactory]:
    """Start simulators on loopback (no chatbot configured); keyword arguments override SimulatorSettings."""
    started: list[tuple[PromptServer, asyncio.Task[None], aiohttp.ClientSession]] = []

    async def start(dialect: str = "ctcc", **overrides: Any) -> World:
        overrides.setdefault("audit_delay_seconds", 0.02)
        overrides.setdefault("developer_verify_delay_seconds", 0.05)
        settings = SimulatorSettings(
            dialect=dialect,  # type: ignore[arg-type]
            faults=Faults(delivered_delay_ms=5, displayed_delay_ms=5),
            notify_backoff_ms=5,
            notify_workers=2,
            **overrides,
        )
        config = uvicorn.Config(
            create_app(settings), log_level="warning", access_log=False, ws="none", lifespan="on",
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
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return World(Carrier(dialect, base, session, config.app), CspClient(base + "/cspApi/v1", session), developer)

    try:
        yield start
    finally:
        for server, task, session in started:
            await session.close()
            server.should_exit = True
            server.stop_event.set()
            await task


@pytest_asyncio.fixture
async def world(make_world: WorldFactory) -> World:
    return await make_world()


# ---------------------------------------------------------------- signature, timestamp, credentials, token


@pytest.mark.asyncio
async def test_signature_nonce_and_timestamp_are_checked_on_every_call(world: World) -> None:
    csp = world.csp
    credentials = {"cspId": CSP_ID, "accessKey": ACCESS_KEY}
    token_call = ("/accessToken", credentials)
    now = china_timestamp()
    utc_now = datetime.now(UTC).strftime("%Y%m%d%H%M%S")  # the right clock in the wrong zone: 8 h off
    bad_headers = [
        {},
        signed(timestamp=china_timestamp(-301)),
        signed(timestamp=china_timestamp(+301)),
        signed(timestamp=utc_now),
        signed(timestamp="2024-01-01 12:00:00"),
        signed(nonce=random_tail(22)),  # does not start with the timestamp
        signed(nonce=now + random_tail(7)),
        signed(nonce=now + random_tail(9)),
        signed(nonce=now + "abc-1234"),
        signed(timestamp=now, nonce=now + "Ab3dE6g8", signature=md5_signature(ACCESS_KEY, "Ab3dE6g8" + now, now)),
        {**signed(timestamp=now, nonce=now + "Ab3dE6g8"),
         "signature": md5_signature(ACCESS_KEY, now + "Ab3dE6g8", now).upper()},
        # md5(accessKey + timestamp + nonce): the order matters.
        {**signed(timestamp=now, nonce=now + "Ab3dE6g8"),
         "signature": hashlib.md5((ACCESS_KEY + now + now + "Ab3dE6g8").encode()).hexdigest()},
    ]
    for headers in bad_headers:
        await csp.refused(*token_call, 41002, headers=headers, auth=False)
    # A protected call signed with another key is refused before its token is looked at.
    token = await csp.login()
    assert JWT.match(token), token
    await csp.refused("/selectCspCustomer", {"cspEcNo": "x"}, 41002, headers=signed(access_key="not-the-key"))
    # Right headers: the token works, and the call reaches the business check (no such customer).
    message = await csp.refused("/selectCspCustomer", {"cspEcNo": CSP_ID + "99999"}, 40401)
    assert CSP_ID + "99999" in message
    calls = (await world.sim_csp())["calls"]
    assert [c["code"] for c in calls].count(41002) == len(bad_headers) + 1
    assert calls[-1]["path"] == "/selectCspCustomer"


@pytest.mark.asyncio
async def test_wrong_credentials_are_41001(world: World) -> None:
    csp = world.csp
    await csp.refused("/accessToken", {"cspId": "C9990000XX", "accessKey": ACCESS_KEY}, 41001, auth=False)
    # A CSP holding the wrong key signs with it too; what it hears is that its key is wrong.
    wrong = {"cspId": CSP_ID, "accessKey": "guessed-key"}
    await csp.refused("/accessToken", wrong, 41001, headers=signed(access_key="guessed-key"), auth=False)
    message = await csp.refused("/accessToken", {"cspId": CSP_ID}, 20002, auth=False)
    assert "accessKey" in message
    assert JWT.match(await csp.login())


@pytest.mark.asyncio
async def test_a_missing_or_expired_token_is_42001_until_a_new_one_is_fetched(world: World) -> None:
    csp = world.csp
    probe = ("/selectCspCustomer", {"cspEcNo": CSP_ID + "00001"})
    for token in (None, "eyJhbGciOiJIUzI1NiJ9.e30.c2ln"):
        csp.token = token
        assert await csp.refused(*probe, 42001) == TOKEN_EXPIRED
    first = await csp.login()
    await csp.refused(*probe, 40401)
    second = await csp.login()
    assert second != first
    # Tokens are JWT-shaped: a base64url JSON payload naming the CSP.
    payload = first.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == CSP_ID
    assert claims["exp"] - claims["iat"] == 7200

    assert await world.control("POST", "/_sim/csp/tokens/expire") == (200, {"expired": 2})
    assert await csp.refused(*probe, 42001) == TOKEN_EXPIRED
    await csp.login()  # the client's refresh: one new token and the call goes through
    await csp.refused(*probe, 40401)
    # The simulator-wide controls end CSP tokens too.
    assert await world.control("POST", "/_sim/tokens/expire") == (200, {"expired": 1})
    await csp.refused(*probe, 42001)
    await csp.login()
    status, faults = await world.control("PUT", "/_sim/faults", {"expire_tokens": True})
    assert (status, faults["expire_tokens"]) == (200, False)
    await csp.refused(*probe, 42001)


# ---------------------------------------------------------------- the whole lifecycle


@pytest.mark.parametrize("dialect", ["ctcc", "cucc"])
@pytest.mark.asyncio
async def test_the_whole_lifecycle_ends_in_a_working_chatbot(make_world: WorldFactory, dialect: str) -> None:
    world = await make_world(dialect)
    csp, developer, carrier = world.csp, world.developer, world.carrier
    await csp.login()

    licence_bytes = png_bytes(4096)
    licence = await csp.customer_file(licence_bytes)
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\d+,[0-9a-f]+", licence), licence
    identity = await csp.customer_file(jpeg_bytes(), "id-card.jpg", upload_type="1")
    contract = await csp.customer_file(b"%PDF-1.4 contract", "contract.pdf", upload_type="2")
    async with carrier.session.get(licence) as response:  # the simulator hosts what it issued
        assert (response.status, await response.read()) == (200, licence_bytes)

    body = customer_body(licence, identity=identity, contract=contract)
    created = await csp.ok("/cspCustomer/addcspCustomer", body)
    csp_ec_no = created["cspEcNo"]
    assert re.fullmatch(CSP_ID + r"\d{5}", csp_ec_no), created
    record = await customer_status(csp, csp_ec_no)
    assert record["auditStatus"] == -1  # being audited right after the call
    record = await settled_customer(csp, csp_ec_no)
    assert record["auditStatus"] == 1, record
    # The record echo: the four objects as sent, the cspEcNo filled in.
    assert record["rcsRegisterInfo"] == {**body["rcsRegisterInfo"], "cspEcNo": csp_ec_no}
    for key in ("rcsInfo", "rcsContractInformation", "rcsLegalP"):
        assert record[key] == body[key], key

    logo_bytes = png_bytes(3000)
    icon = await csp.chatbot_file(logo_bytes)
    banner = await csp.chatbot_file(jpeg_bytes(), upload_type="1", file_name="banner.jpg")
    assert re.fullmatch(r"https?://127\.0\.0\.1:\d+/maap_message/bot/chanageUrl/head/[0-9a-f]+\.png", icon), icon
    async with carrier.session.get(icon) as response:
        assert (response.status, response.content_type, await response.read()) == (200, "image/png", logo_bytes)

    application = chatbot_body(csp_ec_no, icon, backgroundImage=banner)
    access_tag_no = (await csp.ok("/Chatbot/addChatbot", application))["accessTagNo"]
    assert re.fullmatch(r"[0-9a-f]{32}", access_tag_no)
    state = await settled_chatbot(csp, access_tag_no)
    assert set(state) == {"accessTagNo", "chatbotId", "auditStatus", "auditOpinion"}
    assert (state["accessTagNo"], state["chatbotId"], state["auditStatus"]) == (access_tag_no, CHATBOT_ID, 0)

    await csp.ok("/Chatbot/isOnlineUpdate", {"accessTagNo": access_tag_no, "type": 1})
    assert (await chatbot_status(csp, access_tag_no))["auditStatus"] == 1

    config = {"agreement": "1", "token": DEV_TOKEN, "url": developer.root, "accessTagNo": access_tag_no,
              "enable": "1"}
    status, answer = await csp.request("/developerConfiguration/updateDeveloper", config)
    assert (status, answer["code"], answer["message"]) == (200, 0, "请求成功")
    credentials = answer["data"]
    assert set(credentials) == {"appId", "appkey"}
    app_id, app_key = credentials["appId"], credentials["appkey"]
    assert re.fullmatch(r"[A-Za-z0-9]{8}", app_id)
    assert re.fullmatch(r"[0-9a-f]{32}", app_key)
    developer.app_ids[CHATBOT_ID] = app_id  # the CSP stores them only now

    # The handshake a moment later, with the developer token's signature.
    async def account() -> dict[str, Any]:
        _, bots = await world.control("GET", "/_sim/chatbots")
        return next(b for b in bots if b["chatbot_id"] == CHATBOT_ID)

    bot = await until(account, lambda b: b["notify_path_verified"], "notifyPath handshake")
    assert (bot["app_id"], bot["notify_url"]) == (app_id, developer.root)
    handshake = developer.at("/notifyPath")[-1]
    assert handshake.method == ("POST" if dialect == "ctcc" else "GET")
    assert handshake.headers["chatbotId"] == CHATBOT_ID
    assert handshake.signature_ok

    # The ordinary chatbot API takes the credentials handed out.
    status, token_answer = await carrier.token_answer(CHATBOT_ID, app_id, app_key)
    assert status == 200
    assert token_answer["errorCode"] == ("0" if dialect == "ctcc" else 0)
    authorization = await carrier.authorization(CHATBOT_ID, app_id, app_key)
    status, refused = await carrier.token_answer(CHATBOT_ID, app_id, "0" * 32)
    assert refused["errorCode"] != token_answer["errorCode"]
    message = send_body(dialect, senderAddress=bot_uri(dialect, CHATBOT_ID))
    status, sent, _ = await carrier.call("messages", message, authorization=authorization, chatbot_id=CHATBOT_ID)
    assert (status, sent["errorCode"]) == (200, token_answer["errorCode"]), sent
    # ... and its notifications go to the developer url.
    async def reports() -> list[Received]:
        return developer.at(f"/deliveryNotification/{CHATBOT_ID}/status")

    (report, *_) = await until(reports, bool, "a status report at the developer url")
    assert report.signature_ok  # signed with the developer token of updateDeveloper

    # The application's information is the chatbot's: find/chatBotInfo and the directory.
    status, document, _ = await carrier.get("find/chatBotInfo", authorization=authorization, chatbot_id=CHATBOT_ID)
    assert status == 200
    for key in ("serviceName", "serviceIcon", "serviceDescription", "provider", "callBackNumber", "serviceWebsite",
                "emailAddress", "address", "longitude", "latitude", "category"):
        assert document[key] == application[key], key
    assert (document["smsnumber"], document["tcpage"]) == (application["SMSNumber"], application["TCPage"])
    assert (document["backgroundImage"], document["status"], document["url"]) == (banner, 1, developer.root)

    async def directory(keyword: str) -> list[str]:
        _, found = await world.control("GET", f"/_sim/directory?q={keyword}")
        return [entry["chatbotId"] for entry in found]

    assert await directory("信用卡") == [CHATBOT_ID]
    assert await directory("credit card") == [CHATBOT_ID]
    await csp.ok("/Chatbot/isOnlineUpdate", {"accessTagNo": access_tag_no, "type": 2})
    assert (await chatbot_status(csp, access_tag_no))["auditStatus"] == 0
    assert await directory("信用卡") == []
    await csp.ok("/Chatbot/isOnlineUpdate", {"accessTagNo": access_tag_no, "type": 1})
    assert await directory("信用卡") == [CHATBOT_ID]

    view = await world.sim_csp()
    (customer,) = view["customers"]
    assert (customer["cspEcNo"], customer["state"], customer["auditStatus"]) == (csp_ec_no, "approved", 1)
    assert customer["body"]["rcsInfo"]["businessLicense"] == licence
    (chatbot,) = view["chatbots"]
    assert (chatbot["state"], chatbot["chatbotId"], chatbot["body"]) == ("online", CHATBOT_ID, application)
    assert chatbot["developer"]["url"] == developer.root
    assert chatbot["developer"]["appId"] == app_id
    assert chatbot["notify_path"]["verified"] is True
    assert view["files"] == 5
    assert {"path": "/accessToken", "code": 0} in [{"path": c["path"], "code": c["code"]} for c in view["calls"]]


@pytest.mark.asyncio
async def test_the_handshake_is_retried_while_it_fails_and_the_credentials_stay(world: World) -> None:
    csp, developer = world.csp, world.developer
    await csp.login()
    access_tag_no = await approved_chatbot(csp)
    developer.fail_first = 2
    config = {"agreement": 1, "token": DEV_TOKEN, "url": developer.root, "accessTagNo": access_tag_no,
              "enable": "1"}
    first = await csp.ok("/developerConfiguration/updateDeveloper", config)
    developer.app_ids[CHATBOT_ID] = first["appId"]

    async def handshake() -> dict[str, Any]:
        return dict((await world.sim_csp())["chatbots"][0]["notify_path"])

    result = await until(handshake, lambda h: h["verified"] is True, "handshake after two failures")
    assert result["attempts"] == 3
    assert [r.path for r in developer.received].count("/notifyPath") == 3
    # A later configuration keeps the credentials (a CSP that lost the answer gets them again).
    again = await csp.ok("/developerConfiguration/updateDeveloper", {**config, "token": "newtoken"})
    assert again == first


# ---------------------------------------------------------------- customer audit: rejection, edit, 81002


@pytest.mark.asyncio
async def test_an_unreadable_licence_is_rejected_and_an_edit_with_a_png_is_approved(world: World) -> None:
    csp = world.csp
    await csp.login()
    scan = await csp.customer_file(PDF_BYTES, "licence.pdf")
    body = customer_body(scan)
    csp_ec_no = (await csp.ok("/cspCustomer/addcspCustomer", body))["cspEcNo"]
    rejected = await settled_customer(csp, csp_ec_no)
    assert (rejected["auditStatus"], rejected["auditOpinion"]) == (-2, "营业执照无法识别")
    # A rejected customer takes no chatbot.
    icon = await csp.chatbot_file(png_bytes())
    await csp.refused("/Chatbot/addChatbot", chatbot_body(csp_ec_no, icon), 46005)

    licence = await csp.customer_file(png_bytes(), "licence.png")
    edited = customer_body(licence)
    edited["rcsRegisterInfo"]["cspEcNo"] = csp_ec_no
    assert (await csp.ok("/cspCustomer/editcspCustomer", edited))["cspEcNo"] == csp_ec_no
    assert (await customer_status(csp, csp_ec_no))["auditStatus"] == -1  # a new audit
    approved = await settled_customer(csp, csp_ec_no)
    assert approved["auditStatus"] == 1
    assert approved["rcsInfo"]["businessLicense"] == licence
    (customer,) = (await world.sim_csp())["customers"]
    assert customer["edits"] == 1
    assert [(a["result"], a["by"]) for a in customer["audits"]] == [("rejected", "auditor"), ("approved", "auditor")]
    assert customer["audits"][0]["opinion"] == "营业执照无法识别"


@pytest.mark.asyncio
async def test_a_customer_under_audit_cannot_be_edited(world: World) -> None:
    csp = world.csp
    await csp.login()
    status, policy = await world.control("PUT", "/_sim/audit", {"customers": "hold"})
    assert (status, policy["customers"], policy["chatbots"], policy["media"]) == (200, "hold", "approve", "approve")
    licence = await csp.customer_file(png_bytes())
    csp_ec_no = (await csp.ok("/cspCustomer/addcspCustomer", customer_body(licence)))["cspEcNo"]
    edited = customer_body(licence)
    edited["rcsRegisterInfo"]["cspEcNo"] = csp_ec_no
    edited["rcsRegisterInfo"]["ecName"] = "深圳市云讯通信有限公司"
    assert await csp.refused("/cspCustomer/editcspCustomer", edited, 81002) == "该客户审核状态为待审核，不可编辑"
    await asyncio.sleep(0.1)  # held: the delay passing decides nothing
    assert (await customer_status(csp, csp_ec_no))["auditStatus"] == -1

    path = f"/_sim/csp/customers/{csp_ec_no}/audit"
    status, decided = await world.control("POST", path, {"approved": False, "reason": "法人信息不符"})
    assert (status, decided["state"], decided["auditOpinion"]) == (200, "rejected", "法人信息不符")
    assert (await world.control("POST", path, {"approved": True}))[0] == 409
    assert (await world.control("POST", path, {"approved": "yes"}))[0] == 400
    assert (await world.control("POST", "/_sim/csp/customers/C121000000XX99999/audit", {"approved": True}))[0] == 404

    await csp.ok("/cspCustomer/editcspCustomer", edited)
    record = await customer_status(csp, csp_ec_no)
    assert (record["auditStatus"], record["rcsRegisterInfo"]["ecName"]) == (-1, "深圳市云讯通信有限公司")
    edited["rcsRegisterInfo"]["cspEcNo"] = CSP_ID + "99999"
    await csp.refused("/cspCustomer/editcspCustomer", edited, 40401)


@pytest.mark.asyncio
async def test_the_audit_policy_and_the_forbidden_word_reject_customers(world: World) -> None:
    csp = world.csp
    await csp.login()
    licence = await csp.customer_file(png_bytes())
    forbidden = customer_body(licence)
    forbidden["rcsRegisterInfo"]["ecName"] = "违禁品贸易有限公司"
    csp_ec_no = (await csp.ok("/cspCustomer/addcspCustomer", forbidden))["cspEcNo"]
    assert (await settled_customer(csp, csp_ec_no))["auditStatus"] == -2

    status, _ = await world.control("PUT", "/_sim/audit", {"customers": "reject", "reason": "资质材料不全"})
    assert status == 200
    csp_ec_no = (await csp.ok("/cspCustomer/addcspCustomer", customer_body(licence)))["cspEcNo"]
    rejected = await settled_customer(csp, csp_ec_no)
    assert (rejected["auditStatus"], rejected["auditOpinion"]) == (-2, "资质材料不全")

    _, policy = await world.control("GET", "/_sim/audit")
    assert (policy["customers"], policy["chatbots"], policy["reason"]) == ("reject", "approve", "资质材料不全")
    for bad in ({"customers": "maybe"}, {"chatbots": 1}, {"customers": "approve", "media": "nope"}):
        assert (await world.control("PUT", "/_sim/audit", bad))[0] == 400, bad
    assert (await world.control("GET", "/_sim/audit"))[1] == policy  # a refused PUT changes nothing
    await world.control("PUT", "/_sim/audit", {"customers": "approve"})
    csp_ec_no = (await csp.ok("/cspCustomer/addcspCustomer", customer_body(licence)))["cspEcNo"]
    assert (await settled_customer(csp, csp_ec_no))["auditStatus"] == 1


# ---------------------------------------------------------------- chatbot application


@pytest.mark.asyncio
async def test_add_chatbot_waits_for_the_customers_approval(world: World) -> None:
    csp = world.csp
    await csp.login()
    await world.control("PUT", "/_sim/audit", {"customers": "hold"})
    licence = await csp.customer_file(png_bytes())
    csp_ec_no = (await csp.ok("/cspCustomer/addcspCustomer", customer_body(licence)))["cspEcNo"]
    icon = await csp.chatbot_file(png_bytes())
    body = chatbot_body(csp_ec_no, icon)
    assert await csp.refused("/Chatbot/addChatbot", body, 46005) == "当前csp客户状态为不可用"
    await csp.refused("/Chatbot/addChatbot", chatbot_body(CSP_ID + "99999", icon), 40401)
    assert (await world.sim_csp())["chatbots"] == []

    await world.control("POST", f"/_sim/csp/customers/{csp_ec_no}/audit", {"approved": True})
    assert (await customer_status(csp, csp_ec_no))["auditStatus"] == 1
    access_tag_no = (await csp.ok("/Chatbot/addChatbot", body))["accessTagNo"]
    assert (await settled_chatbot(csp, access_tag_no))["auditStatus"] == 0


@pytest.mark.asyncio
async def test_field_errors_are_20002_naming_the_field(world: World) -> None:
    csp = world.csp
    await csp.login()
    # Files.
    no_file = b"--xyz--\r\n"  # a well-formed form without any part
    message = await csp.refused("/uploadFile", no_file, 20002, headers={**signed(), "uploadType": "0"},
                                content_type="multipart/form-data; boundary=xyz")
    assert "file" in message
    status, answer = await csp.upload("/uploadFile", png_bytes(), "a.png", "image/png", "3")
    assert (status, answer["code"]) == (200, 20002)
    assert "uploadType" in answer["message"]
    status, answer = await csp.upload("/Chatbot/uploadChatbotFile", png_bytes(), "a.png", "image/png", "2")
    assert (answer["code"], "uploadType" in answer["message"]) == (20002, True)
    status, answer = await csp.upload("/uploadFile", png_bytes(), "a.png", "image/png", None)
    assert (answer["code"], "uploadType" in answer["message"]) == (20002, True)

    # Customer fields.
    licence = await csp.customer_file(png_bytes())
    cases: list[tuple[str, str, str, Any]] = [
        ("rcsRegisterInfo", "ecName", "ecName", None),
        ("rcsRegisterInfo", "businessType", "businessType", None),
        ("rcsInfo", "businessLicense", "businessLicense", "https://elsewhere.example.cn/licence.png"),
        ("rcsInfo", "workPhone", "workPhone", None),
        ("rcsInfo", "operatorName", "operatorName", ""),
        ("rcsInfo", "operatorPhone", "operatorPhone", "call me"),
        ("rcsInfo", "emailAddress", "emailAddress", "not-an-address"),
        ("rcsContractInformation", "effectiveDate", "effectiveDate", "2024-01-01"),
        ("rcsContractInformation", "expiryDate", "expiryDate", "20231231000000"),  # before it took effect
        ("rcsLegalP", "legalName", "legalName", None),
    ]
    for section, key, named, value in cases:
        body = customer_body(licence)
        if value is None:
            del body[section][key]
        else:
            body[section][key] = value
        message = await csp.refused("/cspCustomer/addcspCustomer", body, 20002)
        assert named in message, (key, message)
    body = customer_body(licence)
    del body["rcsLegalP"]
    assert "rcsLegalP" in await csp.refused("/cspCustomer/addcspCustomer", body, 20002)
    assert (await world.sim_csp())["customers"] == []

    # Chatbot fields.
    csp_ec_no = await approved_customer(csp)
    icon = await csp.chatbot_file(png_bytes())
    chatbot_cases: list[tuple[dict[str, Any], str]] = [
        ({"chatbotId": "10659885abc"}, "chatbotId"),
        ({"chatbotId": 1065988588000001}, "chatbotId"),
        ({"serviceName": None}, "serviceName"),
        ({"serviceDescription": "很" * 151}, "serviceDescription"),
        ({"latitude": 22.5431}, "latitude"),
        ({"longitude": 114.0571}, "longitude"),
        ({"longitude": "114.057"}, "longitude"),
        ({"ipWhiteList": [f"10.0.0.{i}" for i in range(16)]}, "ipWhiteList"),
        ({"category": ["金融", "生活服务"]}, "category"),
        ({"category": "金融"}, "category"),
        ({"category": None}, "category"),
        ({"showProvider": "yes"}, "showProvider"),
        ({"cspId": "C9990000XX"}, "cspId"),
    ]
    for changes, named in chatbot_cases:
        message = await csp.refused("/Chatbot/addChatbot", chatbot_body(csp_ec_no, icon, **changes), 20002)
        assert named in message, (changes, message)
    long_text = await csp.refused("/Chatbot/addChatbot", chatbot_body(csp_ec_no, icon, serviceDescription="长" * 151),
                                  20002)
    assert long_text == "serviceDescription长度不能超过150"
    # Exactly at the limits is fine.
    ok = chatbot_body(csp_ec_no, icon, serviceDescription="好" * 150, latitude=22.5, longitude=114,
                      ipWhiteList=[f"10.0.0.{i}" for i in range(15)])
    access_tag_no = (await csp.ok("/Chatbot/addChatbot", ok))["accessTagNo"]
    # The same chatbotId again, while its application stands.
    assert "chatbotId" in await csp.refused("/Chatbot/addChatbot", chatbot_body(csp_ec_no, icon), 20002)
    assert [c["accessTagNo"] for c in (await world.sim_csp())["chatbots"]] == [access_tag_no]


@pytest.mark.asyncio
async def test_the_auditors_reject_applications_and_a_rejected_id_may_apply_again(world: World) -> None:
    csp = world.csp
    await csp.login()
    csp_ec_no = await approved_customer(csp)
    icon = await csp.chatbot_file(png_bytes())
    cases = [
        (chatbot_body(csp_ec_no, None, "1065988588000011"), "serviceIcon"),
        (chatbot_body(csp_ec_no, icon, "1065988588000012", serviceName="违禁品商城"), "违禁"),
        (chatbot_body(csp_ec_no, icon, "1065988588000013", serviceDescription="出售违禁物品"), "违禁"),
    ]
    for body, hint in cases:
        access_tag_no = (await csp.ok("/Chatbot/addChatbot", body))["accessTagNo"]
        state = await settled_chatbot(csp, access_tag_no)
        assert state["auditStatus"] == -2, body
        assert hint in state["auditOpinion"], state
        # Not approved: neither online nor a developer configuration.
        await csp.refused("/Chatbot/isOnlineUpdate", {"accessTagNo": access_tag_no, "type": 1}, 46006)

    await world.control("PUT", "/_sim/audit", {"chatbots": "reject", "reason": "Chatbot名称与企业不符"})
    access_tag_no = (await csp.ok("/Chatbot/addChatbot", chatbot_body(csp_ec_no, icon)))["accessTagNo"]
    state = await settled_chatbot(csp, access_tag_no)
    assert (state["auditStatus"], state["auditOpinion"]) == (-2, "Chatbot名称与企业不符")
    await world.control("PUT", "/_sim/audit", {"chatbots": "approve"})
    # The rejected application frees its chatbotId.
    again = (await csp.ok("/Chatbot/addChatbot", chatbot_body(csp_ec_no, icon)))["accessTagNo"]
    assert again != access_tag_no
    assert (await settled_chatbot(csp, again))["auditStatus"] == 0


@pytest.mark.asyncio
async def test_online_and_developer_configuration_need_an_approved_chatbot(world: World) -> None:
    csp, developer = world.csp, world.developer
    await csp.login()
    csp_ec_no = await approved_customer(csp)
    await world.control("PUT", "/_sim/audit", {"chatbots": "hold"})
    icon = await csp.chatbot_file(png_bytes())
    access_tag_no = (await csp.ok("/Chatbot/addChatbot", chatbot_body(csp_ec_no, icon)))["accessTagNo"]
    online = {"accessTagNo": access_tag_no, "type": 1}
    config = {"agreement": "1", "token": DEV_TOKEN, "url": developer.root, "accessTagNo": access_tag_no,
              "enable": "1"}
    await csp.refused("/Chatbot/isOnlineUpdate", online, 46006)
    await csp.refused("/developerConfiguration/updateDeveloper", config, 46006)
    await asyncio.sleep(0.1)
    assert (await chatbot_status(csp, access_tag_no))["auditStatus"] == -1
    await csp.refused("/Chatbot/isOnlineUpdate", {"accessTagNo": "0" * 32, "type": 1}, 40401)
    await csp.refused("/Chatbot/selectChatbot", {"accessTagNo": "0" * 32}, 40401)

    status, decided = await world.control("POST", f"/_sim/csp/chatbots/{access_tag_no}/audit", {"approved": True})
    assert (status, decided["state"], decided["auditStatus"]) == (200, "offline", 0)
    assert "type" in await csp.refused("/Chatbot/isOnlineUpdate", {**online, "type": 3}, 20002)
    await csp.ok("/Chatbot/isOnlineUpdate", online)
    assert (await chatbot_status(csp, access_tag_no))["auditStatus"] == 1

    bad_configs: list[tuple[dict[str, Any], str]] = [
        ({"token": "t" * 17}, "token"),
        ({"token": ""}, "token"),
        ({"url": "ftp://127.0.0.1/dev"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"agreement": "2"}, "agreement"),  # https declared for an http url
        ({"agreement": "3"}, "agreement"),
    ]
    for changes, named in bad_configs:
        message = await csp.refused("/developerConfiguration/updateDeveloper", {**config, **changes}, 20002)
        assert named in message, (changes, message)
    # None of them made an account.
    assert (await world.control("GET", "/_sim/chatbots"))[1] == []
    credentials = await csp.ok("/developerConfiguration/updateDeveloper", config)
    _, bots = await world.control("GET", "/_sim/chatbots")
    assert [(b["chatbot_id"], b["app_id"]) for b in bots] == [(CHATBOT_ID, credentials["appId"])]


# ---------------------------------------------------------------- delete, routing, reset


@pytest.mark.asyncio
async def test_delete_customer_takes_delete_only(world: World) -> None:
    csp = world.csp
    await csp.login()
    csp_ec_no = await approved_customer(csp)
    status, _ = await csp.request("/deleteCustomer", {"cspEcNo": csp_ec_no})
    assert status == 405
    assert (await customer_status(csp, csp_ec_no))["auditStatus"] == 1
    assert await csp.ok("/deleteCustomer", {"cspEcNo": csp_ec_no}, method="DELETE") is None
    await csp.refused("/selectCspCustomer", {"cspEcNo": csp_ec_no}, 40401)
    await csp.refused("/deleteCustomer", {"cspEcNo": csp_ec_no}, 40401, method="DELETE")
    status, _ = await csp.request("/Chatbot/nothingHere", {})
    assert status == 404
    assert (await world.sim_csp())["customers"] == []


@pytest.mark.asyncio
async def test_reset_with_csp_forgets_the_applications_and_their_accounts(world: World) -> None:
    csp, developer = world.csp, world.developer
    await csp.login()
    access_tag_no = await approved_chatbot(csp)
    config = {"agreement": "1", "token": DEV_TOKEN, "url": developer.root, "accessTagNo": access_tag_no,
              "enable": "1"}
    await csp.ok("/developerConfiguration/updateDeveloper", config)
    await world.control("PUT", "/_sim/audit", {"customers": "hold"})

    assert await world.control("POST", "/_sim/reset", {}) == (200, {"status": "reset"})
    view = await world.sim_csp()
    assert (len(view["customers"]), len(view["chatbots"]), view["calls"]) == (1, 1, [])
    assert (await chatbot_status(csp, access_tag_no))["auditStatus"] == 0  # still there, the token kept

    await world.control("POST", "/_sim/reset", {"csp": True})
    view = await world.sim_csp()
    assert (view["customers"], view["chatbots"], view["files"]) == ([], [], 0)
    assert (await world.control("GET", "/_sim/chatbots"))[1] == []
    assert (await world.control("GET", "/_sim/audit"))[1]["customers"] == "approve"
    await csp.refused("/Chatbot/selectChatbot", {"accessTagNo": access_tag_no}, 42001)
    # The chatbotId is free again for a new application.
    await csp.login()
    assert (await chatbot_status(csp, await approved_chatbot(csp)))["chatbotId"] == CHATBOT_ID


def test_settings_validate_the_csp_fields() -> None:
    settings = SimulatorSettings(csp_path="cspApi/v2/", path_prefix="maap")
    assert (settings.csp_path, settings.csp_id, settings.audit_customers) == ("/cspApi/v2", "C1210000XX", "approve")
    bad: list[dict[str, Any]] = [
        {"csp_id": ""},
        {"csp_access_key": " key"},
        {"csp_path": "/"},
        {"csp_path": "/_sim/csp"},
        {"audit_customers": "maybe"},
        {"audit_chatbots": "later"},
        {"developer_verify_delay_seconds": -1},
    ]
    for overrides in bad:
        with pytest.raises(ValueError, match=next(iter(overrides))):
            SimulatorSettings(**overrides)


@pytest.mark.asyncio
async def test_the_api_moves_with_path_prefix_and_csp_path(make_world: WorldFactory) -> None:
    world = await make_world(path_prefix="maap", csp_path="/ispApi/v1", csp_id="C8880000YY", csp_access_key="k2")
    csp = CspClient(world.carrier.base_url + "/maap/ispApi/v1", world.carrier.session)
    headers = signed(access_key="k2")
    status, answer = await csp.request("/accessToken", {"cspId": "C8880000YY", "accessKey": "k2"}, headers=headers,
                                       auth=False)
    assert (status, answer["code"]) == (200, 0)
    status, _ = await world.csp.request("/accessToken", {"cspId": "C8880000YY", "accessKey": "k2"}, auth=False)
    assert status == 404  # nothing at the default mount point
