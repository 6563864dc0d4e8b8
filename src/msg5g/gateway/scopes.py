"""Which API key scope each business route needs (domain.roles.ApiScope), checked with the key itself
in `deps.get_access`. A route a business key opens must be covered here: tests walk the app's routes."""

from __future__ import annotations

from msg5g.domain.roles import ApiScope

_READS = {"GET", "HEAD"}
_CONTENT_PREFIXES = ("/v1/templates", "/v1/materials", "/v1/sensitive-words", "/v1/chatbots", "/v1/chatbot-profiles",
                     "/v1/enterprise", "/v1/chatbot-applications", "/v1/mappings", "/v1/directory")
_STATUS_PATHS = ("/v1/inbound", "/v1/callbacks", "/v1/dead-letters", "/v1/conversations")


def scope_for(method: str, path: str) -> ApiScope | None:
    """The scope a route (as the app declares its path) needs, or None when no rule covers it."""
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return ApiScope.READ_STATUS if method in _READS else ApiScope.SEND
    if path.startswith(_STATUS_PATHS):
        return ApiScope.READ_STATUS
    if path.startswith("/v1/caps"):
        return ApiScope.READ_REPORTS
    if path.startswith("/v1/contacts"):
        return ApiScope.READ_STATUS if method in _READS else ApiScope.MANAGE_CONTACTS
    if path.startswith(("/v1/alert-rules", "/v1/alerts")):
        return ApiScope.READ_REPORTS if method in _READS else ApiScope.MANAGE_ALERTS
    if path.startswith(_CONTENT_PREFIXES):
        return ApiScope.MANAGE_TEMPLATES
    return None
