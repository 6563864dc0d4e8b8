"""GSMA chatbot JSON (bot message, bot suggestion, suggestion response): shared by every carrier.

All three Chinese API families carry the same GSMA content types (shared/reference/protocols.md §0,
§2); only the envelope around them differs, and that lives in each carrier's module.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import unquote

from msg5g.domain.content import (
    CalendarEventAction,
    Card,
    CardMedia,
    CarouselContent,
    ComposeRecordingAction,
    ComposeTextAction,
    DeviceSpecificsAction,
    DialAction,
    OpenUrlAction,
    ReplySuggestion,
    RequestLocationAction,
    RichCardContent,
    SettingsAction,
    ShowLocationAction,
    Suggestion,
    UplinkLocation,
    UplinkSuggestionResponse,
)
from msg5g.kit.clock import as_utc

JSON = dict[str, Any]

# §0: the content types every API family carries (the FT-HTTP descriptor comes as XML on CMCC and
# as JSON on CT/CU, so each carrier module names its own flavour of that one).
CT_TEXT = "text/plain"
CT_BOTMESSAGE = "application/vnd.gsma.botmessage.v1.0+json"
CT_SUGGESTIONS = "application/vnd.gsma.botsuggestion.v1.0+json"
CT_SUGGESTION_RESPONSE = "application/vnd.gsma.botsuggestion.response.v1.0+json"
CT_SHARED_DATA = "application/vnd.gsma.botsharedclientdata.v1.0+json"


def iso_utc(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z. isoformat pads the year to four digits, where strftime's %Y may not."""
    return as_utc(moment).replace(tzinfo=None, microsecond=0).isoformat() + "Z"


def _action_body(suggestion: Suggestion) -> JSON:
    """§2.2: the action kind object for one suggested action."""
    match suggestion:
        case OpenUrlAction():
            open_url: JSON = {"url": str(suggestion.url), "application": suggestion.application}
            if suggestion.application == "webview" and suggestion.view_mode:
                open_url["viewMode"] = suggestion.view_mode
            return {"urlAction": {"openUrl": open_url}}
        case DialAction():
            return {"dialerAction": {"dialPhoneNumber": {"phoneNumber": suggestion.phone_number}}}
        case ShowLocationAction():
            location: JSON = {"latitude": suggestion.latitude, "longitude": suggestion.longitude}
            if suggestion.label:
                location["label"] = suggestion.label
            show: JSON = {"location": location}
            if suggestion.fallback_url:
                show["fallbackUrl"] = str(suggestion.fallback_url)
            return {"mapAction": {"showLocation": show}}
        case RequestLocationAction():
            return {"mapAction": {"requestLocationPush": {}}}
        case CalendarEventAction():
            event: JSON = {"startTime": iso_utc(suggestion.start_time), "endTime": iso_utc(suggestion.end_time),
                           "title": suggestion.title}
            if suggestion.description:
                event["description"] = suggestion.description
            return {"calendarAction": {"createCalendarEvent": event}}
        case ComposeTextAction():
            return {"composeAction": {"composeTextMessage": {"phoneNumber": suggestion.phone_number,
                                                             "text": suggestion.draft}}}
        case ComposeRecordingAction():
            return {"composeAction": {"composeRecordingMessage": {"phoneNumber": suggestion.phone_number,
                                                                  "type": suggestion.recording}}}
        case DeviceSpecificsAction():
            return {"deviceAction": {"requestDeviceSpecifics": {}}}
        case SettingsAction():
            setting = "disableAnonymization" if suggestion.setting == "disable_anonymization" else (
                "enableDisplayedNotifications")
            return {"settingsAction": {setting: {}}}
    raise TypeError(f"not an action: {suggestion!r}")


def build_suggestion(suggestion: Suggestion) -> JSON:
    common: JSON = {"displayText": suggestion.text}
    if isinstance(suggestion, ReplySuggestion):
        # A reply without postback would come back indistinguishable from typed text.
        common["postback"] = {"data": suggestion.postback_data or suggestion.text}
        return {"reply": common}
    if suggestion.postback_data is not None:
        common["postback"] = {"data": suggestion.postback_data}
    return {"action": {**_action_body(suggestion), **common}}


def build_suggestions(suggestions: list[Suggestion]) -> JSON:
    return {"suggestions": [build_suggestion(s) for s in suggestions]}


def _media(media: CardMedia) -> JSON:
    body: JSON = {
        "mediaUrl": str(media.file.url),
        "mediaContentType": media.file.content_type,
        "mediaFileSize": media.file.size,
        "height": f"{media.height.value}_HEIGHT",
    }
    if media.thumbnail is not None:
        body["thumbnailUrl"] = str(media.thumbnail.url)
        body["thumbnailContentType"] = media.thumbnail.content_type
        body["thumbnailFileSize"] = media.thumbnail.size
    if media.description:
        body["contentDescription"] = media.description
    return body


def _card(card: Card) -> JSON:
    body: JSON = {}
    if card.media is not None:
        body["media"] = _media(card.media)
    if card.title is not None:
        body["title"] = card.title
    if card.description is not None:
        body["description"] = card.description
    if card.suggestions:
        body["suggestions"] = [build_suggestion(s) for s in card.suggestions]
    return body


def build_bot_message(content: RichCardContent | CarouselContent) -> JSON:
    """§2.1: the `application/vnd.gsma.botmessage.v1.0+json` body."""
    if isinstance(content, RichCardContent):
        layout: JSON = {"cardOrientation": content.orientation}
        if content.orientation == "HORIZONTAL":
            layout["imageAlignment"] = content.image_alignment or "LEFT"
        return {"message": {"generalPurposeCard": {"layout": layout, "content": _card(content.card)}}}
    return {
        "message": {
            "generalPurposeCardCarousel": {
                "layout": {"cardWidth": f"{content.card_width}_WIDTH"},
                "content": [_card(card) for card in content.cards],
            }
        }
    }


def parse_suggestion_response(document: JSON) -> UplinkSuggestionResponse:
    """§2.3: `{"response":{"reply":{...}}}` or a bare action click `{"response":{"action":{...}}}`."""
    response = document["response"]
    for response_type in ("reply", "action"):
        if response_type in response:
            tapped = response[response_type]
            postback = tapped.get("postback") or {}
            return UplinkSuggestionResponse(
                response_type=response_type,
                text=tapped.get("displayText"),
                postback_data=postback.get("data") if isinstance(postback, dict) else None,
            )
    raise KeyError("response has neither reply nor action")


def parse_geo_uri(body: str) -> UplinkLocation | None:
    """§1.1: `geo:50.73,7.09;crs=gcj02;u=10;rcs-l=Label%20text` (RFC 5870 plus the RCS label)."""
    coordinates, *params = body[4:].split(";")
    try:
        lat_text, lon_text = coordinates.split(",")[:2]
        latitude, longitude = float(lat_text), float(lon_text)
    except ValueError:
        return None
    options = dict(p.split("=", 1) for p in params if "=" in p)
    label = unquote(options["rcs-l"]) if "rcs-l" in options else None
    return UplinkLocation(latitude=latitude, longitude=longitude, label=label, crs=options.get("crs"))
