"""Alert management (告警管理): rules that watch the platform, the alerts they raise, and where they go.

A rule belongs to a tenant (watching what is the tenant's: its caps, the channels its chatbots use,
its queued jobs, its callbacks, its audits) or to the platform (tenant None: every tenant, every
channel, the whole queue). It watches one kind of signal, with the parameters of that kind, and
routes what it raises to webhooks and e-mail addresses.

Two sorts of signal:
* an *event* happens once and is identified for good: a cap crossing 80% in one period, one
  template version rejected on one channel. Its alert is raised once, whatever happens after.
* a *condition* holds for a while and then clears: a channel's circuit open, a queue backed up,
  callbacks failing. Its alert is raised when it starts, counts repeats while it holds (the
  de-duplication), resolves itself when it clears, and may be raised again later; a new one within
  the rule's quiet period is recorded but not sent.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, EmailStr, Field, HttpUrl, StrictInt, model_validator


class AlertKind(StrEnum):
    CAPACITY = "capacity"  # a cap's usage crossed one of the thresholds this period (event)
    CHANNEL_HEALTH = "channel_health"  # a channel's circuit opened (condition, clears on closing)
    QUEUE_BACKLOG = "queue_backlog"  # jobs waiting above a count or an age (condition)
    CALLBACK_FAILURES = "callback_failures"  # a business's callbacks failing (condition)
    AUDIT_REJECTED = "audit_rejected"  # a carrier rejected a template, material, chatbot or application (event)


EVENT_KINDS = frozenset({AlertKind.CAPACITY, AlertKind.AUDIT_REJECTED})


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class AlertState(StrEnum):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"  # a person has it in hand: nothing more is sent for it
    RESOLVED = "resolved"


class NotificationState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # every try failed
    SUPPRESSED = "suppressed"  # within the quiet period, or no mail server configured


class AuditResource(StrEnum):
    TEMPLATE = "template"
    MATERIAL = "material"
    CHATBOT = "chatbot"
    ENTERPRISE = "enterprise"
    CHATBOT_APPLICATION = "chatbot_application"


class AlertRuleSpec(BaseModel):
    """A rule as a caller writes it. Parameters that do not belong to the kind are refused."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    kind: AlertKind
    enabled: bool = True
    severity: Severity = Severity.WARNING
    webhooks: list[HttpUrl] = Field(default_factory=list, max_length=10,
                                    description="Each alert is POSTed as signed JSON to every one.")
    emails: list[EmailStr] = Field(default_factory=list, max_length=20,
                                   description="Each alert is mailed to these, when a mail server is configured.")
    quiet_minutes: StrictInt = Field(default=60, ge=0, le=7 * 24 * 60,
                                     description="After an alert is sent, another for the same subject within "
                                                 "this long is recorded but not sent.")
    # capacity
    thresholds: list[StrictInt] | None = Field(
        default=None, description="capacity: percentages of a cap (default 80 and 100); one alert per "
                                  "threshold per cap per period.")
    cap_id: str | None = Field(default=None, max_length=64, description="capacity: one cap; none: every cap.")
    # channel_health
    channel_id: str | None = Field(default=None, max_length=64,
                                   description="channel_health: one channel; none: every channel watched.")
    # queue_backlog
    max_waiting: StrictInt | None = Field(default=None, ge=1, description="queue_backlog: jobs due and waiting.")
    max_age_seconds: StrictInt | None = Field(default=None, ge=1,
                                              description="queue_backlog: age of the oldest due job.")
    topic: str | None = Field(default=None, max_length=100, description="queue_backlog: one stage; none: all.")
    # callback_failures
    min_failures: StrictInt | None = Field(default=None, ge=1,
                                           description="callback_failures: failing deliveries in the window "
                                                       "(default 3).")
    window_minutes: StrictInt | None = Field(default=None, ge=1, le=24 * 60,
                                             description="callback_failures: the window (default 15).")
    business_id: str | None = Field(default=None, max_length=64,
                                    description="callback_failures: one business; none: every business.")
    # audit_rejected
    resources: list[AuditResource] | None = Field(default=None, description="audit_rejected: default all.")

    @model_validator(mode="after")
    def _parameters_of_its_kind(self) -> AlertRuleSpec:
        allowed = _PARAMETERS[self.kind]
        for name in _ALL_PARAMETERS - allowed:
            if getattr(self, name) is not None:
                raise ValueError(f"{name} is not a parameter of a {self.kind.value} rule")
        if self.kind is AlertKind.CAPACITY and self.thresholds is not None:
            if not self.thresholds or any(not 1 <= t <= 1000 for t in self.thresholds):
                raise ValueError("thresholds are percentages from 1 to 1000")
            if len(set(self.thresholds)) != len(self.thresholds):
                raise ValueError("thresholds repeat")
        if self.kind is AlertKind.QUEUE_BACKLOG and self.max_waiting is None and self.max_age_seconds is None:
            raise ValueError("a queue_backlog rule needs max_waiting or max_age_seconds")
        if self.kind is AlertKind.AUDIT_REJECTED and self.resources is not None and not self.resources:
            raise ValueError("resources is empty")
        return self

    @property
    def capacity_thresholds(self) -> list[int]:
        return sorted(self.thresholds or [80, 100])

    @property
    def failure_count(self) -> int:
        return self.min_failures or 3

    @property
    def failure_window_minutes(self) -> int:
        return self.window_minutes or 15

    @property
    def watched_resources(self) -> frozenset[AuditResource]:
        return frozenset(self.resources or AuditResource)


_PARAMETERS: dict[AlertKind, frozenset[str]] = {
    AlertKind.CAPACITY: frozenset({"thresholds", "cap_id"}),
    AlertKind.CHANNEL_HEALTH: frozenset({"channel_id"}),
    AlertKind.QUEUE_BACKLOG: frozenset({"max_waiting", "max_age_seconds", "topic"}),
    AlertKind.CALLBACK_FAILURES: frozenset({"min_failures", "window_minutes", "business_id"}),
    AlertKind.AUDIT_REJECTED: frozenset({"resources"}),
}
_ALL_PARAMETERS = frozenset().union(*_PARAMETERS.values())
