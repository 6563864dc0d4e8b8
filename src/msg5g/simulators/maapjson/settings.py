"""Configuration of the CTCC / CUCC simulator: chatbot accounts, fault knobs and runtime settings."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, cast

from .constants import (
    DIALECTS,
    MAX_BODY_BYTES,
    MAX_DESTINATIONS,
    MAX_MEDIA,
    MEDIA_MAX_BYTES,
    NOTIFY_TOKEN_MAX,
    TOKEN_TTL_SECONDS,
    Dialect,
)

Capability = Literal["up2", "up1", "none", "offline"]
CAPABILITIES: tuple[Capability, ...] = ("up2", "up1", "none", "offline")
# What the simulated auditors do with an upload: decide after a delay, or wait for the control API.
AuditDecision = Literal["approve", "reject", "hold"]
AUDIT_DECISIONS: tuple[AuditDecision, ...] = ("approve", "reject", "hold")


class ConfigError(ValueError):
    """A settings file, CLI flag or control-API body that cannot be understood."""


def _non_negative(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and value >= 0


@dataclass(frozen=True, slots=True)
class ChatbotAccount:
    """A chatbot the simulated MaaP knows.

    `app_id`/`app_key` are what `updateDeveloper` hands out (§3.4) and /accessToken checks;
    `notify_token` is the developer token notifications are signed with; `notify_url` is the
    callback root; `tps_limit` (requests per second on /messages) is unlimited when None.
    """

    chatbot_id: str
    app_id: str
    app_key: str
    notify_token: str
    notify_url: str
    tps_limit: float | None = None

    def __post_init__(self) -> None:
        if not self.chatbot_id.isdigit():
            raise ConfigError(f"chatbot_id must be digits, got {self.chatbot_id!r}")
        if not self.app_id or not self.app_key:
            raise ConfigError("app_id and app_key must not be empty")
        if not 1 <= len(self.notify_token) <= NOTIFY_TOKEN_MAX:
            raise ConfigError(f"notify_token must be 1..{NOTIFY_TOKEN_MAX} characters")
        if not self.notify_url.startswith(("http://", "https://")):
            raise ConfigError(f"notify_url must be an http(s) URL, got {self.notify_url!r}")
        limit = self.tps_limit
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0):
            raise ConfigError("tps_limit must be a positive number or null")

    @classmethod
    def from_flag(cls, flag: str) -> ChatbotAccount:
        """Parse ``id:appid:appkey:token:notify_root`` (the URL keeps its own colons)."""
        pieces = flag.split(":", 4)
        if len(pieces) != 5:
            raise ConfigError(f"--chatbot expects id:appid:appkey:token:notify_root, got {flag!r}")
        chatbot_id, app_id, app_key, token, url = pieces
        return cls(chatbot_id, app_id, app_key, token, url)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], chatbot_id: str | None = None) -> ChatbotAccount:
        try:
            tps = data.get("tps_limit")
            return cls(
                chatbot_id=str(chatbot_id if chatbot_id is not None else data["chatbot_id"]),
                app_id=str(data["app_id"]),
                app_key=str(data["app_key"]),
                notify_token=str(data["notify_token"]),
                notify_url=str(data["notify_url"]),
                tps_limit=cast(float | None, tps),
            )
        except KeyError as exc:
            raise ConfigError(f"chatbot account is missing {exc.args[0]!r}") from None


@dataclass(slots=True)
class Faults:
    """Fault injection knobs; all may be changed at runtime through PUT /_sim/faults.

    `timeout_next`, `burst_5xx` and `expire_tokens` are one-shot: they are consumed as they act
    (setting `expire_tokens` true invalidates every issued token at once and reads back false).
    """

    error_rate: float = 0.0
    latency_ms: float = 0.0
    burst_5xx: int = 0
    timeout_next: int = 0
    hang_seconds: float = 30.0
    duplicate_notifications: bool = False
    out_of_order: bool = False
    delivered_delay_ms: float = 50.0
    displayed_delay_ms: float = 50.0
    expire_tokens: bool = False

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


@dataclass(slots=True)
class SimulatorSettings:
    """Everything `create_app` needs. Delays and fault knobs live in `faults`."""

    dialect: Dialect = "ctcc"
    chatbots: list[ChatbotAccount] = field(default_factory=list)
    # Server root in front of /bot/v1/... (the token answer's `url` points at it).
    path_prefix: str = ""
    # Overrides the `url` of the token answer; by default it is the root the client called.
    public_url: str | None = None
    token_ttl_seconds: int = TOKEN_TTL_SECONDS
    faults: Faults = field(default_factory=Faults)
    # Per-number capability at start, e.g. {"+8613800000000": "none"}; others get the default.
    handsets: dict[str, Capability] = field(default_factory=dict)
    default_capability: Capability = "up2"
    # Numbers that have left this carrier (携号转网) at start.
    ported_out: list[str] = field(default_factory=list)
    max_destinations: int = MAX_DESTINATIONS
    max_body_bytes: int = MAX_BODY_BYTES
    # When true, nothing is sent to a chatbot whose notifyPath handshake has not succeeded.
    require_notify_path: bool = False
    # Notification delivery to the CSP.
    notify_retries: int = 3
    notify_backoff_ms: float = 50.0
    notify_timeout_seconds: float = 10.0
    notify_connection_limit: int = 100
    notify_workers: int = 100
    notify_queue_size: int = 100_000
    # Memory bounds for long benchmark runs (oldest entries are dropped first). Dedupe is lost for
    # evicted message ids.
    max_messages: int = 200_000
    inbox_limit: int = 100
    max_handsets: int = 200_000
    random_seed: int | None = None
    # Media (素材, §3.3.4): defaults of the audit policy (PUT /_sim/audit changes it at runtime).
    # `audit_reason` is the description of a rejection; None uses a generic text.
    audit_media: AuditDecision = "approve"
    # Chatbot information and menu updates (§3.3.5) share the delay and the reason.
    audit_chatbot_info: AuditDecision = "approve"
    audit_delay_seconds: float = 0.2
    audit_reason: str | None = None
    # Lifetime of a temp upload; None is the dialect's (CTCC 3 days, CUCC 30 days).
    media_ttl_seconds: float | None = None
    # Largest file part taken (CUCC's Undertow limit, 20 MiB, on both).
    media_max_bytes: int = MEDIA_MAX_BYTES
    max_media: int = MAX_MEDIA
    # CSP management API (§3.4, choices "CSP management"): the one CSP whose credentials the
    # simulated carrier accepts, and where the API sits (under path_prefix, like the chatbot API).
    csp_id: str = "C1210000XX"
    csp_access_key: str = "csp-access-key"
    csp_path: str = "/cspApi/v1"
    # Enterprise-customer and chatbot-application audits share audit_delay_seconds and audit_reason.
    audit_customers: AuditDecision = "approve"
    audit_chatbots: AuditDecision = "approve"
    # How long after updateDeveloper the carrier first tries the notifyPath handshake (choices).
    developer_verify_delay_seconds: float = 0.3

    def __post_init__(self) -> None:
        if self.dialect not in DIALECTS:
            raise ConfigError(f"dialect must be one of {DIALECTS}, got {self.dialect!r}")
        prefix = self.path_prefix.strip()
        if prefix and not prefix.startswith("/"):
            prefix = "/" + prefix
        self.path_prefix = prefix.rstrip("/")
        if isinstance(self.token_ttl_seconds, bool) or not isinstance(self.token_ttl_seconds, int):
            raise ConfigError("token_ttl_seconds must be an integer")
        if self.token_ttl_seconds < 1:
            raise ConfigError("token_ttl_seconds must be at least 1")
        if self.default_capability not in CAPABILITIES:
            raise ConfigError(f"default_capability must be one of {CAPABILITIES}")
        for number, capability in self.handsets.items():
            if capability not in CAPABILITIES:
                raise ConfigError(f"handset {number}: capability must be one of {CAPABILITIES}")
        if self.max_destinations < 1:
            raise ConfigError("max_destinations must be at least 1")
        for name in ("audit_media", "audit_chatbot_info", "audit_customers", "audit_chatbots"):
            if getattr(self, name) not in AUDIT_DECISIONS:
                raise ConfigError(f"{name} must be one of {AUDIT_DECISIONS}")
        if not _non_negative(self.audit_delay_seconds):
            raise ConfigError("audit_delay_seconds must be a non-negative number")
        if self.audit_reason is not None and not isinstance(self.audit_reason, str):
            raise ConfigError("audit_reason must be a string or null")
        if self.media_ttl_seconds is not None and not (
            _non_negative(self.media_ttl_seconds) and self.media_ttl_seconds > 0
        ):
            raise ConfigError("media_ttl_seconds must be a positive number or null")
        for name in ("media_max_bytes", "max_media"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a positive integer")
        for name in ("csp_id", "csp_access_key"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or value != value.strip():
                raise ConfigError(f"{name} must be a non-empty string without surrounding blanks")
        if not isinstance(self.csp_path, str):
            raise ConfigError("csp_path must be a string")
        csp_path = "/" + self.csp_path.strip().strip("/")
        # The chatbot API and the control API own these roots; the CSP API must not shadow them.
        if csp_path == "/" or csp_path.startswith(("/_sim", "/bot/")):
            raise ConfigError(f"csp_path must be a path of its own, got {self.csp_path!r}")
        self.csp_path = csp_path
        if not _non_negative(self.developer_verify_delay_seconds):
            raise ConfigError("developer_verify_delay_seconds must be a non-negative number")

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
