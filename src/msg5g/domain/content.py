"""The unified message content model: what a business sends and what a user sends back.

Every carrier adapter maps to and from these types; nothing above the channel layer knows a
carrier's wire format. The shapes follow the GSMA bot message and bot suggestion formats
(shared/reference/protocols.md §2.1-§2.4, the GSMA chatbot message schema), with the limits that
schema sets encoded here so that a bad request is refused at the gateway, not by a carrier later.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AnyUrl, AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

# Limits from the GSMA chatbot message schema (protocols.md §2.1, §2.2).
MAX_DISPLAY_TEXT = 25
MAX_POSTBACK = 2048
MAX_CHIPS = 11
MAX_CARD_SUGGESTIONS = 4
MAX_TITLE = 200
MAX_DESCRIPTION = 2000
MIN_CAROUSEL_CARDS = 2
MAX_CAROUSEL_CARDS = 12
MAX_MEDIA_DESCRIPTION = 200
# Google RBM caps text at 3072 characters (protocols.md §4); the Chinese sources give no figure,
# and bodies over 1300 characters switch CMCC to large mode, so this is the portable ceiling.
MAX_TEXT = 3072
MAX_FALLBACK_TEXT = 1000


# Characters XML 1.0 cannot carry (C0 controls but TAB, LF and CR; U+FFFE, U+FFFF; surrogates).
# Carriers' envelopes are XML, so text containing them could be accepted but never sent.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def refuse_non_xml_characters(value: object) -> object:
    if isinstance(value, str) and (bad := _NOT_XML.search(value)):
        raise ValueError(f"contains the control character U+{ord(bad.group()):04X}, which messages cannot carry")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    _text_is_sendable = field_validator("*", mode="after")(refuse_non_xml_characters)


DisplayText = Annotated[str, Field(min_length=1, max_length=MAX_DISPLAY_TEXT)]
PostbackData = Annotated[str, Field(max_length=MAX_POSTBACK)]


class _SuggestionBase(_Model):
    text: DisplayText = Field(description="Label shown on the chip or button (1-25 characters).")
    postback_data: PostbackData | None = Field(
        default=None, description="Returned in the uplink when the user taps it (up to 2048 characters)."
    )


class ReplySuggestion(_SuggestionBase):
    type: Literal["reply"] = "reply"


class OpenUrlAction(_SuggestionBase):
    type: Literal["open_url"] = "open_url"
    url: AnyUrl
    application: Literal["browser", "webview"] = "browser"
    view_mode: Literal["full", "half", "tall"] | None = None


class DialAction(_SuggestionBase):
    type: Literal["dial"] = "dial"
    phone_number: str = Field(min_length=3, max_length=32)


class ShowLocationAction(_SuggestionBase):
    type: Literal["show_location"] = "show_location"
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    label: str | None = Field(default=None, min_length=1, max_length=100)
    fallback_url: AnyUrl | None = None


class RequestLocationAction(_SuggestionBase):
    type: Literal["request_location"] = "request_location"


class CalendarEventAction(_SuggestionBase):
    type: Literal["create_calendar_event"] = "create_calendar_event"
    # A time without a zone would land at different hours on different phones: refuse it.
    start_time: AwareDatetime
    end_time: AwareDatetime
    title: str = Field(min_length=1, max_length=100)
    description: str | None = Field(default=None, min_length=1, max_length=500)

    @model_validator(mode="after")
    def _ends_after_start(self) -> CalendarEventAction:
        if self.end_time < self.start_time:
            raise ValueError("end_time is before start_time")
        return self


class ComposeTextAction(_SuggestionBase):
    type: Literal["compose_text"] = "compose_text"
    phone_number: str = Field(min_length=3, max_length=32)
    draft: str = Field(min_length=1, max_length=100)


class ComposeRecordingAction(_SuggestionBase):
    type: Literal["compose_recording"] = "compose_recording"
    phone_number: str = Field(min_length=3, max_length=32)
    recording: Literal["AUDIO", "VIDEO"] = "AUDIO"


class DeviceSpecificsAction(_SuggestionBase):
    type: Literal["request_device_specifics"] = "request_device_specifics"


class SettingsAction(_SuggestionBase):
    type: Literal["settings"] = "settings"
    setting: Literal["disable_anonymization", "enable_displayed_notifications"]


Suggestion = Annotated[
    ReplySuggestion
    | OpenUrlAction
    | DialAction
    | ShowLocationAction
    | RequestLocationAction
    | CalendarEventAction
    | ComposeTextAction
    | ComposeRecordingAction
    | DeviceSpecificsAction
    | SettingsAction,
    Field(discriminator="type"),
]


class MediaHeight(StrEnum):
    SHORT = "SHORT"
    MEDIUM = "MEDIUM"
    TALL = "TALL"


class MediaFile(_Model):
    """A file the handset downloads: a material of the business's library (`material_id`), which the
    platform resolves to the URL the sending chatbot's carrier hosts it under, or a carrier-hosted
    URL given directly (then with its type and size)."""

    material_id: str | None = Field(default=None, min_length=1, max_length=64,
                                    description="A material uploaded through /v1/materials.")
    url: AnyUrl | None = None
    content_type: str | None = Field(default=None, min_length=3, max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+$")
    size: int | None = Field(default=None, ge=0, description="Bytes.")
    name: str | None = Field(default=None, min_length=1, max_length=255)
    until: datetime | None = Field(default=None, description="When the carrier URL expires.")

    @model_validator(mode="after")
    def _material_or_url(self) -> MediaFile:
        if (self.material_id is None) == (self.url is None):
            raise ValueError("give material_id or url, not both")
        if self.url is not None and (self.content_type is None or self.size is None):
            raise ValueError("a url needs its content_type and size")
        return self


class CardMedia(_Model):
    file: MediaFile
    thumbnail: MediaFile | None = None
    height: MediaHeight = MediaHeight.MEDIUM
    description: str | None = Field(default=None, min_length=1, max_length=MAX_MEDIA_DESCRIPTION)


class Card(_Model):
    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE)
    description: str | None = Field(default=None, min_length=1, max_length=MAX_DESCRIPTION)
    media: CardMedia | None = None
    suggestions: list[Suggestion] = Field(default_factory=list, max_length=MAX_CARD_SUGGESTIONS)

    @model_validator(mode="after")
    def _has_something_to_show(self) -> Card:
        if self.title is None and self.description is None and self.media is None:
            raise ValueError("a card needs a title, a description or media")
        return self


class _ContentBase(_Model):
    suggestions: list[Suggestion] = Field(
        default_factory=list, max_length=MAX_CHIPS, description="Suggestion chips under the message (up to 11)."
    )


class TextContent(_ContentBase):
    kind: Literal["text"] = "text"
    text: str = Field(min_length=1, max_length=MAX_TEXT)


class FileContent(_ContentBase):
    kind: Literal["file"] = "file"
    file: MediaFile
    thumbnail: MediaFile | None = None


class RichCardContent(_ContentBase):
    kind: Literal["rich_card"] = "rich_card"
    card: Card
    orientation: Literal["VERTICAL", "HORIZONTAL"] = "VERTICAL"
    image_alignment: Literal["LEFT", "RIGHT"] | None = None

    @model_validator(mode="after")
    def _alignment_only_when_horizontal(self) -> RichCardContent:
        if self.image_alignment is not None and self.orientation != "HORIZONTAL":
            raise ValueError("image_alignment applies to HORIZONTAL cards only")
        return self


class CarouselContent(_ContentBase):
    kind: Literal["carousel"] = "carousel"
    card_width: Literal["SMALL", "MEDIUM"] = "MEDIUM"
    cards: list[Card] = Field(min_length=MIN_CAROUSEL_CARDS, max_length=MAX_CAROUSEL_CARDS)


Content = Annotated[TextContent | FileContent | RichCardContent | CarouselContent, Field(discriminator="kind")]

CONTENT_KINDS = ("text", "file", "rich_card", "carousel")


# ---- uplink (mobile-originated) content -------------------------------------------------------


class UplinkText(_Model):
    kind: Literal["text"] = "text"
    text: str


class UplinkSuggestionResponse(_Model):
    """The user tapped a suggestion: a reply chip (with postback) or an action (postback optional)."""

    kind: Literal["suggestion_response"] = "suggestion_response"
    response_type: Literal["reply", "action"]
    text: str | None = None
    postback_data: str | None = None


class UplinkFile(_Model):
    kind: Literal["file"] = "file"
    file: MediaFile
    thumbnail: MediaFile | None = None


class UplinkLocation(_Model):
    kind: Literal["location"] = "location"
    latitude: float
    longitude: float
    label: str | None = None
    crs: str | None = None


class UplinkSharedData(_Model):
    kind: Literal["shared_data"] = "shared_data"
    device_specifics: dict[str, str | int | float | None]


class UplinkSpamReport(_Model):
    kind: Literal["spam_report"] = "spam_report"
    spam_type: str | None = None
    free_text: str | None = None


UplinkContent = Annotated[
    UplinkText | UplinkSuggestionResponse | UplinkFile | UplinkLocation | UplinkSharedData | UplinkSpamReport,
    Field(discriminator="kind"),
]
