"""Who may do what: admin roles and their permissions, API key scopes, and the password policy.

A role is scoped to one tenant (the platform admin's to none: every tenant) and optionally to some of
its businesses. Granting is bounded by the granter: nobody hands out a permission or a business they do
not hold themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Permission(StrEnum):
    READ = "read"  # see the tenant's pages and data
    SEE_NUMBERS = "see_numbers"  # recipients' numbers unmasked (PIPL: masked for everyone else)
    SEND = "send"  # send messages and campaigns
    MANAGE_CONTENT = "manage_content"  # materials, templates, chatbots, profiles, rules
    REVIEW = "review"  # the checker of maker-checker steps: template review, mappings, bulk sends
    MANAGE_TENANT = "manage_tenant"  # users and roles, API keys, the enterprise record, alerts
    READ_AUDIT = "read_audit"  # the audit log
    MANAGE_PLATFORM = "manage_platform"  # channels, tenants, price plans and caps


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"
    TENANT_ADMIN = "tenant_admin"
    OPERATOR = "operator"  # a business operator
    AUDITOR = "auditor"
    VIEWER = "viewer"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.PLATFORM_ADMIN: frozenset(Permission),
    Role.TENANT_ADMIN: frozenset(Permission) - {Permission.MANAGE_PLATFORM},
    Role.OPERATOR: frozenset({Permission.READ, Permission.SEND, Permission.MANAGE_CONTENT}),
    Role.AUDITOR: frozenset({Permission.READ, Permission.REVIEW, Permission.READ_AUDIT}),
    Role.VIEWER: frozenset({Permission.READ}),
}


def grant_refusal(granter: Role, granter_businesses: frozenset[str] | None, role: Role,
                  businesses: Iterable[str] | None) -> str | None:
    """Why `granter` (limited to `granter_businesses`, None: all) may not grant `role` on `businesses`."""
    if Permission.MANAGE_TENANT not in ROLE_PERMISSIONS[granter]:
        return f"a {granter.value} does not manage users"
    beyond = ROLE_PERMISSIONS[role] - ROLE_PERMISSIONS[granter]
    if beyond:
        return f"a {role.value} may {', '.join(sorted(p.value for p in beyond))}, beyond the granter's own rights"
    if granter_businesses is not None:
        if businesses is None:
            return "the granter is limited to some businesses and cannot grant all of them"
        outside = set(businesses) - granter_businesses
        if outside:
            return f"businesses {', '.join(sorted(outside))} are beyond the granter's own"
    return None


class ApiScope(StrEnum):
    """What an API key may do; a key carries one or more."""

    SEND = "send"  # send and revoke messages
    READ_STATUS = "read_status"  # messages, their statuses, uplinks, callbacks
    MANAGE_TEMPLATES = "manage_templates"  # materials, templates, chatbots, profiles, words, mappings
    READ_REPORTS = "read_reports"  # caps, usage, reports, alerts
    MANAGE_ALERTS = "manage_alerts"  # alert rules; acknowledging and resolving alerts
    MANAGE_CONTACTS = "manage_contacts"  # contacts' attributes and tags


ALL_SCOPES = frozenset(ApiScope)

PASSWORD_MIN_LENGTH = 12


def password_refusal(password: str, email: str) -> str | None:
    """The password policy: long (length is what makes a password hard to guess, so a passphrase of
    plain words is fine), of at least two kinds of character, and not the account's own name."""
    if len(password) < PASSWORD_MIN_LENGTH:
        return f"a password has at least {PASSWORD_MIN_LENGTH} characters"
    kinds = [any(c.islower() for c in password), any(c.isupper() for c in password),
             any(c.isdigit() for c in password), any(not c.isalnum() for c in password)]
    if sum(kinds) < 2:
        return "a password mixes at least two of lower case, upper case, digits and other characters"
    local = email.split("@", 1)[0].lower()
    if len(local) >= 4 and local in password.lower():
        return "a password does not contain the account's own name"
    return None
