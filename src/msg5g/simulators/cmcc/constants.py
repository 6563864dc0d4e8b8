"""Every wire fact the CMCC simulator relies on, with its source.

Section numbers (§) refer to /work/shared/reference/protocols.md. Facts the reference states are
in the first block; everything the simulator had to decide on its own is in the ``[I]`` block at
the bottom, so a reviewer can check all guesses in one place.
"""

from __future__ import annotations

from typing import Final

# --- stated by the reference ------------------------------------------------------------------

# §1.1 / §1.2: OMA REST NetAPI messaging namespace (request, response, notifications).
NS_MESSAGING: Final = "urn:oma:xml:rest:netapi:messaging:1"
# §1.2: whole-request failures are `common:requestError` in this namespace.
NS_COMMON: Final = "urn:oma:xml:rest:netapi:common:1"
# §2.4: FT-HTTP file descriptor and its extension namespace.
NS_FTHTTP: Final = "urn:gsma:params:xml:ns:rcs:rcs:fthttp"
NS_FTHTTP_EXT: Final = "urn:gsma:params:xml:ns:rcs:rcs:up:fthttpext"
# §1.4: spam report body.
NS_SPAM_REPORT: Final = "urn:gsma:params:xml:ns:rcs:rcs:spamreport"

# §0: CMCC chatbot URI is sip:{chatbotId}@botplatform.rcs.chinamobile.com.
CHATBOT_DOMAIN: Final = "botplatform.rcs.chinamobile.com"

# §1.1 (endpoint table) and §6.1: the API families a downlink may be posted under.
DOWNLINK_FAMILIES: Final = (
    "v1",
    "group/v1",
    "interaction/v1",
    "group/plain",
    "group/template",
    "interaction/template",
)

# §0, §2: GSMA chatbot content types.
CT_TEXT: Final = "text/plain"
CT_MULTIPART: Final = "multipart/mixed"
CT_BOTMESSAGE: Final = "application/vnd.gsma.botmessage.v1.0+json"
CT_BOTSUGGESTION: Final = "application/vnd.gsma.botsuggestion.v1.0+json"
CT_SUGGESTION_RESPONSE: Final = "application/vnd.gsma.botsuggestion.response.v1.0+json"
CT_SHARED_CLIENT_DATA: Final = "application/vnd.gsma.botsharedclientdata.v1.0+json"
CT_FTHTTP: Final = "application/vnd.gsma.rcs-ft-http+xml"
CT_SPAM_REPORT: Final = "application/vnd.gsma.rcsspam-report+xml"
# §3.2: CMCC template sends carry `static-template` with {"templateID": ...}.
CT_STATIC_TEMPLATE: Final = "static-template"

# §1.1 notes: reportRequest values seen for CMCC.
REPORT_REQUESTS: Final = frozenset({"Sent", "Delivered", "Displayed", "Failed", "SMS"})
# §1.1: trafficType values listed.
TRAFFIC_TYPES: Final = frozenset({"advertisement", "payment", "premium", "subscription", "token"})

# §1.2 / §1.3: delivery statuses used by this simulator.
ST_WAITING: Final = "MessageWaiting"
ST_SENT: Final = "MessageSent"
ST_DELIVERED: Final = "DeliveredToTerminal"
ST_DISPLAYED: Final = "MessageDisplayed"
ST_IMPOSSIBLE: Final = "DeliveryImpossible"
ST_TO_NETWORK: Final = "DeliveredToNetwork"
# §1.3 / §3.5: DeliveredToTerminal description "UP2" = delivered as chatbot message to UP2.x;
# DeliveredToNetwork description "SMS" = converted to SMS.
DESC_UP2: Final = "UP2"
DESC_SMS: Final = "SMS"

# §1.5: a revoke (撤回) is `PUT .../requests/{messageId}/status` with a `msg:messageStatusReport`
# whose status is RevokeRequested; the XML model root carries address, status, messageId, link.
REVOKE_PATH_SUFFIX: Final = "/status"
ST_REVOKE_REQUESTED: Final = "RevokeRequested"
# §1.5: the result notification is a MessageStatusNotification (Huawei JSON rendering) whose link
# points back at the revoked request's status resource.
REVOKE_NOTIFY_PATH: Final = "MessageStatusNotification"

# §1.2 / §1.6: more than 100 recipients is rejected with POL0003 and this text.
MAX_DESTINATIONS: Final = 100
POL0003_TEXT: Final = "Too many addresses specified in message part %1"

# §1.4: serviceCapability block as seen in inbound notifications.
SERVICE_CAPABILITY_ID: Final = "ChatbotSA"
SERVICE_CAPABILITY_VERSION: Final = '+g.gsma.rcs.botversion="#=1"'

# §1.1: geo push fallback text uses gcj02 and an uncertainty radius.
GEO_CRS: Final = "gcj02"

# --- [I] inferred: not stated by the reference ------------------------------------------------

# [I] OMA-style exception ids (the reference only shows POL0003). HTTP statuses follow the
# OMA REST convention: ServiceException -> 400, PolicyException -> 403, auth -> 401.
POL_AUTH: Final = "POL0001"  # 401: missing/wrong Authorization, unknown chatbot, bad/stale Date
POL_TOO_MANY: Final = "POL0003"  # 403: more than MAX_DESTINATIONS recipients
SVC_GENERIC: Final = "SVC0001"  # 415 wrong Content-Type, 413 body too large, 404 unknown path
SVC_INVALID: Final = "SVC0002"  # 400 malformed XML / missing field / sender mismatch / bad content
SVC_ADDRESS: Final = "SVC0004"  # 400 a destinationAddress that is not tel:+digits / sip:+digits@
HTTP_AUTH: Final = 401
HTTP_POLICY: Final = 403
HTTP_INVALID: Final = 400
HTTP_CONTENT_TYPE: Final = 415
HTTP_TOO_LARGE: Final = 413

# [I] DeliveryImpossible description for a number that cannot receive 5G messages (§1.3 says
# "app error code (SVCxxxx)"; the number is ours).
DESC_NOT_CAPABLE: Final = "SVC0004"

# [I] A number ported to another carrier (携号转网) is "not our subscriber": the reference names no
# code, so an OMA service exception of our numbering carries the refusal (protocol-choices.md).
SVC_PORTED_OUT: Final = "SVC0005"
# §1.2 (CSP V2.4.3): 31008 means the chatbot exceeded its send rate; [I] answered as HTTP 429.
RATE_LIMITED_CODE: Final = "31008"
HTTP_RATE_LIMITED: Final = 429
PORTED_OUT_TEXT: Final = "Destination %1 is not a subscriber of this network"

# [I] The reference documents no MaaP->CSP auth for CMCC. Notifications and uplinks therefore
# carry the same Basic scheme as downlinks (§1.8) with the chatbot's appId/password and a fresh
# Date header, so a CSP can verify them with the code it already has.
NOTIFY_AUTH_SAME_AS_DOWNLINK: Final = True

# [I] With no reportRequest at all, the simulator reports Delivered, Displayed and Failed
# (Failed so that the CSP learns of a DeliveryImpossible); "Sent" only when asked for.
DEFAULT_REPORTS: Final = frozenset({"Delivered", "Displayed", "Failed"})

# [I] "Sent" reports go out right after acceptance; SMS conversions report DeliveredToNetwork
# when Delivered or SMS was asked for and never report Displayed (SMS has no read receipt).
SENT_DELAY_MS: Final = 0.0

# [I] IMS domain used for SIP-form user addresses (§1.4 shows bj./zj. prefixes).
IMS_DOMAIN: Final = "bj.ims.mnc000.mcc460.3gppnetwork.org"

# [I] Uplink dateTime is xsd:dateTime in UTC with a Z suffix.
# [I] Uplink conversationID follows the replied-to downlink; contributionID is fresh and
# inReplyToContributionID carries the downlink's contributionID.

# [I] nginx-style page for injected 5xx; the reference says nginx pages were seen on test beds (§6.15).
NGINX_REASONS: Final = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}
BURST_STATUSES: Final = (500, 502, 503)

# [I] Revoke (§1.5; choices in docs/protocol-choices.md "China Mobile revoke (§1.5)"):
# - The result statuses are Revoked / RevokeFailed (§1.5 lists them as seen at Submail; the CMCC
#   XML spelling is ours), posted to {notify_url}/MessageStatusNotification/{chatbotId} as a
#   msg:messageStatusReport (address, messageId, status, link) with the notification Basic auth.
ST_REVOKED: Final = "Revoked"
ST_REVOKE_FAILED: Final = "RevokeFailed"
REVOKE_RESULTS: Final = frozenset({ST_REVOKED, ST_REVOKE_FAILED})
# - Accepted: 200 with the messageStatusReport echoed (status RevokeRequested, address, messageId).
#   The result notification is queued only after that answer has been written, behind any status
#   still owed to the recipient (MessageSent), and it goes out whatever reportRequest asked for.
HTTP_REVOKE_OK: Final = 200
# - An unknown messageId for the chatbot, or an address the message was not sent to: 404 with a
#   requestError SVC0002. A body that is not a messageStatusReport with exactly one status and
#   one tel: address, or a status other than RevokeRequested: 400 SVC0002. Auth, Content-Type
#   and body-size errors are the downlink's (§1.8 POL0001/401, SVC0001/415, SVC0001/413).
HTTP_NOT_FOUND: Final = 404
# - §1.5 shows the v1 path; every downlink family is taken, since a send's resourceURL (to which
#   a CSP appends /status) carries the family it was sent under. A messageId inside the body is
#   optional and must equal the path's; a namespace-less root is taken except in strict mode.
# - Recalled ("Revoked"): a recipient the message has not reached yet, i.e. still travelling
#   (delivered_delay_ms, SMS fallback included) or held for an offline handset. It never lands in
#   the inbox and gets no further delivery report. Already delivered, converted to SMS or failed:
#   "RevokeFailed". Revoking an already recalled recipient again answers "Revoked" again, so a CSP
#   that retries a timed-out revoke learns the truth.
# - A message reaches an online handset delivered_delay_ms after acceptance (the inbox shows it
#   from then on; DeliveredToTerminal / DeliveredToNetwork follows at once, MessageDisplayed
#   displayed_delay_ms later); the handset's capability is looked at again on arrival. Until then
#   it is on its way, which is the window in which a revoke recalls it.
# - Revokes are not subject to the downlink fault knobs (error_rate, burst_5xx, timeout_next,
#   latency_ms) nor to tps_limit: those model the send path.

# [I] Body and parsing limits of the simulated MaaP.
MAX_BODY_BYTES: Final = 8 * 1024 * 1024

# --- media (素材) and templates (模板): docs/protocol-choices.md "Media (素材) upload and audit" and
# "Templates (模板) on each carrier" ------------------------------------------------------------

# §3.2: upload and delete are `POST|DELETE {fileServerRoot}/Content`; the caller names its chatbot
# in X-3GPP-Intended-Identity; the answer (and the delete request) carries the upload's `tid`.
CONTENT_PATH: Final = "/Content"
HEADER_INTENDED_IDENTITY: Final = "x-3gpp-intended-identity"
HEADER_TID: Final = "tid"
# §3.2: multipart parts "File" (required) and "Thumbnail" (optional).
PART_FILE: Final = "File"
PART_THUMBNAIL: Final = "Thumbnail"
# §2.4 sample URLs: {file server}/s/{id}TD (thumbnail) and {file server}/s/{id}FD.jpg (file).
DOWNLOAD_PREFIX: Final = "/s/"
SUFFIX_FILE: Final = "FD"
SUFFIX_THUMBNAIL: Final = "TD"
# §3.2 (easy5g notify): the audit result is an InboundMessageNotification with headers tid and
# Authstatus ("0" approved), query parameter chatbotURI, body the FT-HTTP XML.
MEDIA_AUDIT_NOTIFY_PATH: Final = "InboundMessageNotification"
HEADER_AUTHSTATUS: Final = "Authstatus"
AUTHSTATUS_APPROVED: Final = "0"
# [I] rejected is "1"; [invented] the reason travels percent-encoded (UTF-8) in Authdesc.
AUTHSTATUS_REJECTED: Final = "1"
HEADER_AUTHDESC: Final = "Authdesc"

# [invented] Template submission `POST {root}/messaging/v1/templates/{chatbotURI}` (JSON) and its
# result, JSON posted to {notifyURL}/TemplateAuditNotification/{chatbotId}.
TEMPLATE_PATH: Final = "/messaging/v1/templates/"
TEMPLATE_NOTIFY_PATH: Final = "TemplateAuditNotification"
# The contract names these two; any other contentType (multipart/mixed included) is 400 SVC0002.
TEMPLATE_CONTENT_TYPES: Final = frozenset({CT_BOTMESSAGE, CT_TEXT, CT_MULTIPART})  # a card with chips is multipart
# The carrier-like automatic rejection of a template (common simulator rule).
FORBIDDEN_WORD: Final = "违禁"

# [I] Refusals of the file server and of sends that name unusable material. OMA numbering of our
# own, like SVC0005; HTTP statuses as the rest of the simulator (service 400, policy 403).
# - X-3GPP-Intended-Identity absent or not a CMCC chatbot URI: 400 SVC0002 (a missing field);
#   naming a chatbot this MaaP does not know: 403 POL0002 (the identity may not use the server).
POL_IDENTITY: Final = "POL0002"
# - A send whose FT-HTTP XML or card media names a URL this MaaP issued that is not approved
#   (pending, rejected, expired, deleted): 400 SVC0006, variables = the URL.
SVC_MEDIA_NOT_APPROVED: Final = "SVC0006"
# - A static-template send naming a templateID unknown to the chatbot or not approved:
#   400 SVC0007, variables = the templateID.
SVC_TEMPLATE_NOT_APPROVED: Final = "SVC0007"
# - Unknown tid on DELETE (or a tid of another chatbot): 404 SVC0002.
# - Over the size limit: 413 SVC0001; a file whose signature bytes are no type the server takes:
#   415 SVC0001 (the same code as the downlink's body-size and Content-Type refusals).

# [I] Reasons given in Authdesc / the template result when the simulator rejects on its own.
REASON_TYPE_MISMATCH: Final = "文件内容与声明的类型不符"
REASON_FORBIDDEN_WORD: Final = "模板内容含有违禁词"
