"""Every wire fact the aggregator simulator relies on, with its source.

§ numbers refer to /work/shared/reference/protocols.md; "choices" means the "Third-party aggregator"
section of docs/protocol-choices.md. Stated facts come first; everything decided here or in the
choices document is marked ``[invented]`` (a made-up API detail) or ``[I]`` (read between the lines
of a source), so a reviewer can check all guesses in one place.
"""

from __future__ import annotations

from typing import Final

# --- stated by the reference ------------------------------------------------------------------

# §3.3.2: content types of messageList items (the aggregator's send body reuses them, choices).
CT_TEXT: Final = "text/plain"
CT_BOTMESSAGE: Final = "application/vnd.gsma.botmessage.v1.0+json"
CT_BOTSUGGESTION: Final = "application/vnd.gsma.botsuggestion.v1.0+json"
CT_FILE: Final = "application/vnd.gsma.rcs-ft-http"
# §3.3.2: the only contentEncoding the examples show.
ENCODINGS: Final = frozenset({"utf8"})
# §3.3.2 (easy5g): an rcs-ft-http list holds at most a file and a thumbnail; the file is mandatory.
FILE_ENTRY_TYPES: Final = frozenset({"file", "thumbnail"})
MAX_FILE_ENTRIES: Final = 2

# §3.6 (Submail): event names and the final statuses of a Message event (§3.5 gives their meaning).
EVENT_MESSAGE: Final = "Message"
EVENT_INVOKE: Final = "Invoke"
ST_DELIVERED: Final = "DeliveredToTerminal"
ST_IMPOSSIBLE: Final = "DeliveryImpossible"
ST_SMS: Final = "SMS"
ST_MMS: Final = "MMS"
ST_REVOKED: Final = "Revoked"
ST_REVOKE_FAILED: Final = "RevokeFailed"
# §3.6: Submail event timestamps are "yyyy-MM-dd HH:mm:ss"; choices: Beijing time (UTC+8).
TIMESTAMP_FORMAT: Final = "%Y-%m-%d %H:%M:%S"
BEIJING_UTC_OFFSET_HOURS: Final = 8

# §3.6 (Dahantc): MO push envelope; replyType 1 = text (a geo URI is text too).
MO_RESULT: Final = "0"
MO_DESC: Final = "成功"
REPLY_TYPE_TEXT: Final = 1

# §1.1 / §3.3.6: geo text is a geo URI with crs=gcj02 and a percent-encoded rcs-l label.
GEO_CRS: Final = "gcj02"

# --- choices document: invented API, inferred event details -------------------------------------

# [invented] choices: request auth headers and the freshness window of X-Timestamp (seconds).
H_APPID: Final = "X-Appid"
H_TIMESTAMP: Final = "X-Timestamp"
H_SIGNATURE: Final = "X-Signature"
TIMESTAMP_SKEW_SECONDS: Final = 300.0

# [invented] choices: API paths under the configured base.
PATH_SEND: Final = "/rcs/send"
PATH_CAPABILITY: Final = "/rcs/capability"
PATH_REVOKE: Final = "/rcs/revoke"

# [invented] choices: error codes of the send API.
CODE_BAD_SIGNATURE: Final = "101"
CODE_STALE_TIMESTAMP: Final = "102"
CODE_UNKNOWN_ACCOUNT: Final = "103"  # unknown appid, or a chatbot that is not the appid's
CODE_INVALID_NUMBER: Final = "201"
CODE_TOO_MANY_NUMBERS: Final = "202"
CODE_CONTENT_REFUSED: Final = "301"
CODE_RATE_LIMITED: Final = "429"
CODE_INTERNAL: Final = "500"
# choices: `to` holds at most 200 numbers.
MAX_NUMBERS: Final = 200

# [I] choices name HTTP 429 and HTTP 500 only for codes 429 and 500, so every other error is a
# business answer with HTTP 200, as Submail-style APIs do (`{"status":"error",...}`).
HTTP_BUSINESS_ERROR: Final = 200

# [invented] Check order and the code of each missing piece: X-Appid missing/unknown -> 103;
# X-Timestamp missing, not decimal seconds (milliseconds are simply far off) or > skew -> 102;
# X-Signature missing or wrong (hex case ignored) -> 101; then Content-Type not application/json,
# a body that is not a JSON object, or more than max_body_bytes (HTTP 413) -> 301; then the TPS
# limit (429); then the fields in the order chatbot (missing 301, not the appid's 103), to (201/202),
# messageList, sms, client_ref (301). Faults are injected in front of all of it, like a proxy.

# [invented] sendID is 32 lowercase hex (choices); MO msgid is 32 hex too, conversationId and
# contributionId are UUIDs.

# [I] choices: MessageDisplayed is the read report (Submail only lists final statuses).
ST_DISPLAYED: Final = "MessageDisplayed"

# [I] §3.6 only shows `{"event":"Invoke", ... "status"}`; the elided fields are taken to be those of
# the Message event: {"event","sendID","to","status","timestamp"} in that order.
INVOKE_FIELDS: Final = ("event", "sendID", "to", "status", "timestamp")

# [I] choices: replyType 2 = suggestion response; replyContent is the JSON text of the GSMA
# response object (§2.3).
REPLY_TYPE_SUGGESTION: Final = 2

# [I] MO `inReplyTo` carries the sendID of the downlink the user answers (the only id a CSP holds for
# an aggregator send); "" when the MO answers nothing. `conversationId` then follows that send.
NO_REPLY_TO: Final = ""

# [invented] Pushes carry X-Appid as well, so one webhook can serve several appids.
PUSH_CARRIES_APPID: Final = True

# [invented] Body rules the choices leave open; each is a check a real gateway plausibly makes:
# - unknown top-level keys (or keys inside `sms` / a messageList item) are refused with 301, so a
#   misspelt field (`smsContent`, `destinationAddress`) cannot be silently ignored;
# - `to` repeats are collapsed (one send_list entry per distinct number, first order kept);
# - a messageList holds at most one item per contentType and at least one item that is not a
#   botsuggestion (chips attach to a message);
# - JSON content types carry `contentText` as a JSON object/array, never as a JSON string;
# - `client_ref` is optional (no idempotency without it) and at most CLIENT_REF_MAX characters;
# - `sms: null` is taken as absent; `sms.content` must be a non-empty string of at most SMS_MAX chars.
CLIENT_REF_MAX: Final = 128
SMS_MAX: Final = 1000
REQUEST_KEYS: Final = frozenset({"chatbot", "to", "messageList", "sms", "client_ref"})
ITEM_KEYS: Final = frozenset({"contentType", "contentEncoding", "contentText"})
FILE_ENTRY_KEYS: Final = frozenset({"type", "url", "contentType", "fileSize", "fileName", "until"})

# [invented] Revoke of an unknown sendID (or another appid's) answers 301 with this text; a repeated
# revoke of a revoked send pushes Revoked again (a retried revoke gets the same outcome).
UNKNOWN_SEND_ID_TEXT: Final = "unknown sendID"

# [I] A send is pending for delivered_delay_ms; then the handset's capability at that moment decides:
# rcs -> DeliveredToTerminal, MessageDisplayed after displayed_delay_ms; sms_only with sms ->
# SMS; anything else -> DeliveryImpossible. Only a pending send can be revoked: a delivered, SMS or
# failed one answers RevokeFailed (§6.11: revoke is only possible before delivery).

# [invented] TPS limit counts /rcs/send requests per appid in a one-second token bucket (capability
# queries and revokes are not throttled).

# [I] Capability query: only an "rcs" handset answers rcs=true; an unreachable one answers false.

# [invented] Injected 5xx: 500 is the API's own JSON error (code 500); 502/503/504 come from an nginx
# in front of it as HTML pages (nginx pages were seen on carrier test beds, §6.15).
NGINX_REASONS: Final = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}
BURST_STATUSES: Final = (500, 502, 503)

# [invented] Request body limit of the simulated gateway.
MAX_BODY_BYTES: Final = 4 * 1024 * 1024

# [I] The mobile prefixes of the three carriers (MIIT number plan, longest prefix wins). Numbers of
# other ranges (China Broadnet 192, satellite 1349/1740, IoT 14x data ranges) are not served: 201.
CARRIER_PREFIXES: Final = {
    "cmcc": (
        "134", "135", "136", "137", "138", "139", "147", "148", "150", "151", "152", "157", "158", "159",
        "165", "172", "178", "182", "183", "184", "187", "188", "195", "197", "198",
        "1703", "1705", "1706",
    ),
    "cucc": (
        "130", "131", "132", "145", "146", "155", "156", "166", "167", "171", "175", "176", "185", "186", "196",
        "1704", "1707", "1708", "1709",
    ),
    "ctcc": (
        "133", "149", "153", "162", "173", "174", "177", "180", "181", "189", "190", "191", "193", "199",
        "1700", "1701", "1702",
    ),
}  # fmt: skip
NOT_SERVED_PREFIXES: Final = ("1349", "1740")

# --- media (素材) and templates (模板): choices "Media (素材) upload and audit", "Templates" ---------

# §3.6 (Submail): the audit events; status "0" pass, "1" reject; media valid 7 days.
EVENT_MEDIA: Final = "Media"
EVENT_TEMPLATE: Final = "Template"
AUDIT_APPROVED: Final = "0"
AUDIT_REJECTED: Final = "1"
MEDIA_TTL_SECONDS: Final = 7 * 24 * 3600.0
# [I] §3.6 shows "expired":"2024-04-10T11:45:33Z": ISO 8601 UTC to the second.
EXPIRED_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"
# [I] §3.6 ids are 6 alphanumerics ("ZjU3eu", "S49Ecf").
AUDIT_ID_LENGTH: Final = 6

# [invented] choices: upload and template paths under the configured base; multipart part names.
PATH_MEDIA: Final = "/rcs/media"
PATH_TEMPLATE: Final = "/rcs/template"
PART_CHATBOT: Final = "chatbot"
PART_FILE: Final = "file"
PART_THUMBNAIL: Final = "thumbnail"
MEDIA_PARTS: Final = frozenset({PART_CHATBOT, PART_FILE, PART_THUMBNAIL})
TEMPLATE_KEYS: Final = frozenset({"chatbot", "name", "messageList"})
TEMPLATE_NAME_MAX: Final = 100

# [invented] A file (or thumbnail) part over the size limit: code 302, HTTP 200 like every business
# error; a whole upload body over the read limit (2 x the size limit + MULTIPART_OVERHEAD) is
# refused before auth with the same code and HTTP 413, as an oversized send is with 301.
CODE_FILE_TOO_LARGE: Final = "302"
MEDIA_MAX_BYTES: Final = 10 * 1024 * 1024
MULTIPART_OVERHEAD: Final = 64 * 1024

# [invented] Types the aggregator takes, as the carriers behind it do (choices: CMCC takes JPG/PNG/GIF
# images, AMR/MP3/M4A audio, MP4 video): declared content type -> URL extension. Aliases seen in
# the wild (image/jpg, audio/mp3, audio/x-m4a) are taken too. A thumbnail must be an image. Any
# other type is refused with 301.
IMAGE_TYPES: Final = {"image/jpeg": "jpg", "image/jpg": "jpg", "image/png": "png", "image/gif": "gif"}
MEDIA_TYPES: Final = {
    **IMAGE_TYPES,
    "audio/amr": "amr",
    "audio/mpeg": "mp3",
    "audio/mp3": "mp3",
    "audio/mp4": "m4a",
    "audio/m4a": "m4a",
    "audio/x-m4a": "m4a",
    "video/mp4": "mp4",
}
# [invented] A part declared application/octet-stream (or with no Content-Type) is typed by the
# extension of its filename.
EXTENSION_TYPES: Final = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "amr": "audio/amr",
    "mp3": "audio/mpeg",
    "m4a": "audio/mp4",
    "mp4": "video/mp4",
}
UNTYPED: Final = frozenset({"", "application/octet-stream"})

# [invented] Issued URLs are hosted by the simulator: {base}/s/{id}.{ext}, the thumbnail
# {base}/s/{id}-thumb.{ext}; {base} is scheme://host:port (+ path prefix) as the upload request saw it.
DOWNLOAD_PATH: Final = "/s"
THUMBNAIL_SUFFIX: Final = "-thumb"

# [invented] Automatic rejections even when the policy approves: bytes that do not start like the
# declared type, and a template whose text (any string or key anywhere in its messageList) holds the
# forbidden word.
FORBIDDEN_WORD: Final = "违禁"
MISMATCH_REASON: Final = "file content does not match its declared type {content_type}"
FORBIDDEN_REASON: Final = "template text contains the forbidden word 违禁"
DEFAULT_REJECT_REASON: Final = "rejected by the audit"

# [invented] A send (or a template) naming a URL this simulator issued that is not approved (pending,
# rejected, expired) is refused with 301, text after CTCC's 40007 (§3.3.2): the state and the URL.
# A URL issued to another chatbot is refused the same way (materials are per chatbot, choices).
UNAPPROVED_URL_TEXT: Final = "media url not approved ({state}): {url}"
FOREIGN_URL_TEXT: Final = "media url belongs to another chatbot: {url}"

# [invented] Upload check order, after the auth of every request (103/102/101): Content-Type not
# multipart/form-data or a malformed body -> 301; unknown or repeated parts -> 301; chatbot (missing
# 301, not the appid's 103); file missing or empty -> 301; a type not taken -> 301; over the size
# limit -> 302; then the thumbnail the same way. Bytes that do not match the type pass here and are
# rejected by the audit. A part's filename is decoded (RFC 5987 filename*, else percent-decoding as
# aiohttp's FormData encodes it); a file without one is stored as "file.<ext>".
