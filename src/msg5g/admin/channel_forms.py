"""The channel form, drawn from a channel type's settings fields (`ChannelAdmin.types()`).

No carrier's fields are written down here: a new adapter's settings model shows up in the form as it
is. The inputs carry the limits the field list states (required, max length, number) and the same
limits are checked here first, so that the common mistakes read in the operator's language; the
adapter's model, run by the service, stays the judge of everything else.

Secrets typed into the form are sent to the service and then dropped: a re-rendered form never
shows them, and an edit whose secret input is empty keeps the stored value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData

from msg5g.admin.forms import FieldError, Gettext, form_text
from msg5g.domain.errors import DomainError
from msg5g.services.channel_admin import ChannelTypeView

# The API's limits (gateway ChannelIn), so that both edges accept the same channels.
NAME_MAX_LENGTH = 200
URL_MAX_LENGTH = 500
SETTING_PREFIX = "settings."  # form inputs are named as the service names its error fields
_TRUE = "true"


def unknown_type(channel_type: str) -> ChannelTypeView:
    """A stand-in for a channel whose adapter is no longer installed: its page still opens."""
    return ChannelTypeView(type=channel_type, display_name=channel_type, url_schemes=(), settings_fields=[],
                           credentials_fields=[], capabilities={})


@dataclass(frozen=True, slots=True)
class SettingInput:
    """One settings field, as the template draws it."""

    name: str  # the input's name: settings.<field>
    title: str
    kind: str  # the <input type>: text, password, number, checkbox
    required: bool
    secret: bool
    description: str | None
    max_length: int | None
    step: str | None  # for number inputs: "1" (integer) or "any"
    value: str  # always "" for a secret
    is_set: bool  # a secret that has a stored value


@dataclass(slots=True)
class ChannelForm:
    type: str
    name: str = ""
    base_url: str = ""
    enabled: bool = True
    # Non-secret settings as typed (booleans as "true" or ""); there is deliberately no place for secrets.
    settings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def blank(cls, channel_type: ChannelTypeView) -> ChannelForm:
        defaults = {spec["name"]: _shown(spec["default"]) for spec in channel_type.settings_fields
                    if not spec["secret"] and spec["default"] is not None}
        return cls(type=channel_type.type, settings=defaults)

    @classmethod
    def of(cls, *, channel_type: str, name: str, base_url: str, enabled: bool,
           settings: dict[str, Any]) -> ChannelForm:
        return cls(type=channel_type, name=name, base_url=base_url, enabled=enabled,
                   settings={key: _shown(value) for key, value in settings.items()})

    @classmethod
    def parse(cls, form: FormData, channel_type: ChannelTypeView) -> tuple[ChannelForm, dict[str, str]]:
        """The form as typed, and apart from it the secrets typed (to be sent, never shown again)."""
        settings: dict[str, str] = {}
        secrets: dict[str, str] = {}
        for spec in channel_type.settings_fields:
            raw = form_text(form, SETTING_PREFIX + spec["name"])
            if spec["secret"]:
                # Not stripped: a password may well begin or end with a space.
                if raw:
                    secrets[spec["name"]] = raw
            elif spec["type"] == "boolean":
                settings[spec["name"]] = _TRUE if raw else ""
            else:
                settings[spec["name"]] = raw.strip()
        parsed = cls(type=channel_type.type, name=form_text(form, "name").strip(),
                     base_url=form_text(form, "base_url").strip(), enabled=bool(form_text(form, "enabled")),
                     settings=settings)
        return parsed, secrets

    def inputs(self, channel_type: ChannelTypeView, secrets_set: list[str] | None = None) -> list[SettingInput]:
        stored = set(secrets_set or [])
        drawn = []
        for spec in channel_type.settings_fields:
            kind = spec["type"]
            if spec["secret"]:
                input_kind = "password"
            else:
                input_kind = {"boolean": "checkbox", "integer": "number", "number": "number"}.get(kind, "text")
            drawn.append(SettingInput(
                name=SETTING_PREFIX + spec["name"], title=str(spec["title"]), kind=input_kind,
                required=bool(spec["required"]), secret=bool(spec["secret"]), description=spec["description"],
                max_length=spec["max_length"], step={"integer": "1", "number": "any"}.get(kind),
                value="" if spec["secret"] else self.settings.get(spec["name"], ""),
                is_set=spec["name"] in stored))
        return drawn

    def errors(self, _: Gettext) -> list[FieldError]:
        """Name and base URL, against the limits the inputs carry."""
        found = []
        for name, label, value, limit in (("name", _("Name"), self.name, NAME_MAX_LENGTH),
                                          ("base_url", _("Base URL"), self.base_url, URL_MAX_LENGTH)):
            if not value:
                found.append(FieldError(field=name, label=label, message=_("Required.")))
            elif len(value) > limit:
                found.append(FieldError(field=name, label=label,
                                        message=_("At most %(count)s characters.", count=limit)))
        return found

    def settings_values(self, channel_type: ChannelTypeView, secrets: dict[str, str], *, editing: bool,
                        _: Gettext) -> tuple[dict[str, Any], list[FieldError]]:
        """The settings to send to the service, and what is wrong with them by the field list's limits.

        An empty secret is left out, which on an edit keeps the stored one. An emptied optional field
        goes back to its default on an edit; on a create leaving it out does the same.
        """
        values: dict[str, Any] = {}
        errors: list[FieldError] = []
        for spec in channel_type.settings_fields:
            name, kind = spec["name"], spec["type"]
            where = FieldError(field=SETTING_PREFIX + name, label=str(spec["title"]), message="")
            if spec["secret"]:
                raw = secrets.get(name, "")
            elif kind == "boolean":
                values[name] = self.settings.get(name) == _TRUE
                continue
            else:
                raw = self.settings.get(name, "")
            if not raw:
                if spec["required"] and not (spec["secret"] and editing):
                    errors.append(_with(where, _("Required.")))
                elif editing and not spec["secret"]:
                    # A None default would read as "keep" in the service's merge, so "" is sent instead
                    # and the model says whether the field may be empty.
                    values[name] = spec["default"] if spec["default"] is not None else ""
                continue
            if spec["max_length"] is not None and len(raw) > spec["max_length"]:
                errors.append(_with(where, _("At most %(count)s characters.", count=spec["max_length"])))
                continue
            try:
                values[name] = int(raw) if kind == "integer" else float(raw) if kind == "number" else raw
            except ValueError:
                errors.append(_with(where, _("Enter a whole number.") if kind == "integer" else
                                    _("Enter a number.")))
        return values, errors


def service_error(exc: DomainError, channel_type: ChannelTypeView, _: Gettext) -> FieldError:
    """A ValidationFailed from ChannelAdmin, placed beside the input it names."""
    where = exc.field or ""
    if where == "base_url":
        schemes = " / ".join(f"{scheme}://" for scheme in channel_type.url_schemes)
        return FieldError(field="base_url", label=_("Base URL"), code=exc.code,
                          message=_("Use a URL that starts with %(schemes)s and names a host.", schemes=schemes))
    if where == "type":
        return FieldError(field="", label=_("Type"), message=_("Choose a channel type."), code=exc.code)
    # The adapter's model speaks English; its message is shown as it is, without the field path it repeats.
    message = exc.message.removeprefix(f"{where}: ")
    if where.startswith(SETTING_PREFIX):
        setting = where.removeprefix(SETTING_PREFIX).split(".", 1)[0]
        titles = {spec["name"]: str(spec["title"]) for spec in channel_type.settings_fields}
        if setting in titles:
            return FieldError(field=SETTING_PREFIX + setting, label=titles[setting], message=message, code=exc.code)
    return FieldError(field="", label=_("Channel"), message=message, code=exc.code)


def _with(where: FieldError, message: str) -> FieldError:
    return FieldError(field=where.field, label=where.label, message=message)


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return _TRUE if value else ""
    return "" if value is None else str(value)
