"""What each admin page needs of the signed-in user's role (domain.roles.Permission).

Reading a page needs `read`; every form a page posts to is listed here with the permission it needs, and
a POST that is not listed is refused (tests walk the admin's routes and fail on one missing here).
Pages of one business also check the user's business scope (pages/materials.py `workspace`).
"""

from __future__ import annotations

from msg5g.domain.roles import Permission

_READS = {"GET", "HEAD"}

POSTS: dict[str, Permission] = {
    "/send": Permission.SEND,
    "/channels": Permission.MANAGE_PLATFORM,
    "/channels/{channel_id}": Permission.MANAGE_PLATFORM,
    "/channels/{channel_id}/enabled": Permission.MANAGE_PLATFORM,
    "/materials": Permission.MANAGE_CONTENT,
    "/materials/{material_id}/delete": Permission.MANAGE_CONTENT,
    "/templates/preview": Permission.MANAGE_CONTENT,
    "/templates": Permission.MANAGE_CONTENT,
    "/templates/{template_id}/edit": Permission.MANAGE_CONTENT,
    "/templates/{template_id}/versions/{version}/submit": Permission.MANAGE_CONTENT,
    "/templates/{template_id}/versions/{version}/review": Permission.REVIEW,
    "/templates/{template_id}/disable": Permission.MANAGE_CONTENT,
    "/chatbots": Permission.MANAGE_CONTENT,
    "/chatbots/{chatbot_id}/credentials": Permission.MANAGE_CONTENT,
    # What a carrier's console says of an account is recorded by the platform's operators.
    "/chatbots/{chatbot_id}/state": Permission.MANAGE_PLATFORM,
    "/chatbot-profiles": Permission.MANAGE_CONTENT,
    "/chatbot-profiles/{profile_id}/edit": Permission.MANAGE_CONTENT,
    "/chatbot-profiles/{profile_id}/accounts": Permission.MANAGE_CONTENT,
    # The enterprise and its registrations are the tenant's; applying for a chatbot is a business's.
    "/carrier-applications/documents": Permission.MANAGE_TENANT,
    "/carrier-applications/enterprise": Permission.MANAGE_TENANT,
    "/carrier-applications/registrations": Permission.MANAGE_TENANT,
    "/carrier-applications/chatbots": Permission.MANAGE_CONTENT,
    "/carrier-applications/{application_id}/retry": Permission.MANAGE_CONTENT,
    # The checker of a business's application to use another's template or chatbot.
    "/mappings/{mapping_id}/decide": Permission.REVIEW,
    "/mappings/{mapping_id}/revoke": Permission.REVIEW,
    # Caps and price plans are set by the platform's operators; tenants read them.
    "/capacity/caps": Permission.MANAGE_PLATFORM,
    "/capacity/caps/{cap_id}/delete": Permission.MANAGE_PLATFORM,
    "/capacity/prices": Permission.MANAGE_PLATFORM,
    "/users": Permission.MANAGE_TENANT,
    "/users/{user_id}/role": Permission.MANAGE_TENANT,
    "/users/{user_id}/disable": Permission.MANAGE_TENANT,
    "/api-keys": Permission.MANAGE_TENANT,
    "/api-keys/{key_id}/rotate": Permission.MANAGE_TENANT,
    "/api-keys/{key_id}/revoke": Permission.MANAGE_TENANT,
    "/businesses": Permission.MANAGE_TENANT,
    "/businesses/{business_id}": Permission.MANAGE_TENANT,
    "/businesses/{business_id}/rotate-secret": Permission.MANAGE_TENANT,
    # A business operator asks for a mapping for their own business; the checker decides it.
    "/mappings": Permission.MANAGE_CONTENT,
    "/chatbots/{chatbot_id}/rules": Permission.MANAGE_CONTENT,
    "/chatbots/{chatbot_id}/rules/{rule_id}/delete": Permission.MANAGE_CONTENT,
    "/chatbots/{chatbot_id}/rules/{rule_id}/enabled": Permission.MANAGE_CONTENT,
    "/chatbots/{chatbot_id}/rules/test": Permission.READ,  # what would happen changes nothing
    # Agents answer customers (a send); canned replies are content.
    "/inbox/agent": Permission.SEND,
    "/inbox/{conversation_id}/take": Permission.SEND,
    "/inbox/{conversation_id}/reply": Permission.SEND,
    "/inbox/{conversation_id}/transfer": Permission.SEND,
    "/inbox/{conversation_id}/close": Permission.SEND,
    "/inbox/canned": Permission.MANAGE_CONTENT,
    "/inbox/canned/{reply_id}/delete": Permission.MANAGE_CONTENT,
    # Whoever runs the traffic handles its alerts; the rules are the tenant admin's.
    "/alerts/{alert_id}/acknowledge": Permission.MANAGE_CONTENT,
    "/alerts/{alert_id}/resolve": Permission.MANAGE_CONTENT,
    "/alert-rules": Permission.MANAGE_TENANT,
    "/alert-rules/{rule_id}/delete": Permission.MANAGE_TENANT,
    "/alert-rules/{rule_id}/enabled": Permission.MANAGE_TENANT,
    # /account and /account/totp* are not here: they take SignedInDep (every user's own account), which
    # does not consult this table.
}


# Pages that need more than `read` to be seen.
GETS: dict[str, Permission] = {
    "/audit": Permission.READ_AUDIT,
}


def required(method: str, path: str) -> Permission | None:
    """The permission a request to a route (its declared path) needs; None: no rule, refused."""
    if method in _READS:
        return GETS.get(path, Permission.READ)
    return POSTS.get(path)
