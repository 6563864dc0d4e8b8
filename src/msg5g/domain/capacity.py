"""Capacity: caps on how many messages, and how much money, a tenant, a business or a template may
spend per period, and the price plan that says what a message costs.

Money is integer fen throughout. A cap's period is a calendar day or month in China Standard Time
(the carriers' and the tenants' day), or a fixed window of dates.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from msg5g.domain.content import CarouselContent, Content, FileContent, RichCardContent
from msg5g.domain.errors import DomainError

CHINA = timezone(timedelta(hours=8))
ANY_CHANNEL = "*"


class QuotaExceeded(DomainError):
    code = "quota_exceeded"
    http_status = 429


class CapScope(StrEnum):
    TENANT = "tenant"
    BUSINESS = "business"
    TEMPLATE = "template"


class CapMetric(StrEnum):
    COUNT = "count"  # messages
    COST = "cost"  # fen, from the price plan


class CapPeriod(StrEnum):
    DAY = "day"
    MONTH = "month"
    WINDOW = "window"  # window_start .. window_end, both days included


class ContentKind(StrEnum):
    """What a price is per: the content's kind, or an SMS (a fallback, or a message sent as SMS)."""

    TEXT = "text"
    RICH_CARD = "rich_card"
    CAROUSEL = "carousel"
    FILE = "file"
    SMS = "sms"


def content_kind(content: Content) -> ContentKind:
    if isinstance(content, RichCardContent):
        return ContentKind.RICH_CARD
    if isinstance(content, CarouselContent):
        return ContentKind.CAROUSEL
    if isinstance(content, FileContent):
        return ContentKind.FILE
    return ContentKind.TEXT


class CapSpec(BaseModel):
    """A cap as a caller sets it."""

    model_config = ConfigDict(extra="forbid")

    scope: CapScope
    scope_id: str | None = Field(default=None, max_length=64,
                                 description="The business or template id; none for a tenant-wide cap.")
    metric: CapMetric
    period: CapPeriod
    limit: StrictInt = Field(ge=0, le=10**15, description="Messages, or fen for a cost cap.")
    window_start: date | None = Field(default=None, description="First day of a `window` period.")
    window_end: date | None = Field(default=None, description="Last day of a `window` period.")
    name: str | None = Field(default=None, max_length=100)

    @model_validator(mode="after")
    def _consistent(self) -> CapSpec:
        if (self.scope is CapScope.TENANT) != (self.scope_id is None):
            raise ValueError("scope_id names the business or template, and only for those scopes")
        if self.period is CapPeriod.WINDOW:
            if self.window_start is None or self.window_end is None:
                raise ValueError("a window period needs window_start and window_end")
            if self.window_end < self.window_start:
                raise ValueError("window_end is before window_start")
        elif self.window_start is not None or self.window_end is not None:
            raise ValueError("window_start and window_end go with the window period only")
        return self


def period_key(period: CapPeriod, moment: datetime, window_start: date | None = None,
               window_end: date | None = None) -> str | None:
    """The period a moment falls in, as stored; None when a window cap does not cover the moment."""
    day = moment.astimezone(CHINA).date()
    if period is CapPeriod.DAY:
        return day.isoformat()
    if period is CapPeriod.MONTH:
        return f"{day:%Y-%m}"
    if window_start is None or window_end is None:
        raise ValueError("a window period needs its start and end")
    if not window_start <= day <= window_end:
        return None
    return f"{window_start.isoformat()}..{window_end.isoformat()}"


class PriceSpec(BaseModel):
    """One line of a price plan: what a message of a kind costs on a channel type (`*`: any)."""

    model_config = ConfigDict(extra="forbid")

    content_kind: ContentKind
    channel_type: str = Field(default=ANY_CHANNEL, min_length=1, max_length=40)
    price_fen: StrictInt = Field(ge=0, le=10**9)


class PricePlan:
    """Prices by (kind, channel type), the exact line before the `*` one; no line: free."""

    def __init__(self, lines: list[PriceSpec]) -> None:
        self._prices = {(line.content_kind, line.channel_type): line.price_fen for line in lines}

    def __bool__(self) -> bool:
        return bool(self._prices)

    def price(self, kind: ContentKind, channel_type: str) -> int:
        found = self._prices.get((kind, channel_type))
        if found is None:
            found = self._prices.get((kind, ANY_CHANNEL), 0)
        return found

    def dearest(self, kind: ContentKind, channel_types: set[str]) -> int:
        return max((self.price(kind, t) for t in channel_types), default=self.price(kind, ANY_CHANNEL))
