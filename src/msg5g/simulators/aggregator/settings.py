"""Configuration of the aggregator simulator: accounts, chatbots, fault knobs and runtime settings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, cast

from .constants import (
    DEFAULT_REJECT_REASON,
    MAX_BODY_BYTES,
    MAX_NUMBERS,
    MEDIA_MAX_BYTES,
    MEDIA_TTL_SECONDS,
    TIMESTAMP_SKEW_SECONDS,
)

Capability = Literal["rcs", "sms_only", "unreachable"]
Carrier = Literal["cmcc", "ctcc", "cucc"]
# What the audit does with an upload or template: pass it, reject it, or wait for the control API.
AuditMode = Literal["approve", "reject", "hold"]
CAPABILITIES: tuple[Capability, ...] = ("rcs", "sms_only", "unreachable")
CARRIERS: tuple[Carrier, ...] = ("cmcc", "ctcc", "cucc")
AUDIT_MODES: tuple[AuditMode, ...] = ("approve", "reject", "hold")


class ConfigError(ValueError):
    """A settings file, CLI flag or control-API body that cannot be understood."""


@dataclass(frozen=True, slots=True)
class Account:
    """A customer of the aggregator: credentials and the one URL every push goes to."""

    appid: str
    appkey: str
    push_url: str

    def __post_init__(self) -> None:
        if not self.appid or not self.appkey:
            raise ConfigError("appid and appkey must not be empty")
        if "/" in self.appid:
            raise ConfigError(f"appid must not contain '/', got {self.appid!r}")
        if not self.push_url.startswith(("http://", "https://")):
            raise ConfigError(f"push_url must be an http(s) URL, got {self.push_url!r}")

    @classmethod
    def from_flag(cls, flag: str) -> Account:
        """Parse ``appid:appkey:push_url`` (the URL keeps its own colons)."""
        pieces = flag.split(":", 2)
        if len(pieces) != 3:
            raise ConfigError(f"--account expects appid:appkey:push_url, got {flag!r}")
        return cls(*pieces)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], appid: str | None = None) -> Account:
        try:
            return cls(
                appid=str(appid if appid is not None else data["appid"]),
                appkey=str(data["appkey"]),
                push_url=str(data["push_url"]),
            )
        except KeyError as exc:
            raise ConfigError(f"account is missing {exc.args[0]!r}") from None


def check_chatbot_id(chatbot_id: str) -> str:
    if not chatbot_id or "/" in chatbot_id or chatbot_id != chatbot_id.strip():
        raise ConfigError(f"chatbot id must be a non-empty string without '/' or spaces, got {chatbot_id!r}")
    return chatbot_id


def parse_chatbot_flag(flag: str) -> tuple[str, str]:
    """Parse ``chatbot_id:appid``; the chatbot id may itself hold colons (``sip:...``)."""
    chatbot_id, sep, appid = flag.rpartition(":")
    if not sep or not appid:
        raise ConfigError(f"--chatbot expects chatbot_id:appid, got {flag!r}")
    return check_chatbot_id(chatbot_id), appid


@dataclass(slots=True)
class Faults:
    """Fault injection knobs; all may be changed at runtime through PUT /_sim/faults."""

    error_rate: float = 0.0
    latency_ms: float = 0.0
    burst_5xx: int = 0
    timeout_next: int = 0
    hang_seconds: float = 30.0
    duplicate_notifications: bool = False
    out_of_order: bool = False
    delivered_delay_ms: float = 50.0
    displayed_delay_ms: float = 50.0
    # /rcs/send requests per second and appid; 0 means unlimited.
    tps_limit: int = 0

    def updated(self, data: Mapping[str, Any]) -> Faults:
        """Return a copy with the given keys changed; unknown keys or bad values raise."""
        known = {f.name for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ConfigError(f"unknown fault {key!r}")
            current = getattr(self, key)
            if isinstance(current, bool):
                if not isinstance(value, bool):
                    raise ConfigError(f"fault {key!r} must be a boolean")
                changes[key] = value
            elif isinstance(current, int):
                if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    raise ConfigError(f"fault {key!r} must be a non-negative integer")
                changes[key] = value
            else:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ConfigError(f"fault {key!r} must be a non-negative number")
                changes[key] = float(value)
        if changes.get("error_rate", 0.0) > 1.0:
            raise ConfigError("error_rate must be within 0..1")
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True, slots=True)
class AuditPolicy:
    """How uploads and templates submitted from now on are audited (PUT /_sim/audit)."""

    media: AuditMode = "approve"
    templates: AuditMode = "approve"
    # Upload/submission -> the Media/Template event.
    delay_seconds: float = 0.2
    # The reason of a policy rejection (automatic rejections carry their own).
    reason: str = DEFAULT_REJECT_REASON
    # Upload -> the `expired` of the Media event.
    ttl_seconds: float = MEDIA_TTL_SECONDS

    def updated(self, data: Mapping[str, Any]) -> AuditPolicy:
        """Return a copy with the given keys changed; unknown keys or bad values raise."""
        known = {f.name for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ConfigError(f"unknown audit setting {key!r}")
            if key in ("media", "templates"):
                if value not in AUDIT_MODES:
                    raise ConfigError(f"audit {key!r} must be one of {AUDIT_MODES}")
                changes[key] = value
            elif key == "reason":
                if not isinstance(value, str) or not value:
                    raise ConfigError("audit 'reason' must be a non-empty string")
                changes[key] = value
            else:
                if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                    raise ConfigError(f"audit {key!r} must be a non-negative number")
                changes[key] = float(value)
        if changes.get("ttl_seconds", self.ttl_seconds) <= 0:
            raise ConfigError("audit 'ttl_seconds' must be positive")
        return replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(slots=True)
class SimulatorSettings:
    """Everything `create_app` needs. Delays and fault knobs live in `faults`."""

    accounts: list[Account] = field(default_factory=list)
    # chatbot id -> the appid it belongs to.
    chatbots: dict[str, str] = field(default_factory=dict)
    # Path in front of /rcs/... (the `{base}` of the choices document may carry one).
    path_prefix: str = ""
    timestamp_skew_seconds: float = TIMESTAMP_SKEW_SECONDS
    faults: Faults = field(default_factory=Faults)
    # Per-number capability and carrier at start; other numbers get the default capability and the
    # carrier of their prefix. A carrier entry models a ported number (携号转网).
    handsets: dict[str, Capability] = field(default_factory=dict)
    carriers: dict[str, Carrier] = field(default_factory=dict)
    default_capability: Capability = "rcs"
    max_numbers: int = MAX_NUMBERS
    max_body_bytes: int = MAX_BODY_BYTES
    # Pushes to the customer.
    notify_retries: int = 3
    notify_backoff_ms: float = 50.0
    notify_timeout_seconds: float = 10.0
    notify_connection_limit: int = 100
    notify_workers: int = 100
    notify_queue_size: int = 100_000
    # Memory bounds for long benchmark runs; the oldest sends are forgotten first, and with them
    # the client_ref dedupe of those numbers.
    max_messages: int = 200_000
    inbox_limit: int = 100
    max_handsets: int = 200_000
    random_seed: int | None = None
    # Media and template audits (the start values of PUT /_sim/audit).
    audit_media: AuditMode = "approve"
    audit_templates: AuditMode = "approve"
    audit_delay_seconds: float = 0.2
    audit_reason: str = DEFAULT_REJECT_REASON
    media_ttl_seconds: float = MEDIA_TTL_SECONDS
    # Largest file (and thumbnail) part of an upload.
    media_max_bytes: int = MEDIA_MAX_BYTES
    # Uploads keep their bytes in memory: the oldest are forgotten first (their URLs then 404 and
    # are no longer checked in sends).
    max_media: int = 1000
    max_templates: int = 10_000

    def __post_init__(self) -> None:
        prefix = self.path_prefix.strip()
        if prefix and not prefix.startswith("/"):
            prefix = "/" + prefix
        self.path_prefix = prefix.rstrip("/")
        if self.default_capability not in CAPABILITIES:
            raise ConfigError(f"default_capability must be one of {CAPABILITIES}")
        for number, capability in self.handsets.items():
            if capability not in CAPABILITIES:
                raise ConfigError(f"handset {number}: capability must be one of {CAPABILITIES}")
        for number, carrier in self.carriers.items():
            if carrier not in CARRIERS:
                raise ConfigError(f"handset {number}: carrier must be one of {CARRIERS}")
        # Raises ConfigError on a bad mode, delay or ttl.
        self.audit_policy()
        if self.media_max_bytes <= 0:
            raise ConfigError("media_max_bytes must be positive")
        appids = {a.appid for a in self.accounts}
        for chatbot_id, appid in self.chatbots.items():
            check_chatbot_id(chatbot_id)
            if appid not in appids:
                raise ConfigError(f"chatbot {chatbot_id!r} belongs to unknown appid {appid!r}")

    def audit_policy(self) -> AuditPolicy:
        return AuditPolicy().updated(
            {
                "media": self.audit_media,
                "templates": self.audit_templates,
                "delay_seconds": self.audit_delay_seconds,
                "reason": self.audit_reason,
                "ttl_seconds": self.media_ttl_seconds,
            }
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SimulatorSettings:
        """Build settings from a JSON-like mapping (the --config file format)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown settings: {sorted(unknown)}")
        values: dict[str, Any] = dict(data)
        raw_accounts = values.pop("accounts", [])
        if not isinstance(raw_accounts, list):
            raise ConfigError("accounts must be a list")
        values["accounts"] = [
            Account.from_flag(a) if isinstance(a, str) else Account.from_mapping(a) for a in raw_accounts
        ]
        raw_bots = values.pop("chatbots", {})
        if isinstance(raw_bots, list):
            values["chatbots"] = dict(parse_chatbot_flag(str(flag)) for flag in raw_bots)
        elif isinstance(raw_bots, Mapping):
            values["chatbots"] = {str(k): str(v) for k, v in raw_bots.items()}
        else:
            raise ConfigError("chatbots must be an object {chatbot_id: appid} or a list of 'id:appid'")
        raw_faults = values.pop("faults", {})
        if not isinstance(raw_faults, Mapping):
            raise ConfigError("faults must be an object")
        values["faults"] = Faults().updated(cast(Mapping[str, Any], raw_faults))
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigError(str(exc)) from None

    @classmethod
    def from_json_file(cls, path: str | Path) -> SimulatorSettings:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError("config file must hold a JSON object")
        return cls.from_mapping(data)
