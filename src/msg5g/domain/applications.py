"""Applying to a carrier: the tenant's enterprise registered as the carrier's customer, and a chatbot
applied for, brought online and given its developer credentials (protocols.md §3.4, CT and CU).

What a tenant enters is validated here; what an adapter is handed (`CustomerFiling`,
`ChatbotFiling`) and hands back (`CarrierAudit`, `DeveloperCredentials`) carries no wire format.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from ipaddress import IPv4Address, IPv6Address
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator

from msg5g.domain.chatbots import ChatbotProfile
from msg5g.domain.content import refuse_non_xml_characters
from msg5g.kit.phone import InvalidPhoneNumber, normalise_mobile

MAX_IP_WHITELIST = 15  # §3.4 addChatbot ipWhiteList <= 15
DOCUMENT_MAX_BYTES = 10 * 1024 * 1024


class DocumentKind(StrEnum):
    """What an enterprise document is; it decides the carrier's `uploadType` (protocol-choices.md)."""

    LICENCE = "licence"  # 营业执照 scan
    LOGO = "logo"  # the enterprise's own picture
    ID_CARD_FRONT = "id_card_front"
    ID_CARD_BACK = "id_card_back"
    CONTRACT = "contract"


# The file types each kind of document may be: scans are images; a contract may also be a PDF.
DOCUMENT_TYPES: dict[DocumentKind, frozenset[str]] = {
    DocumentKind.LICENCE: frozenset({"image/jpeg", "image/png"}),
    DocumentKind.LOGO: frozenset({"image/jpeg", "image/png"}),
    DocumentKind.ID_CARD_FRONT: frozenset({"image/jpeg", "image/png"}),
    DocumentKind.ID_CARD_BACK: frozenset({"image/jpeg", "image/png"}),
    DocumentKind.CONTRACT: frozenset({"image/jpeg", "image/png", "application/pdf"}),
}


def _mobile(value: str) -> str:
    try:
        normalise_mobile(value)
    except InvalidPhoneNumber:
        raise ValueError("is not a valid mainland mobile number") from None
    return value.strip()


class Person(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=50)
    # 居民身份证号码: 17 digits and a check character (a digit or X).
    id_number: str = Field(pattern=r"^\d{17}[\dXx]$", description="The 18-character resident identity number.")


class Operator(Person):
    """The enterprise's contact for the carrier (经办人)."""

    phone: str
    email: EmailStr

    _valid_phone = field_validator("phone")(lambda value: _mobile(value))


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    number: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    effective_date: date
    expiry_date: date
    renewal_date: date | None = None

    @model_validator(mode="after")
    def _in_order(self) -> Contract:
        if self.expiry_date <= self.effective_date:
            raise ValueError("expiry_date must be after effective_date")
        return self


class EnterpriseRecord(BaseModel):
    """The tenant's enterprise as the carriers register it (rcsRegisterInfo, rcsInfo, contract, legal person)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=100, description="ecName: the registered company name.")
    industry: str = Field(min_length=1, max_length=50, description="businessType: the industry.")
    introduction: str = Field(min_length=1, max_length=500)
    work_phone: str = Field(pattern=r"^[\d+\- ]{5,20}$", description="The company's switchboard.")
    # 统一社会信用代码: 18 characters of digits and capitals without I, O, S, V, Z.
    licence_number: str = Field(pattern=r"^[0-9A-HJ-NPQRTUWXY]{18}$",
                                description="The unified social credit code on the business licence.")
    address: str = Field(min_length=1, max_length=200)
    province: str = Field(min_length=1, max_length=20)
    city: str = Field(min_length=1, max_length=20)
    area: str = Field(min_length=1, max_length=20)
    operator: Operator
    legal_person: Person
    contract: Contract
    licence_document_id: str = Field(max_length=64, description="A `licence` document: the licence scan.")
    logo_document_id: str = Field(max_length=64, description="A `logo` document.")
    id_card_front_document_id: str = Field(max_length=64)
    id_card_back_document_id: str = Field(max_length=64)
    contract_document_id: str = Field(max_length=64)

    _text = field_validator("name", "introduction", "address", mode="after")(refuse_non_xml_characters)

    def documents(self) -> dict[DocumentKind, str]:
        return {DocumentKind.LICENCE: self.licence_document_id, DocumentKind.LOGO: self.logo_document_id,
                DocumentKind.ID_CARD_FRONT: self.id_card_front_document_id,
                DocumentKind.ID_CARD_BACK: self.id_card_back_document_id,
                DocumentKind.CONTRACT: self.contract_document_id}


class ChatbotApplicationRequest(BaseModel):
    """A chatbot applied for on one carrier channel, publishing one of the business's profiles."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    channel_id: str = Field(max_length=64)
    profile_id: str = Field(max_length=64)
    chatbot_number: str = Field(pattern=r"^\d{6,21}$",
                                description="chatbotId: the carrier access number followed by the CSP's own digits.")
    signature: str = Field(min_length=2, max_length=20, description="autograph (签名): the brand in the SMS fallback.")
    provider: str | None = Field(default=None, max_length=50, description="Who provides the service, if shown.")
    ip_whitelist: list[IPv4Address | IPv6Address] = Field(default_factory=list, max_length=MAX_IP_WHITELIST)
    name: str | None = Field(default=None, max_length=200, description="The account's name here (the profile's).")


class ApplicationState(StrEnum):
    """Where a customer registration or chatbot application stands; each step is retried on its own."""

    WAITING = "waiting"  # a chatbot application waits for its enterprise's approval
    SUBMITTING = "submitting"  # files and record on their way to the carrier
    AUDITING = "auditing"  # at the carrier's audit
    APPROVED = "approved"  # the customer may apply for chatbots / the chatbot is approved but offline
    GOING_ONLINE = "going_online"
    CONFIGURING = "configuring"  # fetching the developer credentials
    LIVE = "live"  # the chatbot is an account of the platform, its information sent
    REJECTED = "rejected"  # the carrier refused it, with its reason: correct and apply again
    FAILED = "failed"  # the carrier kept failing or refused our call: retry once the cause is fixed


@dataclass(frozen=True, slots=True)
class DocumentFile:
    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class CustomerFiling:
    record: EnterpriseRecord
    files: dict[DocumentKind, DocumentFile]
    carrier_ref: str | None  # the customer number of an earlier, rejected filing: edit rather than add


@dataclass(frozen=True, slots=True)
class ChatbotFiling:
    customer_ref: str
    chatbot_number: str
    profile: ChatbotProfile
    logo: DocumentFile | None
    banner: DocumentFile | None
    signature: str
    provider: str | None
    ip_whitelist: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CarrierAudit:
    state: Literal["pending", "approved", "rejected"]
    reason: str | None = None
    online: bool = False


@dataclass(frozen=True, slots=True)
class DeveloperCredentials:
    """What `updateDeveloper` issues: the chatbot API credentials (§3.3.1)."""

    app_id: str
    app_key: str
