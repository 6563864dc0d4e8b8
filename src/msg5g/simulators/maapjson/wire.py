"""CT/CU "Chatbot 接口" JSON wire format: addresses, answers, notification bodies and signatures.

Built from protocols.md §3.3 and protocol-choices.md only (never from the platform's adapter), so
a wrong adapter and this simulator cannot share a mistake. Answers are small fixed shapes dumped
with orjson; key order follows the captured answers, since a reader may compare them by eye.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import orjson

from .constants import (
    CHATBOT_DOMAINS,
    CHECK_APPROVED,
    CHECK_REJECTED,
    CHECK_TYPE_INFO,
    CHECK_TYPE_MEDIA,
    CUCC_ANSWER_CONTENT_TYPE,
    CUCC_TOTAL_COUNT,
    DELETE_TOTAL_COUNT,
    E_DELETE_UNKNOWN,
    E_OK,
    E_PARAM,
    GEO_CRS,
    HTTP_BUSINESS_ERROR,
    MSG_BAD_URI,
    MSG_DELETE_UNKNOWN,
    MSG_ID_NOT_DIGITS,
    MSG_PARAM,
    MSG_SUCCESS,
    NGINX_REASONS,
    REMARK_INFO,
    REMARK_MEDIA,
    UNTIL_NULL,
    Dialect,
)

ErrorCode = int | str


class WireError(Exception):
    """A request the MaaP answers with a non-zero errorCode."""

    def __init__(self, code: int, message: str, *, status: int = HTTP_BUSINESS_ERROR, auth: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        # §3.3.2: "on auth errors [the ids] are null".
        self.auth = auth


def param_error(detail: str) -> WireError:
    return WireError(E_PARAM, MSG_PARAM.format(detail=detail))


def code_of(dialect: Dialect, code: int) -> ErrorCode:
    """choices "errorCode type": CTCC answers strings, CUCC integers."""
    return str(code) if dialect == "ctcc" else code


# --- addresses --------------------------------------------------------------------------------

_CN_MOBILE_TEL = re.compile(r"^tel:\+861\d{10}$")
_NUMBER = re.compile(r"^\+?\d{5,15}$")


def chatbot_uri(chatbot_id: str, dialect: Dialect) -> str:
    return f"sip:{chatbot_id}@{CHATBOT_DOMAINS[dialect]}"


def parse_chatbot_uri(uri: str, dialect: Dialect) -> str:
    """`sip:{digits}@{dialect domain}` -> the digits; WireError 20002 with CTCC's texts (§0) else."""
    domain = CHATBOT_DOMAINS[dialect]
    user, at, host = uri.partition("@")
    if not user.startswith("sip:") or not at or host != domain:
        raise WireError(E_PARAM, MSG_BAD_URI.format(domain=domain))
    chatbot_id = user[4:]
    if not chatbot_id.isdigit():
        raise WireError(E_PARAM, MSG_ID_NOT_DIGITS)
    return chatbot_id


def peek_chatbot_id(uri: str) -> str | None:
    user, at, _ = uri.partition("@")
    if user.startswith("sip:") and at and user[4:].isdigit():
        return user[4:]
    return None


def is_cn_mobile_tel(value: object) -> bool:
    """§3.3.2: recipients are tel URIs of Chinese mobile numbers, `tel:+861xxxxxxxxxx`."""
    return isinstance(value, str) and _CN_MOBILE_TEL.match(value) is not None


def normalize_number(value: str) -> str | None:
    """Any user address form -> "+86..." (E.164); bare 11-digit numbers are taken as Chinese."""
    text = value.strip()
    if text.lower().startswith("tel:"):
        text = text[4:]
    elif text.lower().startswith("sip:"):
        text = text[4:].partition("@")[0]
    text = text.replace(" ", "").replace("-", "")
    if not _NUMBER.match(text):
        return None
    if text.startswith("+"):
        return text
    if len(text) == 11 and text.startswith("1"):
        return "+86" + text
    return "+" + text


def tel_uri(number: str) -> str:
    return "tel:" + number


# --- time, ids, signatures --------------------------------------------------------------------


def iso_utc(ts: float | None = None) -> str:
    """choices "Inbound dateTime": ISO 8601 UTC with Z."""
    moment = datetime.fromtimestamp(time.time() if ts is None else ts, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_seconds(ts: float) -> str:
    """§3.3.4 `until`: ISO 8601 UTC to the second, `2021-02-12T11:10:37Z`."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id() -> str:
    return str(uuid.uuid4())


def ctcc_token(app_id: str) -> str:
    """§3.3.1 [I]: CTCC's value is `accessToken ` + base64(appId:hex-sha256), opaque to clients."""
    digest = hashlib.sha256(f"{app_id}:{secrets.token_hex(16)}:{time.time_ns()}".encode()).hexdigest()
    return "accessToken " + base64.b64encode(f"{app_id}:{digest}".encode()).decode("ascii")


def cucc_token() -> str:
    """§3.3.1: CUCC answers a bare UUID."""
    return str(uuid.uuid4())


def new_nonce() -> str:
    """choices "Notification signature": random alphanumerics."""
    return secrets.token_hex(8)


def notify_signature(token: str, timestamp: str, nonce: str) -> str:
    """choices: hex(sha256(sorted([token, timestamp, nonce]) joined with ""))."""
    return hashlib.sha256("".join(sorted((token, timestamp, nonce))).encode("utf-8")).hexdigest()


def signed_headers(token: str) -> dict[str, str]:
    timestamp = str(time.time_ns() // 1_000_000)
    nonce = new_nonce()
    return {"signature": notify_signature(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}


# --- answers ----------------------------------------------------------------------------------


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def send_answer(
    dialect: Dialect,
    code: int,
    message: str,
    message_id: str | None,
    conversation_id: str | None,
    contribution_id: str | None,
) -> bytes:
    """§3.3.2 answer (success and error share the shape; CTCC puts the ids first)."""
    if dialect == "ctcc":
        return dumps(
            {
                "messageId": message_id,
                "conversationId": conversation_id,
                "contributionId": contribution_id,
                "errorCode": str(code),
                "errorMessage": message,
            }
        )
    return dumps(
        {
            "errorCode": code,
            "errorMessage": message,
            "messageId": message_id,
            "conversationId": conversation_id,
            "contributionId": contribution_id,
        }
    )


def revoke_answer(dialect: Dialect, code: int, message: str, message_id: str | None) -> bytes:
    """§3.3.3: CTCC {messageId, errorCode, errorMessage}; CUCC adds null conversation ids."""
    if dialect == "ctcc":
        return dumps({"messageId": message_id, "errorCode": str(code), "errorMessage": message})
    return dumps(
        {
            "errorCode": code,
            "errorMessage": message,
            "messageId": message_id,
            "conversationId": None,
            "contributionId": None,
        }
    )


def token_answer(dialect: Dialect, token: str, expires: int, url: str) -> bytes:
    """§3.3.1 success shapes."""
    if dialect == "ctcc":
        return dumps({"accessToken": token, "expires": expires, "url": url, "errorCode": "0"})
    return dumps({"errorCode": 0, "errorMessage": None, "accessToken": token, "expires": expires, "url": url})


def plain_error(dialect: Dialect, code: int, message: str) -> bytes:
    """§3.3.1 / §3.3.4 error shape of calls without message ids."""
    return dumps({"errorCode": code_of(dialect, code), "errorMessage": message})


def success_answer(dialect: Dialect) -> bytes:
    """§2.5 (TestBjdx `chatbotMenu`): `{"errorCode":0,"errorMessage":"success"}`, typed per dialect."""
    return plain_error(dialect, E_OK, MSG_SUCCESS)


def file_info(
    dialect: Dialect, url: str, file_name: str, content_type: str, size: int, until: float | None
) -> dict[str, Any]:
    """One `fileInfo` entry of an upload answer (§3.3.4), key order as captured.

    CTCC shows `until` first and only for temp files; CUCC always lists it (null for perm), says
    `contentType "*/*"` whatever was sent, and carries the (empty) hash fields of its model.
    """
    until_text = iso_seconds(until) if until is not None else None
    if dialect == "ctcc":
        head = {"until": until_text} if until_text is not None else {}
        return {**head, "url": url, "fileName": file_name, "contentType": content_type, "fileSize": size}
    return {
        "url": url,
        "fileName": file_name,
        "contentType": CUCC_ANSWER_CONTENT_TYPE,
        "fileSize": size,
        "until": until_text,
        "fileHashAlgorithm": None,
        "fileHashValue": None,
    }


def upload_answer(dialect: Dialect, info: dict[str, Any], file_count: int) -> bytes:
    """§3.3.4: CTCC `{"errorCode","fileInfo"}`; CUCC adds errorMessage, fileCount and totalCount."""
    if dialect == "ctcc":
        return dumps({"errorCode": code_of(dialect, E_OK), "fileInfo": [info]})
    return dumps(
        {
            "errorCode": E_OK,
            "errorMessage": None,
            "fileCount": file_count,
            "totalCount": CUCC_TOTAL_COUNT,
            "fileInfo": [info],
        }
    )


def delete_answer(dialect: Dialect, mode: str, file_count: int) -> bytes:
    """§3.3.4 delete of a known url."""
    return dumps(
        {
            "deleteMode": mode,
            "errorCode": code_of(dialect, E_OK),
            "errorMessage": MSG_SUCCESS,
            "fileCount": file_count,
            "totalCount": DELETE_TOTAL_COUNT,
        }
    )


def delete_unknown_answer(dialect: Dialect) -> bytes:
    """§3.3.4 delete of a url the MaaP does not hold, as captured (errorMessage "9")."""
    return dumps(
        {
            "deleteMode": None,
            "errorCode": code_of(dialect, E_DELETE_UNKNOWN),
            "errorMessage": MSG_DELETE_UNKNOWN,
            "fileCount": None,
            "totalCount": None,
        }
    )


def spring_error(status: int, error: str, message: str, path: str) -> bytes:
    """Spring Boot's JSON error page, which carried CUCC's UT000054 text (§3.3.4)."""
    moment = datetime.now(UTC)
    timestamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+00:00"
    return dumps({"timestamp": timestamp, "status": status, "error": error, "message": message, "path": path})


def nginx_page(status: int) -> bytes:
    reason = NGINX_REASONS.get(status, "Error")
    title = f"{status} {reason}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


# --- notification bodies (§3.3.6) --------------------------------------------------------------


def status_body(
    dialect: Dialect,
    message_id: str,
    status: str,
    user: str,
    chatbot: str,
    error: tuple[int, str] | None,
) -> bytes:
    """One deliveryInfo; the user in senderAddress, the chatbot in destinationAddress (choices)."""
    info: dict[str, Any] = {
        "messageId": message_id,
        "dateTime": iso_utc(),
        "status": status,
        "senderAddress": user,
        "destinationAddress": chatbot,
    }
    if error is not None:
        info["errorCode"] = code_of(dialect, error[0])
        info["errorMessage"] = error[1]
    return dumps({"deliveryInfoList": [info]})


def geo_uri(lat: float, lon: float, label: str | None, radius: float | None) -> str:
    """§3.3.6 geo text: `geo:22.5385,114.0572;crs=gcj02;rcs-l=<percent-encoded label>`."""
    uri = f"geo:{lat!r},{lon!r};crs={GEO_CRS}"
    if radius is not None:
        uri += f";u={int(radius) if float(radius).is_integer() else radius}"
    if label:
        uri += ";rcs-l=" + quote(label, safe="")
    return uri


def check_body(
    dialect: Dialect,
    *,
    approved: bool,
    description: str,
    segment: str,
    url: str,
    file_name: str,
    content_type: str,
    size: int,
    until: float | None,
) -> bytes:
    """§3.3.6 / choices "CT/CU audit result": a media `check`; result 0 approved, 1 rejected.

    The fileInfo repeats the upload answer's view of the file; a perm file's `until` is the string
    "null" (rcs-web warns the carrier sends that).
    """
    shown_type = CUCC_ANSWER_CONTENT_TYPE if dialect == "cucc" else content_type
    return dumps(
        {
            "type": CHECK_TYPE_MEDIA,
            "result": code_of(dialect, CHECK_APPROVED if approved else CHECK_REJECTED),
            "description": description,
            "time": iso_utc(),
            "remark": REMARK_MEDIA + segment,
            "fileInfo": {
                "url": url,
                "fileName": file_name,
                "contentType": shown_type,
                "fileSize": size,
                "until": iso_seconds(until) if until is not None else UNTIL_NULL,
            },
        }
    )


def info_check_body(dialect: Dialect, *, approved: bool, description: str) -> bytes:
    """§3.3.6 / choices "Their audit": the `check` of an information or menu update."""
    return dumps(
        {
            "type": CHECK_TYPE_INFO,
            "result": code_of(dialect, CHECK_APPROVED if approved else CHECK_REJECTED),
            "description": description,
            "time": iso_utc(),
            "remark": REMARK_INFO,
        }
    )


def information_change_body(chatbot_id: str, status: str, description: str) -> bytes:
    """choices: `notice/informationChange` when the carrier takes a chatbot offline or back online."""
    return dumps({"chatbotId": chatbot_id, "status": status, "description": description})
