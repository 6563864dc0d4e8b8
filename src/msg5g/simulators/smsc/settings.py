"""Configuration of the SMSC simulator: ESME accounts, handset outcomes, fault knobs, runtime limits."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, cast

Outcome = Literal["delivered", "undeliverable", "expired", "rejected"]
OUTCOMES: tuple[Outcome, ...] = ("delivered", "undeliverable", "expired", "rejected")

# SMPP 3.4 §4.1: system_id is a C-Octet String of at most 16 octets and password of at most 9,
# both counting the terminating NUL.
MAX_SYSTEM_ID = 15
MAX_PASSWORD = 8
# destination_addr / source_addr: 21 octets with the NUL.
MAX_ADDRESS = 20


class ConfigError(ValueError):
    """A settings file, CLI flag or control-API body that cannot be understood."""


def _service_numbers(raw: Iterable[Any]) -> tuple[str, ...]:
    numbers = tuple(str(n).strip() for n in raw)
    for number in numbers:
        if not number.isdigit() or len(number) > MAX_ADDRESS:
            raise ConfigError(f"service number must be 1..{MAX_ADDRESS} digits, got {number!r}")
    return numbers


@dataclass(frozen=True, slots=True)
class SmscAccount:
    """An ESME the simulated SMSC lets bind.

    `service_numbers` are source-address prefixes the account owns: MO messages sent to a number
    starting with one of them go to this account's receivers (longest prefix wins), and with
    `check_source` a submit_sm from any other source_addr is refused with ESME_RINVSRCADR.
    """

    system_id: str
    password: str
    service_numbers: tuple[str, ...] = ()
    check_source: bool = False

    def __post_init__(self) -> None:
        if not self.system_id or len(self.system_id) > MAX_SYSTEM_ID or not self.system_id.isascii():
            raise ConfigError(f"system_id must be 1..{MAX_SYSTEM_ID} ASCII characters, got {self.system_id!r}")
        if len(self.password) > MAX_PASSWORD or not self.password.isascii():
            raise ConfigError(f"password must be at most {MAX_PASSWORD} ASCII characters (SMPP 3.4)")
        object.__setattr__(self, "service_numbers", _service_numbers(self.service_numbers))

    def owns(self, address: str) -> int:
        """Length of the longest service number that prefixes `address`; 0 when none does."""
        return max((len(n) for n in self.service_numbers if address.startswith(n)), default=0)

    @classmethod
    def from_flag(cls, flag: str) -> SmscAccount:
        """Parse ``system_id:password`` or ``system_id:password:1069001,1069002``."""
        pieces = flag.split(":")
        if len(pieces) not in (2, 3):
            raise ConfigError(f"--account expects system_id:password[:service,numbers], got {flag!r}")
        numbers = [n for n in pieces[2].split(",") if n] if len(pieces) == 3 else []
        return cls(pieces[0], pieces[1], tuple(numbers))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], system_id: str | None = None) -> SmscAccount:
        try:
            raw_numbers = data.get("service_numbers", [])
            if not isinstance(raw_numbers, list | tuple):
                raise ConfigError("service_numbers must be a list")
            check_source = data.get("check_source", False)
            if not isinstance(check_source, bool):
                raise ConfigError("check_source must be a boolean")
            password = data["password"]
            if not isinstance(password, str):
                raise ConfigError("password must be a string")
            return cls(
                system_id=str(system_id if system_id is not None else data["system_id"]),
                password=password,
                service_numbers=tuple(raw_numbers),
                check_source=check_source,
            )
        except KeyError as exc:
            raise ConfigError(f"account is missing {exc.args[0]!r}") from None


@dataclass(slots=True)
class Faults:
    """Fault injection knobs; all may be changed at runtime through PUT /_sim/faults."""

    # Share of submit_sm answered ESME_RSYSERR.
    error_rate: float = 0.0
    # submit_sm per second allowed per system_id (token bucket, one second of burst); 0 = unlimited.
    throttle_tps: float = 0.0
    # Every bind is answered ESME_RBINDFAIL while set.
    refuse_bind: bool = False
    # The next N submit_sm PDUs each make the SMSC drop the connection instead of answering.
    drop_connection_next: int = 0
    # Time from submit_sm to its delivery receipt.
    dlr_delay_ms: float = 50.0
    # Extra delay before each submit_sm_resp (the message is accepted at once all the same).
    submit_latency_ms: float = 0.0

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
class SmscSettings:
    """Everything `SmscSimulator` needs. Runtime-changeable knobs live in `faults`."""

    accounts: list[SmscAccount] = field(default_factory=list)
    faults: Faults = field(default_factory=Faults)
    # Per-number receipt outcome at start, e.g. {"8613800000009": "undeliverable"}.
    handsets: dict[str, Outcome] = field(default_factory=dict)
    default_outcome: Outcome = "delivered"
    # system_id the SMSC names itself in bind_*_resp.
    smsc_system_id: str = "MSG5GSMSC"
    # A deliver_sm without deliver_sm_resp after this long is sent again, at most `deliver_retries`
    # more times; a negative deliver_sm_resp is retried after `deliver_retry_delay_ms`.
    deliver_timeout_ms: float = 5000.0
    deliver_retries: int = 3
    deliver_retry_delay_ms: float = 1000.0
    # Unacknowledged deliver_sm allowed per session before the rest wait in the account's queue.
    deliver_window: int = 64
    # deliver_sm held for an account with no receiver bound (oldest dropped beyond this).
    max_queued_deliveries: int = 100_000
    # Receipt dates (YYMMDDhhmm) are SMSC local time; this is its offset from UTC.
    receipt_utc_offset_minutes: int = 0
    # Incomplete concatenations are dropped after this long.
    reassembly_timeout_seconds: float = 300.0
    max_pending_assemblies: int = 50_000
    # A PDU longer than this is answered generic_nack ESME_RINVCMDLEN and the connection closed.
    max_pdu_length: int = 70_000
    # Memory bounds for long benchmark runs; oldest entries go first.
    max_messages: int = 200_000
    inbox_limit: int = 100
    max_handsets: int = 200_000
    # Seconds of per-second submit counts kept for /_sim/stats.
    tps_history_seconds: int = 600
    random_seed: int | None = None

    def __post_init__(self) -> None:
        if self.default_outcome not in OUTCOMES:
            raise ConfigError(f"default_outcome must be one of {OUTCOMES}")
        for number, outcome in self.handsets.items():
            if outcome not in OUTCOMES:
                raise ConfigError(f"handset {number}: outcome must be one of {OUTCOMES}")
        if not self.smsc_system_id or len(self.smsc_system_id) > MAX_SYSTEM_ID:
            raise ConfigError(f"smsc_system_id must be 1..{MAX_SYSTEM_ID} characters")
        if self.deliver_window < 1:
            raise ConfigError("deliver_window must be at least 1")
        if self.deliver_timeout_ms <= 0:
            raise ConfigError("deliver_timeout_ms must be positive")
        if self.deliver_retries < 0 or self.deliver_retry_delay_ms < 0:
            raise ConfigError("deliver_retries and deliver_retry_delay_ms must not be negative")
        if self.max_pdu_length < 1024:
            raise ConfigError("max_pdu_length must be at least 1024")
        ids = [a.system_id for a in self.accounts]
        if len(ids) != len(set(ids)):
            raise ConfigError("system_ids must be unique")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> SmscSettings:
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
            SmscAccount.from_flag(a) if isinstance(a, str) else SmscAccount.from_mapping(a) for a in raw_accounts
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
    def from_json_file(cls, path: str | Path) -> SmscSettings:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from None
        if not isinstance(data, dict):
            raise ConfigError("config file must hold a JSON object")
        return cls.from_mapping(data)
