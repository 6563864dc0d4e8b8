"""HTML form input: reading fields, building a SendRequest, and errors people can read.

Validation stays where it is for the API: the form is turned into the same request body the API
takes and validated by `SendRequest`; only the error messages are translated here, keyed on
pydantic's error types and the domain's error codes (which stay English and are shown beside).
"""

from __future__ import annotations

import mimetypes
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from msg5g.admin.i18n import N_
from msg5g.domain.errors import DomainError
from msg5g.services.submit import SendRequest

Gettext = Callable[..., str]

KINDS = {"text": N_("Text"), "rich_card": N_("Rich card")}

FIELD_LABELS = {
    "business_id": N_("Business"),
    "chatbot_id": N_("Chatbot"),
    "recipients": N_("Recipients"),
    "kind": N_("Kind"),
    "text": N_("Text"),
    "title": N_("Card title"),
    "description": N_("Card description"),
    "image_url": N_("Image URL"),
    "chips": N_("Suggestion chips"),
    "fallback_text": N_("SMS fallback text"),
    "client_message_id": N_("Form"),
    "traffic_class": N_("Traffic class"),
    "expires_at": N_("Expiry"),
    "": N_("Message"),
}

# Domain error codes the send page can meet, in words for an operator rather than an API caller.
_DOMAIN_MESSAGES = {
    "chatbot_not_found": N_("No such chatbot in this tenant."),
    "business_not_found": N_("No such business in this tenant."),
    "idempotency_conflict": N_("This form was sent already. Reload the page to send another message."),
    "traffic_class_not_allowed": N_("This business may not send this traffic class."),
}

_RECIPIENT_SEPARATORS = re.compile(r"[\s,;，；、]+")


def form_text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def new_form_key() -> str:
    """A per-form idempotency key: submitting the same form twice (a double click, a reload) sends once."""
    return f"admin-{secrets.token_urlsafe(18)}"


@dataclass(slots=True)
class FieldError:
    field: str  # a form field name; "" for the form as a whole
    label: str
    message: str
    code: str | None = None  # the stable English code, when the domain gave one
    where: str = ""  # which entry of a multi-value field: "#2: 1380"

    @property
    def inline(self) -> str:
        """The message as shown beside its field."""
        return f"{self.where} {self.message}" if self.where else self.message


@dataclass(slots=True)
class SendForm:
    business_id: str = ""
    chatbot_id: str = ""
    recipients: str = ""
    kind: str = "text"
    text: str = ""
    title: str = ""
    description: str = ""
    image_url: str = ""
    chips: str = ""
    fallback_text: str = ""
    client_message_id: str = ""

    @classmethod
    def parse(cls, form: FormData) -> SendForm:
        return cls(**{f.name: form_text(form, f.name).strip() for f in fields(cls)})

    def recipient_list(self) -> list[str]:
        return [r for r in _RECIPIENT_SEPARATORS.split(self.recipients) if r]

    def chip_lines(self) -> list[str]:
        return [line.strip() for line in self.chips.splitlines() if line.strip()]

    def body(self) -> dict[str, Any]:
        """The API request body this form stands for."""
        suggestions = []
        for line in self.chip_lines():
            label, _, postback = line.partition("|")
            label, postback = label.strip(), postback.strip()
            suggestions.append({"type": "reply", "text": label, "postback_data": postback or label})
        content: dict[str, Any]
        if self.kind == "rich_card":
            card: dict[str, Any] = {"title": self.title or None, "description": self.description or None}
            if self.image_url:
                image = {"url": self.image_url, "content_type": _image_type(self.image_url), "size": 0}
                card["media"] = {"file": image}
            content = {"kind": "rich_card", "card": card, "suggestions": suggestions}
        else:
            content = {"kind": "text", "text": self.text, "suggestions": suggestions}
        return {
            "chatbot_id": self.chatbot_id,
            "recipients": self.recipient_list(),
            "content": content,
            "fallback_text": self.fallback_text or None,
            "client_message_id": self.client_message_id or None,
        }

    def to_request(self) -> SendRequest:
        return SendRequest.model_validate(self.body())


def _image_type(url: str) -> str:
    # The size and type of a remote image are unknown until a carrier fetches it; the Materials
    # section will upload files and know both.
    guessed, _ = mimetypes.guess_type(url.split("?", 1)[0])
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


def validation_errors(exc: ValidationError, form: SendForm, _: Gettext) -> list[FieldError]:
    found: list[FieldError] = []
    for error in exc.errors():
        field, where = _form_field(tuple(error["loc"]), form)
        message = _validation_message(error, field, _)
        label = _(FIELD_LABELS.get(field, FIELD_LABELS[""]))
        found.append(FieldError(field=field, label=label, message=message, where=where))
    return found


def domain_error(exc: DomainError, _: Gettext) -> FieldError:
    field = exc.field if exc.field in FIELD_LABELS else ""
    known = _DOMAIN_MESSAGES.get(exc.code)
    return FieldError(field=field or "", label=_(FIELD_LABELS[field or ""]),
                      message=_(known) if known else exc.message, code=exc.code)


def _form_field(loc: tuple[Any, ...], form: SendForm) -> tuple[str, str]:
    """The form field an error location points at, and which entry of it ("#2: 1380")."""
    if not loc:
        return "", ""
    head = str(loc[0])
    if head == "recipients" and len(loc) > 1 and isinstance(loc[1], int):
        recipients = form.recipient_list()
        value = recipients[loc[1]] if loc[1] < len(recipients) else ""
        return "recipients", f"#{loc[1] + 1}: {value}"
    if head != "content":
        return head, ""
    rest = [str(p) for p in loc[2:]]  # loc[1] is the content kind (the union's tag)
    if rest[:1] == ["suggestions"]:
        index = loc[3] if len(loc) > 3 and isinstance(loc[3], int) else None
        return "chips", f"#{index + 1}" if index is not None else ""
    if rest[:1] == ["text"]:
        return "text", ""
    if rest[:1] == ["card"]:
        part = rest[1] if len(rest) > 1 else ""
        return {"title": "title", "description": "description", "media": "image_url"}.get(part, "title"), ""
    return "", ""


def _validation_message(error: Any, field: str, _: Gettext) -> str:
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "missing" or (kind == "string_too_short" and context.get("min_length") == 1):
        return _("Required.")
    if kind == "too_short" and field == "recipients":
        return _("Enter at least one recipient.")
    if kind == "string_too_short":
        return _("At least %(count)s characters.", count=context.get("min_length"))
    if kind == "string_too_long":
        return _("At most %(count)s characters.", count=context.get("max_length"))
    if kind == "too_long":
        return _("At most %(count)s entries.", count=context.get("max_length"))
    if kind.startswith("url_"):
        return _("Not a valid URL.")
    if kind == "value_error" and field == "recipients":
        return _("Not a valid mobile number.")
    if kind == "value_error" and field == "title":
        return _("A card needs a title, a description or an image.")
    return str(error.get("msg", kind))


# ---- pydantic errors of a form turned into a model ------------------------------------------------


def validation_message(error: Any, _: Gettext) -> str:
    kind, context = error["type"], error.get("ctx") or {}
    if kind == "missing":
        return _("Required.")
    if kind in {"int_parsing", "int_type"}:
        return _("A whole number.")
    if kind == "greater_than_equal":
        return _("At least %(count)s.", count=context.get("ge"))
    if kind == "less_than_equal":
        return _("At most %(count)s.", count=context.get("le"))
    if kind.startswith("date_"):
        return _("A date as YYYY-MM-DD.")
    return str(error.get("msg", kind)).removeprefix("Value error, ")


def whole_number(value: str) -> int | str:
    """A form's number as an int for the models' StrictInt; anything else as typed, which they refuse."""
    try:
        return int(value)
    except ValueError:
        return value


def model_errors(exc: ValidationError, labels: dict[str, str], _: Gettext, where: str = "") -> list[FieldError]:
    """Errors of a model built from a form whose field names are the model's (`labels` names them)."""
    errors = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        name = str(loc[0]) if loc and str(loc[0]) in labels else ""
        errors.append(FieldError(field=name, label=_(labels[name]), message=validation_message(error, _),
                                 where=where))
    return errors
