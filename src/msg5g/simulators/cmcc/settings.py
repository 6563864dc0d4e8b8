"""Configuration of the CMCC simulator: chatbot accounts, fault knobs and runtime settings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, cast

from .constants import CHATBOT_DOMAIN, IMS_DOMAIN, MAX_BODY_BYTES, MAX_DESTINATIONS

Capability = Literal["up2", "up1", "none", "offline"]
AddressForm = Literal["tel", "sip"]
# What the audit of an upload or template does: "hold" sends no result until settled by hand.
AuditDecision = Literal["approve", "reject", "hold"]
CAPABILITIES: tuple[Capability, ...] = ("up2", "up1", "none", "offline")
ADDRESS_FORMS: tuple[AddressForm, ...] = ("tel", "sip")
AUDIT_DECISIONS: tuple[AuditDecision, ...] = ("approve", "reject", "hold")
_MIB = 1024 * 1024


class ConfigError(ValueError):
    """A settings file, CLI flag or control-API body that cannot be understood."""


@dataclass(frozen=True, slots=True)
class ChatbotAccount:
    """A chatbot the simulated MaaP knows; `notify_url` is the CSP's callback root."""

    chatbot_id: str
    app_id: str
    password: str
    notify_url: str

    def __post_init__(self) -> None:
        if not self.chatbot_id.isdigit():
            raise ConfigError(f"chatbot_id must be digits, got {self.chatbot_id!r}")
        if not self.app_id or not self.password:
            raise ConfigError("app_id and password must not be empty")
        if not self.notify_url.startswith(("http://", "https://")):
            raise ConfigError(f"notify_url must be an http(s) URL, got {self.notify_url!r}")

    @property
    def uri(self) -> str:
        return f"sip:{self.chatbot_id}@{CHATBOT_DOMAIN}"

    @classmethod
    def from_flag(cls, flag: str) -> ChatbotAccount:
        """Parse ``id:appid:password:notify_url`` (the URL keeps its own colons)."""
        pieces = flag.split(":", 3)
        if len(pieces) != 4:
            raise ConfigError(f"--chatbot expects id:appid:password:notify_url, got {flag!r}")
        return cls(*pieces)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], chatbot_id: str | None = None) -> ChatbotAccount:
        try:
            return cls(
                chatbot_id=str(chatbot_id if chatbot_id is not None else data["chatbot_id"]),
                app_id=str(data["app_id"]),
                password=str(data["password"]),
                notify_url=str(data["notify_url"]),
            )
        except KeyError as exc:
            raise ConfigError(f"chatbot account is missing {exc.args[0]!r}") from None


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
    # Sends accepted per chatbot per second (0: no limit); over it, 31008 (protocols.md §1.2).
    tps_limit: float = 0.0

    def updated(self, data: Mapping[str, Any]) -> Faults:
        """Return a copy with the given keys changed; unknown keys or bad values raise."""
        known = {f.name: f for f in fields(self)}
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


@dataclass(slots=True)
class SimulatorSettings:
    """Everything `create_app` needs. Delays and fault knobs live in `faults`."""

    chatbots: list[ChatbotAccount] = field(default_factory=list)
    # Server root in front of /messaging/... (e.g. "/mbmp/developer/accesslayer", §1.1).
    path_prefix: str = ""
    date_skew_seconds: float = 300.0
    strict_schema: bool = False
    faults: Faults = field(default_factory=Faults)
    # Per-number capability at start, e.g. {"+8613800000000": "none"}; others get the default.
    handsets: dict[str, Capability] = field(default_factory=dict)
    default_capability: Capability = "up2"
    # Share of delivery notifications whose address is the IMS SIP form instead of tel:
    # (applies to numbers without an explicit address_form).
    sip_address_ratio: float = 0.0
    ims_domain: str = IMS_DOMAIN
    max_destinations: int = MAX_DESTINATIONS
    max_body_bytes: int = MAX_BODY_BYTES
    # Notification delivery to the CSP.
    notify_retries: int = 3
    notify_backoff_ms: float = 50.0
    notify_timeout_seconds: float = 10.0
    notify_connection_limit: int = 100
    notify_workers: int = 100
    notify_queue_size: int = 100_000
    # Memory bounds for long benchmark runs (oldest entries are dropped first; about 3 KB per
    # message whose recipient is a new number). Dedupe is lost for evicted message ids.
    max_messages: int = 200_000
    inbox_limit: int = 100
    max_handsets: int = 200_000
    random_seed: int | None = None
    # Media (素材) and template (模板) audit: the policy at start (PUT /_sim/audit changes it).
    # The result goes out audit_delay_seconds after the upload or submission.
    audit_delay_seconds: float = 0.2
    media_audit: AuditDecision = "approve"
    template_audit: AuditDecision = "approve"
    audit_reject_reason: str = "审核未通过"
    # [I] `until` of an uploaded file: upload + 30 days (docs/protocol-choices.md).
    media_ttl_seconds: float = 30 * 86400.0
    # §3.2 limits per kind of file (MiB / KiB); over them the upload is refused 413.
    media_image_max_bytes: int = 2 * _MIB
    media_audio_max_bytes: int = 5 * _MIB
    media_video_max_bytes: int = 10 * _MIB
    media_thumbnail_max_bytes: int = 200 * 1024
    # Memory bound on uploaded bytes held for download; the oldest uploads are forgotten first.
    max_media_bytes: int = 256 * _MIB

    def __post_init__(self) -> None:
        prefix = self.path_prefix.strip()
        if prefix and not prefix.startswith("/"):
            prefix = "/" + prefix
        self.path_prefix = prefix.rstrip("/")
        if not 0.0 <= self.sip_address_ratio <= 1.0:
            raise ConfigError("sip_address_ratio must be within 0..1")
        if self.default_capability not in CAPABILITIES:
            raise ConfigError(f"default_capability must be one of {CAPABILITIES}")
        for number, capability in self.handsets.items():
            if capability not in CAPABILITIES:
                raise ConfigError(f"handset {number}: capability must be one of {CAPABILITIES}")
        for name in ("media_audit", "template_audit"):
            if getattr(self, name) not in AUDIT_DECISIONS:
                raise ConfigError(f"{name} must be one of {AUDIT_DECISIONS}")
        if self.audit_delay_seconds < 0 or self.media_ttl_seconds < 0:
            raise ConfigError("audit_delay_seconds and media_ttl_seconds must not be negative")
        limits = (
            self.media_image_max_bytes,
            self.media_audio_max_bytes,
            self.media_video_max_bytes,
            self.media_thumbnail_max_bytes,
        )
        if min(limits) <= 0:
            raise ConfigError("media size limits must be positive")

    @property
    def max_upload_bytes(self) -> int:
        """Largest upload body worth reading: the largest file, its thumbnail and the multipart framing."""
        largest = max(self.media_image_max_bytes, self.media_audio_max_bytes, self.media_video_max_bytes)
        return largest + self.media_thumbnail_max_bytes + 64 * 1024

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SimulatorSettings:
        """Build settings from a JSON-like mapping (the --config file format)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown settings: {sorted(unknown)}")
        values: dict[str, Any] = dict(data)
        raw_bots = values.pop("chatbots", [])
        if not isinstance(raw_bots, list):
            raise ConfigError("chatbots must be a list")
        values["chatbots"] = [
            ChatbotAccount.from_flag(b) if isinstance(b, str) else ChatbotAccount.from_mapping(b) for b in raw_bots
        ]
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
