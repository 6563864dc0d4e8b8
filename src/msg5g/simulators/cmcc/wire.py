"""CMCC OMA-REST messaging wire format: parse what a CSP sends, build what the MaaP sends back.

Built from protocols.md §1 and §2.4 only (never from the platform's adapter), so that a wrong
adapter and this simulator cannot share a mistake. XML is parsed with lxml (no DTDs, no entity
expansion, no network); responses are small fixed shapes, so they are rendered from templates with
explicit escaping, which keeps the hot path cheap.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import hashlib
import hmac
import re
import time
from dataclasses import dataclass, field
from urllib.parse import quote

from lxml import etree

from .constants import (
    CHATBOT_DOMAIN,
    GEO_CRS,
    HTTP_INVALID,
    NGINX_REASONS,
    NS_COMMON,
    NS_FTHTTP,
    NS_FTHTTP_EXT,
    NS_MESSAGING,
    NS_SPAM_REPORT,
    SERVICE_CAPABILITY_ID,
    SERVICE_CAPABILITY_VERSION,
    SVC_INVALID,
)

XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'

# resolve_entities/no_network/load_dtd: a MaaP must not be made to fetch or expand anything.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False, remove_comments=True
)


class WireError(Exception):
    """A request the MaaP answers with `common:requestError` (§1.2)."""

    def __init__(
        self,
        code: str,
        text: str,
        variables: str = "",
        *,
        status: int = HTTP_INVALID,
        message_id: str | None = None,
    ) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.variables = variables
        self.status = status
        self.message_id = message_id

    @property
    def kind(self) -> str:
        return "policyException" if self.code.startswith("POL") else "serviceException"


def invalid(text: str, variables: str = "") -> WireError:
    return WireError(SVC_INVALID, text, variables)


# --- escaping ---------------------------------------------------------------------------------

_XML_INVALID_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def esc(value: str) -> str:
    if "&" in value or "<" in value or ">" in value:
        value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


def esc_attr(value: str) -> str:
    return esc(value).replace('"', "&quot;")


def has_invalid_xml_chars(value: str) -> bool:
    return _XML_INVALID_CHARS.search(value) is not None


def cdata_or_text(value: str) -> str:
    """Rich bodies travel in CDATA on CMCC (§1.1); fall back to escaping when CDATA cannot hold it."""
    if "<" in value and "]]>" not in value:
        return f"<![CDATA[{value}]]>"
    return esc(value)


# --- auth (§1.8) ------------------------------------------------------------------------------


def password_token(password: str) -> str:
    """§1.8: token = hex(sha256(password)), the "accessToken" of the CMCC scheme."""
    return hashlib.sha256(password.encode("utf-8")).hexdigest()


def signature(token: str, date: str) -> str:
    """§1.8: hex(sha256(token + Date))."""
    return hashlib.sha256((token + date).encode("utf-8")).hexdigest()


def basic_authorization(app_id: str, token: str, date: str) -> str:
    credential = f"{app_id}:{signature(token, date)}".encode()
    return "Basic " + base64.b64encode(credential).decode("ascii")


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """Split a Basic header into (appId, signature); None when it is not a Basic credential."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return user, secret


def signature_matches(expected: str, given: str) -> bool:
    # [I] hex case is not fixed by the reference; Java clients emit lowercase, accept both.
    return hmac.compare_digest(expected, given.strip().lower())


_date_cache: dict[str, float | None] = {}


def parse_http_date(value: str) -> float | None:
    """RFC 1123 date -> epoch seconds; cached because a busy CSP reuses one Date per second."""
    if value in _date_cache:
        return _date_cache[value]
    try:
        parsed: float | None = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if len(_date_cache) > 4096:
        _date_cache.clear()
    _date_cache[value] = parsed
    return parsed


class _DateClock:
    """Formats the current RFC 1123 GMT date once per second (§1.8 Date header)."""

    __slots__ = ("_second", "_text")

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._text = email.utils.formatdate(second, usegmt=True)
        return self._text


http_date_now = _DateClock().now


# --- addresses (§0) ---------------------------------------------------------------------------

_CHATBOT_URI = re.compile(r"^sip:(\d+)@" + re.escape(CHATBOT_DOMAIN) + "$", re.IGNORECASE)
_TEL_URI = re.compile(r"^tel:\+\d{5,15}$")
_NUMBER = re.compile(r"^\+?\d{5,15}$")


def chatbot_uri(chatbot_id: str) -> str:
    return f"sip:{chatbot_id}@{CHATBOT_DOMAIN}"


def chatbot_id_from_uri(uri: str) -> str | None:
    match = _CHATBOT_URI.match(uri.strip())
    return match.group(1) if match else None


def is_tel_uri(value: str) -> bool:
    return _TEL_URI.match(value) is not None


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
    if len(text) == 13 and text.startswith("86"):
        return "+" + text
    return "+" + text


def tel_uri(number: str) -> str:
    return "tel:" + number


def ims_sip_uri(number: str, domain: str) -> str:
    """§1.4 sender form: sip:+86138...@bj.ims.mnc000.mcc460.3gppnetwork.org."""
    return f"sip:{number}@{domain}"


def ims_orig_user(number: str, domain: str) -> str:
    """§1.4 origUser in SIP form carries the national number (no +86)."""
    national = number[3:] if number.startswith("+86") else number.lstrip("+")
    return f"sip:{national}@{domain}"


# --- media types and multipart (§1.1) ---------------------------------------------------------


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """`multipart/mixed; boundary="next"` -> ("multipart/mixed", {"boundary": "next"})."""
    main, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for match in re.finditer(r'\s*([^=;\s]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)\s*;?', rest):
        raw = match.group(2).strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = raw[1:-1].replace('\\"', '"')
        params[match.group(1).lower()] = raw
    return main.strip().lower(), params


@dataclass(slots=True)
class MimePart:
    headers: dict[str, str]
    body: str

    @property
    def content_type(self) -> str:
        # RFC 2046: a part without Content-Type is text/plain.
        return self.headers.get("content-type", "text/plain")


_HEADER_LINE = re.compile(r"^([!-9;-~]+)\s*:\s*(.*)$")


def split_multipart(text: str, boundary: str) -> list[MimePart]:
    """Split on the boundary lines and ignore Content-Length.

    CMCC clients send wrong or placeholder Content-Length values ("[content length]", §1.1), so
    the declared length is kept as a header but never used to cut the body.
    """
    delimiter = "--" + boundary
    closing = delimiter + "--"
    lines = text.split("\n")
    parts: list[list[str]] = []
    current: list[str] | None = None
    for line in lines:
        bare = line.rstrip(" \t\r")
        if bare == delimiter:
            if current is not None:
                parts.append(current)
            current = []
            continue
        if bare == closing:
            if current is not None:
                parts.append(current)
            current = None
            break
        if current is not None:
            current.append(line)
    else:
        # No closing delimiter: tolerate it, the last part runs to the end.
        if current is not None:
            parts.append(current)
    return [_mime_part(chunk) for chunk in parts]


def _mime_part(lines: list[str]) -> MimePart:
    blank = next((i for i, line in enumerate(lines) if not line.rstrip("\r")), None)
    if blank is None:
        header_lines = lines if lines and all(_HEADER_LINE.match(x) for x in lines) else []
        body_lines = [] if header_lines else lines
    else:
        header_lines, body_lines = lines[:blank], lines[blank + 1 :]
    headers: dict[str, str] = {}
    last: str | None = None
    for raw in header_lines:
        line = raw.rstrip("\r")
        if line[:1] in (" ", "\t") and last is not None:
            headers[last] += " " + line.strip()
            continue
        match = _HEADER_LINE.match(line)
        if match:
            last = match.group(1).lower()
            headers[last] = match.group(2).strip()
    body = "\n".join(body_lines)
    # The line break before a delimiter belongs to the delimiter (RFC 2046).
    if body.endswith("\r"):
        body = body[:-1]
    return MimePart(headers=headers, body=body)


# --- outbound message request (§1.1) ----------------------------------------------------------

_SCALAR_FIELDS = frozenset(
    {
        "address",
        "senderAddress",
        "senderName",
        "clientCorrelator",
        "messageId",
        "imFormat",
        "contentType",
        "contentEncoding",
        "bodyText",
        "subject",
        "conversationID",
        "contributionID",
        "inReplyToContributionID",
        "storeSupported",
        "fallbackSupported",
        "fallbackContentType",
        "fallbackEncoding",
        "fallbackContentEncoding",
        "rcsBodyText",
        "shortMessageSupported",
        "smsBodyText",
        "trafficType",
        "destinationTerminal",
    }
)


@dataclass(slots=True)
class OutboundRequest:
    """The fields of `msg:outboundMessageRequest`, nested or flattened, as raw strings."""

    destinations: list[str] = field(default_factory=list)
    report_requests: list[str] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)
    capability_id: str | None = None
    capability_version: str | None = None
    nested: bool = False

    def get(self, name: str) -> str | None:
        return self.fields.get(name)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def parse_outbound_request(body: bytes, *, strict: bool) -> OutboundRequest:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise invalid("DOCTYPE and entity declarations are not accepted")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise invalid(f"Malformed XML: {exc}") from None
    tag = root.tag if isinstance(root.tag, str) else ""
    qname = etree.QName(tag) if tag else None
    if qname is None or qname.localname != "outboundMessageRequest":
        raise invalid("Root element must be msg:outboundMessageRequest", _local(tag))
    # §1.1's field-inventory sample has no namespace at all; only strict mode insists on it.
    if qname.namespace != NS_MESSAGING and (strict or qname.namespace is not None):
        raise invalid(f"Root element must be in namespace {NS_MESSAGING}", qname.namespace or "")
    request = OutboundRequest()
    im_fields: dict[str, str] = {}
    _collect(root, request, request.fields)
    for child in root:
        if isinstance(child.tag, str) and _local(child.tag) == "outboundIMMessage":
            request.nested = True
            _collect(child, request, im_fields)
    # Nested wins over flattened when a CSP sends both forms of a field.
    request.fields.update(im_fields)
    return request


def _collect(parent: etree._Element, request: OutboundRequest, into: dict[str, str]) -> None:
    for child in parent:
        if not isinstance(child.tag, str):
            continue
        name = _local(child.tag)
        text = child.text or ""
        if name == "destinationAddress":
            request.destinations.append(text.strip())
        elif name == "reportRequest":
            request.report_requests.append(text.strip())
        elif name == "serviceCapability":
            for sub in child:
                if not isinstance(sub.tag, str):
                    continue
                if _local(sub.tag) == "capabilityId":
                    request.capability_id = (sub.text or "").strip()
                elif _local(sub.tag) == "version":
                    request.capability_version = (sub.text or "").strip()
        elif name in _SCALAR_FIELDS and name not in into:
            # bodyText keeps its whitespace: text/plain content is the user's text verbatim.
            into[name] = text if name in ("bodyText", "rcsBodyText", "smsBodyText") else text.strip()


def peek_message_id(body: bytes) -> str | None:
    """Best-effort messageId of a request the simulator will not process (injected faults)."""
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError:
        return None
    for element in root.iter():
        if isinstance(element.tag, str) and _local(element.tag) == "messageId":
            return (element.text or "").strip() or None
    return None


# --- revoke request (§1.5) --------------------------------------------------------------------


@dataclass(slots=True)
class StatusReport:
    """The fields of a `msg:messageStatusReport` revoke request, stripped."""

    status: str
    address: str
    message_id: str | None = None


_STATUS_REPORT_FIELDS = ("status", "address", "messageId")


def parse_status_report(body: bytes, *, strict: bool) -> StatusReport:
    """§1.5 revoke body; every deviation from one status and one address is SVC0002."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise invalid("DOCTYPE and entity declarations are not accepted")
    try:
        root = etree.fromstring(body, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise invalid(f"Malformed XML: {exc}") from None
    tag = root.tag if isinstance(root.tag, str) else ""
    qname = etree.QName(tag) if tag else None
    if qname is None or qname.localname != "messageStatusReport":
        raise invalid("Root element must be msg:messageStatusReport", _local(tag))
    # Same namespace rule as the downlink: lenient mode also takes a namespace-less document.
    if qname.namespace != NS_MESSAGING and (strict or qname.namespace is not None):
        raise invalid(f"Root element must be in namespace {NS_MESSAGING}", qname.namespace or "")
    found: dict[str, str] = {}
    for child in root:
        if not isinstance(child.tag, str):
            continue
        name = _local(child.tag)
        if name not in _STATUS_REPORT_FIELDS:
            continue
        if name in found:
            raise invalid(f"Field {name} must appear once", name)
        found[name] = (child.text or "").strip()
    for name in ("status", "address"):
        if not found.get(name):
            raise invalid(f"Missing mandatory field {name}", name)
    return StatusReport(found["status"], found["address"], found.get("messageId") or None)


# --- builders ---------------------------------------------------------------------------------


def build_request_error(error: WireError) -> bytes:
    variables = f"<variables>{esc(error.variables)}</variables>" if error.variables else ""
    return (
        f'{XML_DECL}<common:requestError xmlns:common="{NS_COMMON}">'
        f"<{error.kind}><exceptionId>{error.code}</exceptionId><text>{esc(error.text)}</text>"
        f"{variables}</{error.kind}></common:requestError>"
    ).encode()


def build_send_response(
    message_id: str, client_correlator: str | None, addresses: list[str], resource_url: str
) -> bytes:
    """§1.2 success echo: messageId, clientCorrelator, one MessageWaiting per recipient."""
    correlator = f"<clientCorrelator>{esc(client_correlator)}</clientCorrelator>" if client_correlator else ""
    infos = "".join(
        f"<deliveryInfo><address>{esc(a)}</address><deliveryStatus>MessageWaiting</deliveryStatus></deliveryInfo>"
        for a in addresses
    )
    return (
        f'{XML_DECL}<msg:outboundMessageRequest xmlns:msg="{NS_MESSAGING}">'
        f"<messageId>{esc(message_id)}</messageId>{correlator}"
        f"<deliveryInfoList>{infos}</deliveryInfoList>"
        f"<resourceURL>{esc(resource_url)}</resourceURL>"
        "</msg:outboundMessageRequest>"
    ).encode()


def build_delivery_notification(
    address: str, message_id: str, status: str, description: str | None, link: str | None
) -> bytes:
    """§1.3 deliveryInfoNotification with one deliveryInfo (plus an OMA `link`, §1.3 models)."""
    desc = f"<description>{esc(description)}</description>" if description else ""
    link_xml = f'<link rel="OutboundMessageRequest" href="{esc_attr(link)}"/>' if link else ""
    return (
        f'{XML_DECL}<msg:deliveryInfoNotification xmlns:msg="{NS_MESSAGING}">'
        f"<deliveryInfo><address>{esc(address)}</address><messageId>{esc(message_id)}</messageId>"
        f"<deliveryStatus>{status}</deliveryStatus>{desc}</deliveryInfo>{link_xml}"
        "</msg:deliveryInfoNotification>"
    ).encode()


def build_revoke_answer(status: str, address: str, message_id: str) -> bytes:
    """§1.5 revoke accepted: the messageStatusReport echoed, with the messageId it concerns."""
    return (
        f'{XML_DECL}<msg:messageStatusReport xmlns:msg="{NS_MESSAGING}">'
        f"<status>{esc(status)}</status><address>{esc(address)}</address>"
        f"<messageId>{esc(message_id)}</messageId></msg:messageStatusReport>"
    ).encode()


def build_revoke_notification(address: str, message_id: str, status: str, link: str | None) -> bytes:
    """§1.5 revoke result: the messageStatusReport model (address, messageId, status, link)."""
    link_xml = f'<link rel="OutboundMessageRequest" href="{esc_attr(link)}"/>' if link else ""
    return (
        f'{XML_DECL}<msg:messageStatusReport xmlns:msg="{NS_MESSAGING}">'
        f"<address>{esc(address)}</address><messageId>{esc(message_id)}</messageId>"
        f"<status>{esc(status)}</status>{link_xml}</msg:messageStatusReport>"
    ).encode()


@dataclass(slots=True)
class InboundFields:
    destination: str
    sender: str
    orig_user: str
    message_id: str | None
    content_type: str
    body_text: str
    content_encoding: str | None
    conversation_id: str
    contribution_id: str
    in_reply_to_contribution_id: str | None
    date_time: str


def build_inbound_notification(f: InboundFields) -> bytes:
    """§1.4 inboundMessageNotification (field order as in the public sample)."""
    opt = []
    if f.message_id:
        opt.append(f"<messageId>{esc(f.message_id)}</messageId>")
    opt.append(f"<contentType>{esc(f.content_type)}</contentType>")
    if f.content_encoding:
        opt.append(f"<contentEncoding>{esc(f.content_encoding)}</contentEncoding>")
    body = esc(f.body_text) if f.content_encoding == "base64" else cdata_or_text(f.body_text)
    reply = (
        f"<inReplyToContributionID>{esc(f.in_reply_to_contribution_id)}</inReplyToContributionID>"
        if f.in_reply_to_contribution_id
        else ""
    )
    return (
        f'{XML_DECL}<msg:inboundMessageNotification xmlns:msg="{NS_MESSAGING}"><inboundMessage>'
        f"<destinationAddress>{esc(f.destination)}</destinationAddress>"
        f"<senderAddress>{esc(f.sender)}</senderAddress><origUser>{esc(f.orig_user)}</origUser>"
        f"<dateTime>{esc(f.date_time)}</dateTime>{''.join(opt)}"
        f"<serviceCapability><capabilityId>{SERVICE_CAPABILITY_ID}</capabilityId>"
        f"<version>{esc(SERVICE_CAPABILITY_VERSION)}</version></serviceCapability>"
        f"<bodyText>{body}</bodyText>"
        f"<conversationID>{esc(f.conversation_id)}</conversationID>"
        f"<contributionID>{esc(f.contribution_id)}</contributionID>{reply}"
        "</inboundMessage></msg:inboundMessageNotification>"
    ).encode()


@dataclass(slots=True)
class FileInfo:
    url: str
    content_type: str
    size: int
    name: str | None = None
    until: str | None = None


def build_file_descriptor(file: FileInfo, thumbnail: FileInfo | None) -> str:
    """§2.4 FT-HTTP descriptor: optional thumbnail file-info first, then the file."""

    def info(kind: str, item: FileInfo) -> str:
        name = f"<file-name>{esc(item.name)}</file-name>" if item.name else ""
        until = f' until="{esc_attr(item.until)}"' if item.until else ""
        return (
            f'<file-info type="{kind}"><file-size>{item.size}</file-size>{name}'
            f"<content-type>{esc(item.content_type)}</content-type>"
            f'<data url="{esc_attr(item.url)}"{until}/></file-info>'
        )

    thumb = info("thumbnail", thumbnail) if thumbnail else ""
    return f'{XML_DECL}<file xmlns="{NS_FTHTTP}" xmlns:e="{NS_FTHTTP_EXT}">{thumb}{info("file", file)}</file>'


def build_spam_report(chatbot: str, spam_type: str, free_text: str) -> str:
    """§1.4 spam report body."""
    return (
        f'<SR xmlns="{NS_SPAM_REPORT}"><Chatbot>{esc(chatbot)}</Chatbot>'
        f"<spam-type>{esc(spam_type)}</spam-type><free-text>{esc(free_text)}</free-text></SR>"
    )


def build_geo_uri(lat: float, lon: float, label: str | None, radius: float) -> str:
    """§1.1 geo text: geo:lat,lon;crs=gcj02;u=10;rcs-l=<percent-encoded label>."""
    uncertainty = int(radius) if float(radius).is_integer() else radius
    uri = f"geo:{lat!r},{lon!r};crs={GEO_CRS};u={uncertainty}"
    if label:
        uri += ";rcs-l=" + quote(label, safe="")
    return uri


def parse_file_descriptor(text: str) -> etree._Element:
    """Parse FT-HTTP XML (§2.4); raises WireError on malformed XML."""
    data = text.strip().encode("utf-8")
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise invalid("DOCTYPE and entity declarations are not accepted")
    try:
        return etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise invalid(f"Malformed FT-HTTP XML: {exc}") from None


def nginx_page(status: int) -> bytes:
    reason = NGINX_REASONS.get(status, "Error")
    title = f"{status} {reason}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    ).encode()
