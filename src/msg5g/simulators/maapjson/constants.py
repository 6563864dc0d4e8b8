"""Every wire fact the CTCC / CUCC JSON MaaP simulator relies on, with its source.

Section numbers (§) refer to /work/shared/reference/protocols.md; "choices" means
/work/main/docs/protocol-choices.md. Facts the reference states come first; everything the
simulator had to decide on its own is in the ``[I]`` block at the bottom, so a reviewer can check
all guesses in one place.
"""

from __future__ import annotations

from typing import Final, Literal

Dialect = Literal["ctcc", "cucc"]
DIALECTS: Final[tuple[Dialect, ...]] = ("ctcc", "cucc")

# --- stated by the reference (or fixed by protocol-choices.md) --------------------------------

# §0 / §3.1 / choices "Paths": chatbot URI is sip:{chatbotId}@{domain}.
CHATBOT_DOMAINS: Final[dict[Dialect, str]] = {
    "ctcc": "botplatform.rcs.vnet.cn",
    "cucc": "botplatform.rcs.chinaunicom.cn",
}
# §3.3: every call is {base}/bot/v1/{chatbotURI}/...
API_HEAD: Final = "/bot/v1/"

# §0, §2, §3.3.2: content types of messageList items (JSON flavour of FT-HTTP on CT/CU).
CT_TEXT: Final = "text/plain"
CT_BOTMESSAGE: Final = "application/vnd.gsma.botmessage.v1.0+json"
CT_BOTSUGGESTION: Final = "application/vnd.gsma.botsuggestion.v1.0+json"
CT_SUGGESTION_RESPONSE: Final = "application/vnd.gsma.botsuggestion.response.v1.0+json"
CT_SHARED_CLIENT_DATA: Final = "application/vnd.gsma.botsharedclientdata.v1.0+json"
CT_FTHTTP: Final = "application/vnd.gsma.rcs-ft-http"
DOWNLINK_CONTENT_TYPES: Final = frozenset({CT_TEXT, CT_BOTMESSAGE, CT_BOTSUGGESTION, CT_FTHTTP})

# §3.3.2: reportRequest values, and the statuses of §3.3.6 / choices "Status report addressing".
ST_SENT: Final = "sent"
ST_FAILED: Final = "failed"
ST_DELIVERED: Final = "delivered"
ST_DISPLAYED: Final = "displayed"
ST_TO_NETWORK: Final = "deliveredToNetwork"
ST_REVOKE_OK: Final = "revokeOk"
ST_REVOKE_FAIL: Final = "revokeFail"
REPORT_REQUESTS: Final = frozenset({ST_SENT, ST_FAILED, ST_DELIVERED, ST_DISPLAYED, ST_TO_NETWORK})
# §3.3.3: the only status a revoke request carries.
REVOKE_REQUESTED: Final = "RevokeRequested"

# §3.3.1: token lifetime in seconds.
TOKEN_TTL_SECONDS: Final = 7200
# choices "Token": the CTCC value already starts with this; CUCC clients prepend it.
TOKEN_PREFIX: Final = "accessToken "  # noqa: S105 - a scheme word, not a secret

# §3.3.2 / choices "Group sends": at most 100 recipients.
MAX_DESTINATIONS: Final = 100
# §3.4 (updateDeveloper): the developer token used for notification signatures is <= 16 chars.
NOTIFY_TOKEN_MAX: Final = 16

# §3.3.1, §3.3.2, §3.3.3, §3.3.4: error codes and texts as captured.
E_OK: Final = 0
E_UNKNOWN: Final = -1
E_PARAM: Final = 20002
E_SCHEMA: Final = 40008
E_TOKEN: Final = 40014
E_HEADER: Final = 41001
E_CONTENT_TEXT: Final = 83996
MSG_SUCCESS: Final = "success"
MSG_UNKNOWN: Final = "系统遇到未知异常,请与相关人员联系"
MSG_CONTENT_TYPE: Final = "参数异常(Http头域字段Content-Type  Null或缺失或不合法)"
MSG_NO_ACCEPT: Final = "请求头中Accept必须存在且有值"
MSG_NO_DATE: Final = "请求头中Date必须存在且有值"
# CTCC's text on /messages (§3.3.2); the media API and CUCC say "不合法的Token" (§3.3.4).
MSG_TOKEN: Final[dict[Dialect, str]] = {"ctcc": "不合法的accessToken", "cucc": "不合法的Token"}
MSG_CONTENT_TEXT_MISSING: Final = "二级必选节点contentText不存在"
# §2 (CTCC 40008 text): the prefix of every schema failure.
MSG_SCHEMA_PREFIX: Final = "JsonSchema解析json失败,"
# §0 (CTCC addChatbot): malformed chatbot ids.
MSG_BAD_URI: Final = "sip:chatbotId格式错误,chatBotId=(csp接入码+自定义号码)@{domain}"
MSG_ID_NOT_DIGITS: Final = "chatbotId参数只能为数字"

# choices "Rate limit" [I there]: HTTP 429 and 31008.
E_RATE_LIMIT: Final = 31008
HTTP_RATE_LIMIT: Final = 429
# choices "Ported-out number" [I there].
E_PORTED_OUT: Final = 40401
MSG_PORTED_OUT: Final = "用户非本网用户"

# choices "Notification paths" (§3.3.6); `{id}` is the bare digits.
PATH_STATUS: Final = "/deliveryNotification/{id}/status"
PATH_MESSAGE: Final = "/messageNotification/{id}/messages"
PATH_SPAM: Final = "/notifyInfoNotification/{id}/notice/rcsspam"
PATH_NOTIFY_PATH: Final = "/notifyPath"
# choices "notifyPath handshake": CUCC GET, CTCC POST.
NOTIFY_PATH_METHOD: Final[dict[Dialect, str]] = {"ctcc": "POST", "cucc": "GET"}

# §3.3.6 / choices: inbound geo is text/plain `geo:` with crs=gcj02.
GEO_CRS: Final = "gcj02"

# §3.3.1: the `url` of the token answer. CTCC showed a root with a trailing slash, CUCC without.
URL_TRAILING_SLASH: Final[dict[Dialect, bool]] = {"ctcc": True, "cucc": False}

# §3.3.4 (choices "CT/CU upload"): the media API, `{prefix}/bot/v1/{chatbotURI}/medias/...`.
ACTION_UPLOAD: Final = "medias/upload"
ACTION_DOWNLOAD: Final = "medias/download"
ACTION_DELETE: Final = "medias/delete"
UPLOAD_MODES: Final = ("perm", "temp")
# The multipart part that carries the file; a thumbnail is an upload of its own.
FILE_PART: Final = "file"
# §3.3.4: temp files live 3 days on CTCC, 30 days on CUCC; perm files carry no `until`.
MEDIA_TTL_SECONDS: Final[dict[Dialect, float]] = {"ctcc": 3 * 86400.0, "cucc": 30 * 86400.0}
# §3.3.4: CUCC's Undertow refuses a file part over 20971520 bytes with this text (HTTP 500).
MEDIA_MAX_BYTES: Final = 20 * 1024 * 1024
MSG_UT000054: Final = "UT000054: The maximum size {limit} for an individual file in a multipart request was exceeded"
# §3.3.4: the CUCC upload answer's constant fields.
CUCC_TOTAL_COUNT: Final = 10000
CUCC_ANSWER_CONTENT_TYPE: Final = "*/*"
# §3.3.4: the delete answers, as captured.
DELETE_TOTAL_COUNT: Final = 100
E_DELETE_UNKNOWN: Final = 1
MSG_DELETE_UNKNOWN: Final = "9"
# §3.3.4: the media API says "不合法的Token" on both carriers.
MSG_MEDIA_TOKEN: Final = "不合法的Token"  # noqa: S105 - an error text, not a secret
# §3.3.2 / §3.3.4: a downlink naming a media url that is not (yet) approved.
E_MEDIA_URL: Final = 40007
MSG_MEDIA_URL: Final = "不合法的媒体素材url（素材url暂未审核生效）{url}"
# §3.3.6 / choices "CT/CU audit result": the `check` notification of a media audit.
PATH_CHECK: Final = "/notifyInfoNotification/{id}/check"
CHECK_TYPE_MEDIA: Final = "media"
CHECK_APPROVED: Final = 0
CHECK_REJECTED: Final = 1
REMARK_MEDIA: Final = "media:"
# §3.3.6 (rcs-web: 局方可能传来"null"字符串): the `until` of a perm file in a check.
UNTIL_NULL: Final = "null"

# §3.3.5 / choices "Chatbot information and menus": the chatbot information API.
ACTION_UPDATE_OPTIONALS: Final = "update/chatBotInfo/optionals"
ACTION_UPDATE_MENU: Final = "update/chatBotInfo/menu"
ACTION_FIND_INFO: Final = "find/chatBotInfo"
# §2.5 (MenuJsonSchema.json): 1-5 entries on every level, at most two levels of sub-menus
# (menuL1, menuL2); a sub-menu's displayText is 1-25 characters like every suggestion's.
MENU_ENTRIES_MIN: Final = 1
MENU_ENTRIES_MAX: Final = 5
MENU_MAX_DEPTH: Final = 2
# §3.3.6 / choices: the `check` of an information or menu update, and the notice of a status change.
CHECK_TYPE_INFO: Final = "chatbotInformation"
REMARK_INFO: Final = "chatbotInformation"
PATH_INFO_CHANGE: Final = "/notifyInfoNotification/{id}/notice/informationChange"
# §2.6: `status` of the find/chatBotInfo document, 1 online, 0 offline.
STATUS_ONLINE: Final = 1
STATUS_OFFLINE: Final = 0
# choices: the automatic rejections of the simulated auditors (serviceDescription <= 150, §3.4).
SERVICE_DESCRIPTION_MAX: Final = 150
FORBIDDEN_WORD: Final = "违禁"
MSG_ICON_NOT_APPROVED: Final = "头像素材未审核"

# --- [I] inferred: not stated by the reference ------------------------------------------------

# [I] Business errors travel with HTTP 200 and the code in the body (the captured logs show bodies
# only; WeChat, whose 40014/41001/42001 codes this API reuses, answers errors with 200 too). Only
# the rate limit (choices) and injected 5xx pages use other HTTP statuses.
HTTP_BUSINESS_ERROR: Final = 200

# [I] Wrong appId/appKey on /accessToken: WeChat's "invalid credential" code, which the family of
# codes above (40014, 41001, 42001) comes from.
E_CREDENTIALS: Final = 40001
MSG_CREDENTIALS: Final = "不合法的appId或appKey"

# [I] Missing or ill-typed first-level fields (messageId, messageList, destinationAddress, booleans)
# are parameter errors, 20002 "参数异常(...)", like the CTCC management API's per-field 20002 texts
# (§3.4). A missing second-level node of a messageList item is 83996 with the node named, after the
# captured contentText text; broken rich content is 40008 with the schema prefix.
MSG_PARAM: Final = "参数异常({detail})"
MSG_NODE_MISSING: Final = "二级必选节点{name}不存在"
MSG_TOO_MANY: Final = "参数异常(destinationAddress最多支持{limit}个号码,实际{count}个)"

# [I] Over the per-chatbot TPS (choices fix only the code).
MSG_RATE_LIMIT: Final = "请求频率超过限制"

# [I] With no reportRequest (or an empty one) every status except `sent` is reported, as the CMCC
# simulator reports everything but MessageSent by default.
DEFAULT_REPORTS: Final = frozenset({ST_FAILED, ST_DELIVERED, ST_DISPLAYED, ST_TO_NETWORK})

# [I] errorCode / errorMessage of per-recipient failures in status reports (the reference lists
# the fields but no values). revokeOk/revokeFail are always reported, whatever reportRequest says.
E_NOT_CAPABLE: Final = 45001
MSG_NOT_CAPABLE: Final = "用户终端不支持5G消息且未开启短信回落"
E_OFFLINE: Final = 45002
MSG_OFFLINE: Final = "用户不在线且未要求离线存储"
E_REVOKE_FAIL: Final = 45003
MSG_REVOKE_FAIL: Final = "消息已送达或已结束,撤回失败"

# [I] A group send where only some recipients are ported out is accepted; those recipients get a
# `failed` report with E_PORTED_OUT. Only a send whose every recipient is ported out is refused.

# [I] A UP1.0 handset without smsSupported still receives the message (as UP1.0 chat) and reports
# sent/delivered/displayed, per §3.5's "[I] delivery to a UP1.0 terminal is DeliveredToTerminal".

# [I] Status reports use the dialect's errorCode type (strings on CTCC, integers on CUCC), like
# the answers. One deliveryInfo per notification (statuses are per recipient, choices).

# [I] The notifyPath request carries `chatbotId` as the bare digits (like the notification paths),
# and a 200 answer with both headers right is required; a JSON body (rcs-web's CTCC handler) does
# not count.

# [I] Revoking an unknown messageId is acknowledged (§3.3.3: CUCC acknowledged random ids) and, for
# each destinationAddress given, answered later with revokeFail. Revoking a recipient whose
# delivery already failed is revokeFail too (nothing is left to revoke).

# [I] Spam reports carry the reference's three fields plus senderAddress, destinationAddress and
# dateTime, so a CSP can tell who complained.

# [I] Inbound MO: contentEncoding "utf8"; file sizes are integers (as in upload answers, §3.3.4);
# dateTime ISO 8601 UTC with Z (choices). conversationId follows the replied-to downlink and
# inReplyTo carries its contributionId.

# [I] Every issued token stays valid until it expires (a fresh one does not revoke the old), so
# concurrent clients do not invalidate each other.
MAX_TOKENS: Final = 100_000

# [I] nginx-style page for injected 5xx; nginx pages were seen on test beds (§6.15).
NGINX_REASONS: Final = {
    404: "Not Found",
    405: "Not Allowed",
    413: "Request Entity Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}
BURST_STATUSES: Final = (500, 502, 503)

# [I] Body and parsing limits of the simulated MaaP.
MAX_BODY_BYTES: Final = 8 * 1024 * 1024

# [I] Hosted media, shaped like the reference's URLs (§3.3.4): CTCC under the `/maap_message/`
# root its token answer names, `/maap_message/bot/{temp|perm}/{volume},{key}.{ext}`; CUCC beside
# the API, `{prefix}/bot/v1/medias/fid/{18 digits}`. Both are on the simulator's own address as
# the upload request saw it.
CTCC_MEDIA_PATH: Final = "/maap_message/bot/{mode}/{id}{ext}"
CUCC_MEDIA_PATH: Final = "/bot/v1/medias/fid/{id}"

# [I] uploadMode missing: a permanent file (the mode every material of a template or card needs).
DEFAULT_UPLOAD_MODE: Final = "perm"

# [I] Multipart overhead beyond the file limit that is still read; a bigger body is refused as
# over-size without parsing it (nothing but the file part can be that large).
MULTIPART_SLACK_BYTES: Final = 1024 * 1024
MAX_MULTIPART_PARTS: Final = 20

# [I] CTCC over the size limit: a parameter error, like its other 20002 texts (choices).
MSG_MEDIA_TOO_LARGE: Final = "文件大小超过{limit}字节的限制"
MSG_NO_FILE: Final = "multipart中file文件不存在"
MSG_EMPTY_FILE: Final = "file文件内容为空"
MSG_NO_URL: Final = "请求头中url必须存在且有值"

# [I] Audit `description` texts; a policy or control call may name its own rejection reason.
MSG_AUDIT_OK: Final = "审核通过"
MSG_AUDIT_REJECTED: Final = "素材审核不通过"
MSG_TYPE_MISMATCH: Final = "文件内容与声明的类型{content_type}不符"

# [I] Memory bound of the media store (oldest uploads are forgotten first).
MAX_MEDIA: Final = 10_000

# [I] Chatbot information (choices "Chatbot information and menus" fix the shapes, not the texts).
MSG_INFO_REJECTED: Final = "Chatbot信息审核不通过"
MSG_NO_ICON: Final = "Chatbot信息缺少头像serviceIcon"
MSG_DESCRIPTION_TOO_LONG: Final = "serviceDescription超过{limit}个字符"
MSG_FORBIDDEN: Final = "Chatbot信息含有违禁内容"
MSG_UNKNOWN_FIELD: Final = "不支持的字段:{name}"
MSG_WENT_OFFLINE: Final = "Chatbot已被运营商下线"
MSG_WENT_ONLINE: Final = "Chatbot已恢复上线"
# [I] The certification block of the §2.6 document: the chatbot is certified under its own
# serviceName by the carrier's platform (the capture's authOrg), for ten years from registration
# (the capture: registered 2021, authExpires 2031).
AUTH_ORG: Final = "能力平台智聊"
AUTH_VALID_SECONDS: Final = 10 * 365 * 86400.0
# [I] Per-chatbot history kept for /_sim/chatbots/{id}/info (oldest entries are dropped first).
INFO_HISTORY: Final = 100
