"""What each adapter needs configured: channel settings and chatbot credentials, as pydantic models.

A model's `SecretStr` fields are the secrets: stored encrypted, never returned by the API. The
admin draws each channel type's form from the same models (`form_fields`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr

# `type` is a class attribute of every adapter, which shadows the builtin inside its class body.
ConfigModel = type[BaseModel]


class AdapterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NoConfig(AdapterConfig):
    """The adapter needs nothing configured here."""


def secret_fields(model_type: type[BaseModel]) -> set[str]:
    return {name for name, info in model_type.model_fields.items() if info.annotation is SecretStr
            or info.annotation == SecretStr | None}


def split_secrets(config: BaseModel) -> tuple[dict[str, Any], dict[str, str]]:
    """(plain values, secret values) of a validated config."""
    secrets = secret_fields(type(config))
    plain: dict[str, Any] = {}
    hidden: dict[str, str] = {}
    for name, value in config:
        if name in secrets:
            if value is not None:
                hidden[name] = value.get_secret_value()
        elif value is not None:
            plain[name] = value
    return plain, hidden


def form_fields(model_type: type[BaseModel]) -> list[dict[str, Any]]:
    """The fields of a config model, for drawing a form: name, title, type, required, secret, limits."""
    schema = model_type.model_json_schema()
    required = set(schema.get("required", []))
    secrets = secret_fields(model_type)
    fields = []
    for name, spec in schema.get("properties", {}).items():
        kind = spec.get("type") or next((s.get("type") for s in spec.get("anyOf", []) if s.get("type") != "null"),
                                        "string")
        fields.append({"name": name, "title": spec.get("title", name), "type": kind, "required": name in required,
                       "secret": name in secrets, "description": spec.get("description"),
                       "default": spec.get("default"), "max_length": spec.get("maxLength")})
    return fields
