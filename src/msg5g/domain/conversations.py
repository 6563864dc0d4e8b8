"""Contacts and conversations: who a tenant talks to, and how each chatbot-and-number conversation stands."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

TAG = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[^\s,]+$")]


class Mode(StrEnum):
    """Who answers the conversation's uplinks."""

    BOT = "bot"  # the auto-reply rules
    WAITING = "waiting"  # handed over: waiting for a person (rules are silent)
    AGENT = "agent"  # a person has it


class ContactSpec(BaseModel):
    """A contact as a caller writes it: `attributes` and `tags` replace the stored ones when given."""

    model_config = ConfigDict(extra="forbid")
    attributes: dict[str, Any] | None = Field(default=None, max_length=100,
                                              description="Name, customer id... (rules and templates read them).")
    tags: list[TAG] | None = Field(default=None, max_length=100)

    @field_validator("attributes")
    @classmethod
    def _plain_values(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key, item in (value or {}).items():
            if not key or len(key) > 64 or key.startswith("_"):
                raise ValueError(f"attribute name {key!r}: 1 to 64 characters, not starting with _")
            if not isinstance(item, str | int | float | bool) and item is not None:
                raise ValueError(f"attribute {key!r}: a string, number, boolean or null")
            if isinstance(item, str) and len(item) > 1000:
                raise ValueError(f"attribute {key!r}: at most 1000 characters")
        return value
