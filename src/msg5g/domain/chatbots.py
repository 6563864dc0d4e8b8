"""A chatbot's public information (what the carriers' directory and a handset show) and its
persistent menu, with the limits the carriers set (protocols.md §2.5, §2.6, §3.4).

One profile is one logical chatbot; it is published on one or more carrier accounts (the `chatbots`
rows), each with the state of its carrier's audit (`InfoState`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, EmailStr, Field, field_validator

from msg5g.domain.content import MAX_DISPLAY_TEXT, Suggestion, refuse_non_xml_characters
from msg5g.kit.phone import InvalidPhoneNumber, normalise_mobile

MAX_SERVICE_NAME = 20  # [I] CT addChatbot serviceName, as the carriers' consoles cap it
MAX_DESCRIPTION = 150  # §3.4: serviceDescription <= 150
MAX_MENU_ENTRIES = 5  # §2.5: 1-5 entries per level
MAX_MENU_DEPTH = 2  # §2.5: two levels of sub-menus

# The industry categories (行业类型) the carriers' consoles offer; one per chatbot (§3.4 category[]).
CATEGORIES = (
    "金融", "银行", "保险", "证券", "电商", "零售", "物流", "出行", "旅游", "酒店", "餐饮", "教育", "医疗",
    "政务", "运营商", "IT服务", "文化娱乐", "游戏", "房产", "汽车", "能源", "制造", "生活服务", "其他",
)


class InfoState(StrEnum):
    """A chatbot account's standing with its carrier."""

    DRAFT = "draft"  # information not yet sent
    SUBMITTED = "submitted"  # at the carrier's audit
    LIVE = "live"  # approved and online: messages may go through it
    REJECTED = "rejected"  # the last submission was refused (an earlier approved version may still be live)
    OFFLINE = "offline"  # taken offline by the carrier
    FAILING = "failing"  # the carrier refuses our credentials for it
    MANUAL = "manual"  # the carrier has no management API: an operator records its state (CMCC)


SENDABLE_STATES = frozenset({InfoState.LIVE})


class SubMenu(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["menu"] = "menu"
    text: str = Field(min_length=1, max_length=MAX_DISPLAY_TEXT)
    entries: list[MenuEntry] = Field(min_length=1, max_length=MAX_MENU_ENTRIES)


MenuEntry = Annotated[Suggestion | SubMenu, Field(union_mode="left_to_right")]


class PersistentMenu(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    entries: list[MenuEntry] = Field(min_length=1, max_length=MAX_MENU_ENTRIES)

    @field_validator("entries")
    @classmethod
    def _not_too_deep(cls, entries: list[MenuEntry]) -> list[MenuEntry]:
        def depth(items: list[MenuEntry]) -> int:
            return max((1 + depth(e.entries) if isinstance(e, SubMenu) else 0) for e in items)
        if depth(entries) > MAX_MENU_DEPTH:
            raise ValueError(f"a menu nests at most {MAX_MENU_DEPTH} levels of sub-menus")
        return entries


def _phone(value: str | None) -> str | None:
    if value is None:
        return None
    digits = value.strip()
    # A service line may be a landline or a short code (95588, 400-xxx): digits, +, - and spaces.
    if not (3 <= len(digits) <= 20) or any(c not in "0123456789+- " for c in digits):
        raise ValueError("must be a phone number: digits, with an optional + and - or spaces")
    if digits.startswith(("+861", "1")) and len(digits.replace(" ", "").replace("-", "")) >= 11:
        try:
            normalise_mobile(digits)
        except InvalidPhoneNumber:
            raise ValueError("is not a valid mobile number") from None
    return digits


class ChatbotProfile(BaseModel):
    """The public information of one logical chatbot."""

    model_config = ConfigDict(extra="forbid")

    service_name: str = Field(min_length=1, max_length=MAX_SERVICE_NAME, description="The name users see.")
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION, description="Its introduction (<= 150).")
    category: str = Field(description=f"One of: {', '.join(CATEGORIES)}")
    logo_material_id: str | None = Field(default=None, max_length=64,
                                         description="An image material; carriers refuse a chatbot without one.")
    banner_material_id: str | None = Field(default=None, max_length=64, description="The background image.")
    service_phone: str | None = Field(default=None, description="callBackNumber: the line users may call.")
    email: EmailStr | None = None
    website: AnyHttpUrl | None = None
    terms_url: AnyHttpUrl | None = Field(default=None, description="TCPage: the terms of service.")
    address: str | None = Field(default=None, max_length=200)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    sms_number: str | None = Field(default=None, pattern=r"^\d{3,21}$",
                                   description="The SMS port (端口号) used for fallback and shown in the directory.")
    theme_colour: str | None = Field(default=None, pattern=r"^#[0-9A-Fa-f]{6}$")
    keywords: list[Annotated[str, Field(min_length=1, max_length=20)]] = Field(
        default_factory=list, max_length=10, description="Extra words the directory finds it by.")
    menu: PersistentMenu | None = None

    _sendable_text = field_validator("service_name", "description", "address", mode="after")(
        refuse_non_xml_characters)

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        if value not in CATEGORIES:
            raise ValueError(f"must be one of {', '.join(CATEGORIES)}")
        return value

    @field_validator("service_phone")
    @classmethod
    def _valid_phone(cls, value: str | None) -> str | None:
        return _phone(value)

    @field_validator("longitude", "latitude")
    @classmethod
    def _three_decimals(cls, value: float | None) -> float | None:
        # §3.4: longitude and latitude with at most three decimals.
        return None if value is None else round(value, 3)


@dataclass(frozen=True, slots=True)
class ChatbotInfo:
    """A profile as one carrier account publishes it: its logo and banner resolved to the URLs that
    account's carrier serves them under."""

    profile: ChatbotProfile
    logo_url: str | None
    banner_url: str | None


@dataclass(frozen=True, slots=True)
class ChatbotInfoReport:
    """The carrier's word on a chatbot account: the audit of its information, or it went off or online."""

    approved: bool | None = None  # an audit result
    online: bool | None = None  # a change of status
    reason: str | None = None
