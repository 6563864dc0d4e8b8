"""The error tree. Domain errors carry a stable machine-readable code; the gateway maps them to HTTP.

* DomainError (code, message, field)
  - ValidationFailed        bad input from a caller (-> 422/400)
  - NotFound                unknown or foreign resource (-> 404)
  - Unauthenticated         missing or wrong credentials (-> 401)
  - Forbidden               authenticated, but not allowed: a scope, role or address (-> 403)
  - Conflict                e.g. a repeated client_message_id with other content (-> 409)
* ChannelError              raised by carrier adapters; the retry policy keys on the subclass
  - TransientChannelError   5xx, timeouts, connection errors: retry with backoff
    - RateLimited           the carrier asked us to slow down (retry_after)
  - PermanentChannelError   the carrier refused the message: the attempt fails
    - ChannelAuthError      our credentials were refused: fails, and is alert-worthy
* WebhookRejected           a carrier callback that fails authentication or parsing
"""

from __future__ import annotations


class DomainError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        if code is not None:
            self.code = code


class ValidationFailed(DomainError):
    code = "invalid_request"
    http_status = 422


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Unauthenticated(DomainError):
    code = "unauthenticated"
    http_status = 401


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class ChannelError(Exception):
    def __init__(self, message: str, *, carrier_code: str | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.carrier_code = carrier_code
        self.http_status = http_status


class TransientChannelError(ChannelError):
    pass


class RateLimited(TransientChannelError):
    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class PermanentChannelError(ChannelError):
    pass


class ChannelAuthError(PermanentChannelError):
    pass


class PortedOut(PermanentChannelError):
    """The carrier does not serve this number (携号转网): another carrier's channel may."""


class WebhookRejected(Exception):
    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
