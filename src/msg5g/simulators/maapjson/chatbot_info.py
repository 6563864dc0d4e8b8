"""Chatbot information and persistent menu of the simulated MaaP (§2.5, §2.6, §3.3.5, §3.3.6).

A chatbot's information is what its CSP set with `update/chatBotInfo/optionals` and the carrier's
auditors approved; its menu likewise with `update/chatBotInfo/menu`. Every accepted update waits in
the chatbot's queue until it is audited (after the policy's delay, or by hand under "hold"); only
then does `find/chatBotInfo` show it, and the result reaches the CSP as a `check`. The carrier may
also take a chatbot offline and back (`notice/informationChange`); the directory lists approved,
online chatbots only (choices "Chatbot information and menus").
"""

from __future__ import annotations

import asyncio
import string
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from .constants import (
    AUTH_ORG,
    AUTH_VALID_SECONDS,
    CHATBOT_DOMAINS,
    FORBIDDEN_WORD,
    INFO_HISTORY,
    MENU_ENTRIES_MAX,
    MENU_ENTRIES_MIN,
    MENU_MAX_DEPTH,
    MSG_AUDIT_OK,
    MSG_DESCRIPTION_TOO_LONG,
    MSG_FORBIDDEN,
    MSG_ICON_NOT_APPROVED,
    MSG_INFO_REJECTED,
    MSG_NO_ICON,
    MSG_UNKNOWN_FIELD,
    MSG_WENT_OFFLINE,
    MSG_WENT_ONLINE,
    PATH_CHECK,
    PATH_INFO_CHANGE,
    SERVICE_DESCRIPTION_MAX,
    STATUS_OFFLINE,
    STATUS_ONLINE,
    Dialect,
)
from .content import DISPLAY_TEXT_MAX, ContentError, RichContentValidator
from .settings import AuditDecision
from .wire import dumps, info_check_body, information_change_body, iso_seconds, iso_utc, new_id, param_error

if TYPE_CHECKING:
    from .notifier import Notifier
    from .state import AccountEntry, SimState

UpdateKind = Literal["optionals", "menu"]
ChatbotStatus = Literal["online", "offline"]
_FieldKind = Literal["name", "text", "category", "longitude", "latitude"]
_T = TypeVar("_T")

# §2.6 (onekit ChatBotInfoRequest) plus the [I] serviceName, serviceIcon, tcPage and smsNumber of
# choices, so a change of name or logo travels the same way. Anything else is refused (20002).
OPTIONAL_FIELDS: dict[str, _FieldKind] = {
    "serviceName": "name",
    "serviceIcon": "text",
    "serviceDescription": "text",
    "category": "category",
    "callBackNumber": "text",
    "provider": "text",
    "longitude": "longitude",
    "latitude": "latitude",
    "themeColour": "text",
    "serviceWebsite": "text",
    "emailAddress": "text",
    "backgroundImage": "text",
    "address": "text",
    "cssStyle": "text",
    "tcPage": "text",
    "smsNumber": "text",
}
_COORDINATE_LIMITS = {"longitude": 180.0, "latitude": 90.0}
# choices "Directory": case-insensitive for ASCII only; CJK has no case and other scripts keep theirs.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


# --- validation of update bodies (synchronous, 20002) -----------------------------------------


def parse_optionals(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The changes an optionals body asks for; WireError 20002 naming the first bad field."""
    if not doc:
        raise param_error("请求体中没有可更新的字段")
    for name, value in doc.items():
        kind = OPTIONAL_FIELDS.get(name)
        if kind is None:
            raise param_error(MSG_UNKNOWN_FIELD.format(name=name))
        _check_field(name, kind, value)
    return dict(doc)


def _check_field(name: str, kind: _FieldKind, value: Any) -> None:
    if kind == "category":
        # choices: one industry category, as addChatbot takes it (§3.4 category[]).
        if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], str) or not value[0].strip():
            raise param_error(f"{name}必须为只含一个非空字符串的数组")
        return
    if kind in ("longitude", "latitude"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise param_error(f"{name}必须为数字")
        limit = _COORDINATE_LIMITS[kind]
        if not -limit <= value <= limit:
            raise param_error(f"{name}取值超出范围[-{limit:g},{limit:g}]")
        return
    if not isinstance(value, str):
        raise param_error(f"{name}必须为字符串")
    if kind == "name" and not value.strip():
        raise param_error(f"{name}不能为空")


class MenuValidator(RichContentValidator):
    """§2.5 (MenuJsonSchema.json): entries are replies, actions (the §2.2 shapes) or sub-menus."""

    def menu(self, value: Any, path: str) -> None:
        obj = self._obj(value, path)
        self.entries(self._required(obj, "entries", path), f"{path}/entries", depth=0)

    def entries(self, value: Any, path: str, *, depth: int) -> None:
        items = self._array(value, path, MENU_ENTRIES_MIN, MENU_ENTRIES_MAX)
        for index, item in enumerate(items):
            where = f"{path}/{index}"
            obj = self._obj(item, where)
            kind = self._exactly_one(obj, ("reply", "action", "menu"), where)
            if kind != "menu":
                self.suggestion(obj, where)
                continue
            sub = f"{where}/menu"
            if depth >= MENU_MAX_DEPTH:
                raise ContentError(sub, f"a menu nests at most {MENU_MAX_DEPTH} levels of sub-menus")
            body = self._obj(obj["menu"], sub)
            self._str(self._required(body, "displayText", sub), f"{sub}/displayText", 1, DISPLAY_TEXT_MAX)
            self.entries(self._required(body, "entries", sub), f"{sub}/entries", depth=depth + 1)


def parse_menu(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The GSMA menu document a menu body sets, `{"menu":{"entries":[...]}}` (§2.5), as sent;
    WireError 20002 naming the bad node."""
    unknown = [key for key in doc if key != "menu"]
    if unknown:
        raise param_error(MSG_UNKNOWN_FIELD.format(name=unknown[0]))
    if "menu" not in doc:
        raise param_error("一级必选节点menu不存在")
    try:
        MenuValidator().menu(doc["menu"], "/menu")
    except ContentError as error:
        raise param_error(f"{error.path} {error.reason}") from None
    return {"menu": doc["menu"]}


# --- per-chatbot record ---------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class InfoUpdate:
    """One accepted update, waiting for its audit; it keeps the policy it met (like an upload)."""

    id: str
    kind: UpdateKind
    # optionals: the fields as sent; menu: the GSMA menu document (`{"menu":{"entries":[...]}}`).
    changes: dict[str, Any]
    decision: AuditDecision
    reason: str | None
    submitted_at: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "changes": self.changes,
            "decision": self.decision,
            "submitted_at": iso_utc(self.submitted_at),
        }


@dataclass(slots=True)
class Delivery:
    """How the CSP took one notification; `ok` is None while it is still on its way."""

    ok: bool | None = None
    http_status: int | None = None
    attempts: int = 0
    error: str | None = None

    def settle(self, status: int | None, error: str | None, attempts: int) -> bool:
        self.ok = status is not None and 200 <= status < 300
        self.http_status, self.error, self.attempts = status, error, attempts
        return self.ok

    def as_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "http_status": self.http_status, "attempts": self.attempts, "error": self.error}


@dataclass(slots=True)
class InfoAudit:
    """An audit decision and the `check` that told the CSP."""

    update_id: str
    kind: UpdateKind
    approved: bool
    description: str
    at: float
    delivery: Delivery = field(default_factory=Delivery)

    def as_json(self) -> dict[str, Any]:
        return {
            "update_id": self.update_id,
            "kind": self.kind,
            "result": "approved" if self.approved else "rejected",
            "description": self.description,
            "at": iso_utc(self.at),
            **self.delivery.as_json(),
        }


@dataclass(slots=True)
class StatusChange:
    """A carrier-side offline/online and the `informationChange` notice that told the CSP."""

    status: ChatbotStatus
    description: str
    at: float
    delivery: Delivery = field(default_factory=Delivery)

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "description": self.description,
            "at": iso_utc(self.at),
            **self.delivery.as_json(),
        }


@dataclass(slots=True, eq=False)
class ChatbotProfile:
    """What the carrier keeps about one chatbot besides its account."""

    chatbot_id: str
    # Approved optionals fields only (their names as the update body spells them).
    info: dict[str, Any] = field(default_factory=dict)
    # The approved GSMA menu document, `{"menu":{"entries":[...]}}`, or None before one was approved.
    menu: dict[str, Any] | None = None
    online: bool = True
    status_description: str | None = None
    # §2.6 `version`: bumped by every approved update.
    version: int = 0
    approved_at: float | None = None
    pending: list[InfoUpdate] = field(default_factory=list)
    audits: list[InfoAudit] = field(default_factory=list)
    status_changes: list[StatusChange] = field(default_factory=list)
    created_at: float = field(default_factory=time.time)

    @property
    def listed(self) -> bool:
        """In the directory: some information was approved, and the carrier has it online."""
        return self.approved_at is not None and self.online

    def matches(self, keyword: str) -> bool:
        """choices "Directory": the keyword within serviceName, serviceDescription or a category."""
        needle = keyword.translate(_ASCII_LOWER)
        fields = [self.info.get("serviceName", ""), self.info.get("serviceDescription", "")]
        fields.extend(self.info.get("category", []))
        return any(needle in str(value).translate(_ASCII_LOWER) for value in fields)

    def directory_entry(self) -> dict[str, Any]:
        """choices "Directory" (§2.6 `SearchedBot`)."""
        info = self.info
        return {
            "chatbotId": self.chatbot_id,
            "serviceName": info.get("serviceName", ""),
            "serviceIcon": info.get("serviceIcon", ""),
            "serviceDescription": info.get("serviceDescription", ""),
            "category": list(info.get("category", [])),
            "smsNumber": info.get("smsNumber", self.chatbot_id),
            "verified": True,
        }

    def find_document(self, dialect: Dialect, callback_root: str) -> dict[str, Any]:
        """§2.6 CSP-facing document (the CTCC capture's keys and order, `menu` last).

        Fields never set read as the capture's empty values ("" for text, [] for the category,
        null for coordinates); `accessNo` and, until set, `smsnumber` are the chatbot id, as in the
        capture. [I] Every configured chatbot is verified (it passed addChatbot, §3.4). [I] `menu`
        is the GSMA menu document as the approved update carried it, the way §2.6's terminal view
        nests it under `persistent-menu`; null until a menu was approved.
        """
        info = self.info
        name = info.get("serviceName", "")
        return {
            "accessNo": self.chatbot_id,
            "domain": CHATBOT_DOMAINS[dialect],
            "serviceName": name,
            "serviceIcon": info.get("serviceIcon", ""),
            "verified": True,
            "authName": name,
            "authExpires": iso_seconds(self.created_at + AUTH_VALID_SECONDS),
            "authOrg": AUTH_ORG,
            "status": STATUS_ONLINE if self.online else STATUS_OFFLINE,
            "criticalChatbot": False,
            "url": callback_root,
            "version": self.version,
            "provider": info.get("provider", ""),
            "category": list(info.get("category", [])),
            "serviceDescription": info.get("serviceDescription", ""),
            "longitude": info.get("longitude"),
            "latitude": info.get("latitude"),
            "callBackNumber": info.get("callBackNumber", ""),
            "themeColour": info.get("themeColour", ""),
            "serviceWebsite": info.get("serviceWebsite", ""),
            "emailAddress": info.get("emailAddress", ""),
            "backgroundImage": info.get("backgroundImage", ""),
            "address": info.get("address", ""),
            "cssStyle": info.get("cssStyle", ""),
            "tcpage": info.get("tcPage", ""),
            "smsnumber": info.get("smsNumber", self.chatbot_id),
            "menu": self.menu,
        }

    def as_json(self) -> dict[str, Any]:
        """The control view (GET /_sim/chatbots/{id}/info)."""
        return {
            "chatbot_id": self.chatbot_id,
            "status": "online" if self.online else "offline",
            "status_code": STATUS_ONLINE if self.online else STATUS_OFFLINE,
            "status_description": self.status_description,
            "approved_at": iso_utc(self.approved_at) if self.approved_at is not None else None,
            "version": self.version,
            "approved": dict(self.info),
            "menu": self.menu,
            "pending_update": self.pending[0].as_json() if self.pending else None,
            "pending_updates": [u.as_json() for u in self.pending],
            "audits": [a.as_json() for a in self.audits],
            "information_changes": [c.as_json() for c in self.status_changes],
        }


def _keep(history: list[_T], item: _T) -> None:
    history.append(item)
    if len(history) > INFO_HISTORY:
        del history[0]


# --- the carrier's side: audit, status, notifications --------------------------------------------


class InfoDesk:
    """Queues updates for audit, settles them and tells the CSP (`check`, `informationChange`)."""

    def __init__(self, state: SimState, notifier: Notifier) -> None:
        self.state = state
        self.notifier = notifier

    def submit(self, entry: AccountEntry, kind: UpdateKind, changes: dict[str, Any]) -> InfoUpdate:
        """Queue an accepted update; under approve/reject its audit falls due after the delay."""
        state = self.state
        policy = state.audit
        profile = state.profile(entry.account.chatbot_id)
        update = InfoUpdate(new_id(), kind, changes, policy.chatbot_info, policy.reason)
        profile.pending.append(update)
        state.stats.info_updates += 1
        if update.decision != "hold":
            asyncio.get_running_loop().call_later(policy.delay_seconds, self._due, profile, update)
        return update

    def _due(self, profile: ChatbotProfile, update: InfoUpdate) -> None:
        # Dropped when reset away or settled by hand meanwhile.
        if self.state.profiles.get(profile.chatbot_id) is not profile or update not in profile.pending:
            return
        # The auditors' machine checks come first: even under "reject" they name the real fault.
        reason = self.automatic_rejection(profile, update)
        if reason is None and update.decision == "reject":
            reason = update.reason or MSG_INFO_REJECTED
        self.settle(profile, update, approved=reason is None, reason=reason)

    def automatic_rejection(self, profile: ChatbotProfile, update: InfoUpdate) -> str | None:
        """choices "Their audit": no logo, a description over 150 characters, the forbidden word.

        Judged on the information as it would be with the update applied, when the audit falls
        due, so an update queued behind the one that sets the logo passes. A logo url this MaaP
        issued must be an approved material of this chatbot; foreign urls are taken as they are.
        """
        changes = update.changes if update.kind == "optionals" else {}
        merged = {**profile.info, **changes}
        icon = merged.get("serviceIcon")
        if not isinstance(icon, str) or not icon.strip():
            return MSG_NO_ICON
        if "serviceIcon" in changes:
            record = self.state.media_at(icon)
            if record is not None and (record.chatbot_id != profile.chatbot_id or not record.usable()):
                return MSG_ICON_NOT_APPROVED
        description = merged.get("serviceDescription", "")
        if isinstance(description, str) and len(description) > SERVICE_DESCRIPTION_MAX:
            return MSG_DESCRIPTION_TOO_LONG.format(limit=SERVICE_DESCRIPTION_MAX)
        # orjson writes non-ASCII as is, so the word is found in any string of the update.
        if FORBIDDEN_WORD in dumps(update.changes).decode("utf-8"):
            return MSG_FORBIDDEN
        return None

    def settle_oldest(self, profile: ChatbotProfile, *, approved: bool, reason: str | None) -> InfoAudit | None:
        """Decide the oldest pending update now (a held one, or one whose delay has not run out)."""
        if not profile.pending:
            return None
        return self.settle(profile, profile.pending[0], approved=approved, reason=reason)

    def settle(self, profile: ChatbotProfile, update: InfoUpdate, *, approved: bool, reason: str | None) -> InfoAudit:
        """Record the decision, apply an approved update and send the `check`."""
        stats = self.state.stats
        profile.pending.remove(update)
        now = time.time()
        if approved:
            if update.kind == "optionals":
                profile.info.update(update.changes)
            else:
                profile.menu = update.changes
            profile.version += 1
            profile.approved_at = now
            stats.info_approved += 1
        else:
            stats.info_rejected += 1
        description = MSG_AUDIT_OK if approved else (reason or MSG_INFO_REJECTED)
        audit = InfoAudit(update.id, update.kind, approved, description, now)
        _keep(profile.audits, audit)
        entry = self.state.accounts.get(profile.chatbot_id)
        if entry is not None:
            body = info_check_body(self.state.dialect, approved=approved, description=description)

            def done(status: int | None, error: str | None, attempts: int) -> None:
                if audit.delivery.settle(status, error, attempts):
                    stats.info_checks_sent += 1
                else:
                    stats.info_checks_failed += 1

            self.notifier.post_later(self.notifier.url(entry, PATH_CHECK), entry, body, done)
        return audit

    def set_status(self, entry: AccountEntry, status: ChatbotStatus, description: str | None) -> StatusChange:
        """The carrier takes the chatbot offline or back online and sends `informationChange`."""
        stats = self.state.stats
        chatbot_id = entry.account.chatbot_id
        profile = self.state.profile(chatbot_id)
        profile.online = status == "online"
        text = description or (MSG_WENT_ONLINE if profile.online else MSG_WENT_OFFLINE)
        profile.status_description = text
        change = StatusChange(status, text, time.time())
        _keep(profile.status_changes, change)
        body = information_change_body(chatbot_id, status, text)

        def done(http_status: int | None, error: str | None, attempts: int) -> None:
            if change.delivery.settle(http_status, error, attempts):
                stats.information_changes_sent += 1
            else:
                stats.information_changes_failed += 1

        self.notifier.post_later(self.notifier.url(entry, PATH_INFO_CHANGE), entry, body, done)
        return change

    def directory(self, keyword: str) -> list[dict[str, Any]]:
        """choices "Directory": approved, online chatbots matching the keyword (all when empty)."""
        profiles = (self.state.profiles.get(chatbot_id) for chatbot_id in self.state.accounts)
        return [
            p.directory_entry() for p in profiles if p is not None and p.listed and (not keyword or p.matches(keyword))
        ]
