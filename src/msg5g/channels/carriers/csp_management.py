"""The CT/CU CSP management API (protocols.md §3.4): the enterprise as the carrier's customer, the
chatbot applied for, brought online and given its developer credentials.

Calls, headers and codes are those of docs/protocol-choices.md "CSP management"; the audit queries
(`auditStatus` in `selectCspCustomer`, `Chatbot/selectChatbot`) are its [I] readings. One client per
adapter; the CSP token is cached per channel.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
import orjson

from msg5g.channels.base import ChannelEndpoint
from msg5g.channels.tokens import TokenCache
from msg5g.domain.applications import (
    CarrierAudit,
    ChatbotFiling,
    CustomerFiling,
    DeveloperCredentials,
    DocumentFile,
    DocumentKind,
)
from msg5g.domain.errors import ChannelAuthError, PermanentChannelError, TransientChannelError

BEIJING = timezone(timedelta(hours=8))
TOKEN_LIFETIME_SECONDS = 7200.0  # [I] rcs-web caches the CSP token this long
TOKEN_EXPIRED = 42001
REFUSED_CREDENTIALS = {41001, 41002}
TRANSIENT = {-1}
# uploadType of each enterprise document (protocol-choices.md): 0 picture, 1 identity card, 2 contract.
UPLOAD_TYPE = {DocumentKind.LICENCE: "0", DocumentKind.LOGO: "0", DocumentKind.ID_CARD_FRONT: "1",
               DocumentKind.ID_CARD_BACK: "1", DocumentKind.CONTRACT: "2"}
CHATBOT_LOGO, CHATBOT_BACKGROUND = "0", "1"
# rcs-platform's audit states (§3.4): -2 rejected, -1 at audit, 0 approved and offline, 1 online;
# a customer is 1 once approved.
AUDIT_REJECTED, AUDIT_PENDING = -2, -1
_NONCE_ALPHABET = string.ascii_letters + string.digits


def _stamp(moment: datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%Y%m%d%H%M%S")


def signed_headers(access_key: str, token: str | None = None) -> dict[str, str]:
    """§3.4: timestamp (UTC+8), nonce = timestamp + 8 random characters, md5(accessKey + nonce + timestamp)."""
    timestamp = _stamp(datetime.now(UTC))
    nonce = timestamp + "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(8))
    # The carrier's scheme: md5 is what it checks, not our choice of hash.
    signature = hashlib.md5((access_key + nonce + timestamp).encode(), usedforsecurity=False).hexdigest()
    headers = {"timestamp": timestamp, "nonce": nonce, "signature": signature}
    if token is not None:
        headers["authorization"] = token
    return headers


def _date(value: Any) -> str:
    return f"{value:%Y%m%d}000000"


class CspManagementClient:
    def __init__(self, http: aiohttp.ClientSession, timeout: aiohttp.ClientTimeout) -> None:
        self._http = http
        self._timeout = timeout
        self._tokens = TokenCache()

    @staticmethod
    def refusal(endpoint: ChannelEndpoint) -> str | None:
        missing = [name for name in ("csp_api_url", "csp_id", "csp_access_key") if not endpoint.settings.get(name)]
        if missing:
            return f"the channel has no {', '.join(missing)}: set the CSP credentials to apply for chatbots here"
        return None

    def _config(self, endpoint: ChannelEndpoint) -> tuple[str, str, str]:
        refusal = self.refusal(endpoint)
        if refusal:
            raise PermanentChannelError(refusal)
        settings = endpoint.settings
        return str(settings["csp_api_url"]).rstrip("/"), str(settings["csp_id"]), str(settings["csp_access_key"])

    # ---- transport ----------------------------------------------------------------------------------

    async def _token(self, endpoint: ChannelEndpoint) -> str:
        base, csp_id, access_key = self._config(endpoint)

        async def fetch() -> tuple[str, float]:
            data = await self._exchange(f"{base}/accessToken", signed_headers(access_key),
                                        json_body={"cspId": csp_id, "accessKey": access_key})
            token = data.get("accessToken") if isinstance(data, Mapping) else None
            if not isinstance(token, str) or not token:
                raise TransientChannelError("the token answer carries no accessToken")
            return token, TOKEN_LIFETIME_SECONDS

        return await self._tokens.get((endpoint.channel_id, csp_id), fetch)

    async def call(self, endpoint: ChannelEndpoint, path: str, *, json_body: Mapping[str, Any] | None = None,
                   upload: tuple[str, DocumentFile] | None = None, method: str = "POST") -> Any:
        """One management call with the CSP token; a token the carrier calls expired is fetched again once."""
        base, csp_id, access_key = self._config(endpoint)
        for attempt in (1, 2):
            token = await self._token(endpoint)
            try:
                return await self._exchange(f"{base}{path}", signed_headers(access_key, token), json_body=json_body,
                                            upload=upload, method=method)
            except ChannelAuthError as exc:
                if exc.carrier_code != str(TOKEN_EXPIRED) or attempt == 2:
                    raise
                self._tokens.invalidate((endpoint.channel_id, csp_id), token)
        raise AssertionError("unreachable")

    async def _exchange(self, url: str, headers: dict[str, str], *, json_body: Mapping[str, Any] | None = None,
                        upload: tuple[str, DocumentFile] | None = None, method: str = "POST") -> Any:
        body: bytes | aiohttp.FormData
        if upload is not None:
            upload_type, document = upload
            headers = {**headers, "uploadType": upload_type}
            body = aiohttp.FormData()
            body.add_field("file", document.data, filename=document.name, content_type=document.content_type)
        else:
            headers = {**headers, "Content-Type": "application/json;charset=UTF-8"}
            body = orjson.dumps(json_body or {})
        try:
            async with self._http.request(method, url, data=body, headers=headers, timeout=self._timeout) as response:
                status, payload = response.status, await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise TransientChannelError(f"CSP management call failed: {type(exc).__name__}: {exc}") from exc
        try:
            answer = orjson.loads(payload) if payload else None
        except orjson.JSONDecodeError:
            answer = None
        if status >= 500 or status in {408, 429}:
            raise TransientChannelError(f"CSP management answered HTTP {status}", http_status=status)
        if not isinstance(answer, dict) or not isinstance(answer.get("code"), int):
            raise PermanentChannelError(f"CSP management answered HTTP {status} without a code: "
                                        f"{payload[:200].decode('utf-8', 'replace')}", http_status=status)
        code, message = answer["code"], str(answer.get("message") or "")
        if code == 0:
            return answer.get("data")
        detail = f"{code} {message}".strip()
        if code == TOKEN_EXPIRED or code in REFUSED_CREDENTIALS:
            raise ChannelAuthError(f"the carrier refused the CSP credentials: {detail}", carrier_code=str(code))
        if code in TRANSIENT:
            raise TransientChannelError(f"the carrier's own trouble: {detail}", carrier_code=str(code))
        raise PermanentChannelError(detail, carrier_code=str(code))

    async def _upload(self, endpoint: ChannelEndpoint, path: str, upload_type: str, document: DocumentFile,
                      key: str) -> str:
        data = await self.call(endpoint, path, upload=(upload_type, document))
        value = data.get(key) if isinstance(data, Mapping) else None
        if not isinstance(value, str) or not value:
            raise TransientChannelError(f"the upload answer carries no {key}")
        return value

    # ---- the customer -------------------------------------------------------------------------------

    async def register_customer(self, endpoint: ChannelEndpoint, filing: CustomerFiling) -> str:
        urls = {kind: await self._upload(endpoint, "/uploadFile", UPLOAD_TYPE[kind], document, "url")
                for kind, document in filing.files.items()}
        record = filing.record
        operator, legal, contract = record.operator, record.legal_person, record.contract
        register: dict[str, Any] = {"ecName": record.name, "businessType": record.industry, "ecGrade": 1}
        if filing.carrier_ref:
            register["cspEcNo"] = filing.carrier_ref
        identity = [urls[DocumentKind.ID_CARD_FRONT], urls[DocumentKind.ID_CARD_BACK]]
        body = {
            "rcsRegisterInfo": register,
            "rcsInfo": {
                "introduce": record.introduction, "serviceIcon": urls[DocumentKind.LOGO],
                "workPhone": record.work_phone, "businessLicense": urls[DocumentKind.LICENCE],
                "businessAddress": record.address, "province": record.province, "city": record.city,
                "area": record.area, "operatorName": operator.name, "operatorCard": operator.id_number,
                "operatorPhone": operator.phone, "emailAddress": str(operator.email),
                "operatorIdentityPic": identity,
            },
            "rcsContractInformation": {
                "contractNo": contract.number, "name": contract.name,
                "effectiveDate": _date(contract.effective_date), "expiryDate": _date(contract.expiry_date),
                "status": 1, "renewalDate": _date(contract.renewal_date) if contract.renewal_date else "",
                "accessory": urls[DocumentKind.CONTRACT],
            },
            "rcsLegalP": {"legalName": legal.name, "legalIdentification": legal.id_number,
                          "identificationStraight": identity[0], "identificationCounter": identity[1]},
        }
        path = "/cspCustomer/editcspCustomer" if filing.carrier_ref else "/cspCustomer/addcspCustomer"
        data = await self.call(endpoint, path, json_body=body)
        number = data.get("cspEcNo") if isinstance(data, Mapping) else None
        if filing.carrier_ref:
            return str(number or filing.carrier_ref)
        if not isinstance(number, str) or not number:
            raise TransientChannelError("addcspCustomer answered no cspEcNo")
        return number

    async def customer_audit(self, endpoint: ChannelEndpoint, customer_ref: str) -> CarrierAudit:
        data = await self.call(endpoint, "/selectCspCustomer", json_body={"cspEcNo": customer_ref})
        return _audit(data)

    # ---- the chatbot --------------------------------------------------------------------------------

    async def apply_chatbot(self, endpoint: ChannelEndpoint, filing: ChatbotFiling) -> str:
        _, csp_id, _ = self._config(endpoint)
        profile = filing.profile
        body: dict[str, Any] = {
            "cspId": csp_id, "cspEcNo": filing.customer_ref, "chatbotId": filing.chatbot_number,
            "serviceName": profile.service_name, "serviceDescription": profile.description,
            "SMSNumber": profile.sms_number or "", "autograph": filing.signature, "category": [profile.category],
            "provider": filing.provider or "", "showProvider": "1" if filing.provider else "0",
            "TCPage": str(profile.terms_url or ""), "emailAddress": str(profile.email or ""),
            "serviceWebsite": str(profile.website or ""), "callBackNumber": profile.service_phone or "",
            "address": profile.address or "", "ipWhiteList": list(filing.ip_whitelist),
        }
        if profile.longitude is not None and profile.latitude is not None:
            body["longitude"], body["latitude"] = profile.longitude, profile.latitude
        if filing.logo is not None:
            body["serviceIcon"] = await self._upload(endpoint, "/Chatbot/uploadChatbotFile", CHATBOT_LOGO,
                                                     filing.logo, "filePath")
        if filing.banner is not None:
            body["backgroundImage"] = await self._upload(endpoint, "/Chatbot/uploadChatbotFile", CHATBOT_BACKGROUND,
                                                         filing.banner, "filePath")
        data = await self.call(endpoint, "/Chatbot/addChatbot", json_body=body)
        tag = data.get("accessTagNo") if isinstance(data, Mapping) else None
        if not isinstance(tag, str) or not tag:
            raise TransientChannelError("addChatbot answered no accessTagNo")
        return tag

    async def chatbot_audit(self, endpoint: ChannelEndpoint, chatbot_ref: str) -> CarrierAudit:
        data = await self.call(endpoint, "/Chatbot/selectChatbot", json_body={"accessTagNo": chatbot_ref})
        return _audit(data)

    async def bring_online(self, endpoint: ChannelEndpoint, chatbot_ref: str) -> None:
        await self.call(endpoint, "/Chatbot/isOnlineUpdate", json_body={"accessTagNo": chatbot_ref, "type": 1})

    async def configure_developer(self, endpoint: ChannelEndpoint, chatbot_ref: str, callback_url: str,
                                  token: str) -> DeveloperCredentials:
        agreement = "2" if callback_url.startswith("https:") else "1"
        data = await self.call(endpoint, "/developerConfiguration/updateDeveloper", json_body={
            "agreement": agreement, "token": token, "url": callback_url, "accessTagNo": chatbot_ref, "enable": "1"})
        app_id = data.get("appId") if isinstance(data, Mapping) else None
        # The reference shows `appkey` in lower case; a carrier writing `appKey` is read too.
        app_key = (data.get("appkey") or data.get("appKey")) if isinstance(data, Mapping) else None
        if not isinstance(app_id, str) or not isinstance(app_key, str) or not app_id or not app_key:
            raise TransientChannelError("updateDeveloper answered no appId and appkey")
        return DeveloperCredentials(app_id=app_id, app_key=app_key)


def _audit(data: Any) -> CarrierAudit:
    status = data.get("auditStatus") if isinstance(data, Mapping) else None
    try:
        value = int(status) if status is not None else None
    except (TypeError, ValueError):
        value = None
    if value is None:
        raise TransientChannelError(f"the audit answer carries no auditStatus: {status!r}")
    opinion = data.get("auditOpinion")
    reason = str(opinion) if opinion not in (None, "") else None
    if value == AUDIT_REJECTED:
        return CarrierAudit("rejected", reason or "rejected by the carrier")
    if value == AUDIT_PENDING:
        return CarrierAudit("pending")
    return CarrierAudit("approved", reason, online=value == 1)
