"""The access model: every API key belongs to one business of one tenant.

Keys are shown once and stored as SHA-256 hashes: they are 192-bit random secrets, so a slow
password hash would add latency to every request without adding safety.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network
from typing import Generic, TypeVar

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.domain.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationFailed
from msg5g.domain.roles import ALL_SCOPES, ROLE_PERMISSIONS, ApiScope, Permission, Role, grant_refusal, password_refusal
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.services.audit import AuditLog
from msg5g.services.context import ServiceContext
from msg5g.storage.repositories import BusinessRepository, PlatformRepository
from msg5g.storage.tables import AdminUser, ApiKey, OperatorKey

KEY_PREFIX = "m5g"
OPERATOR_KEY_PREFIX = "m5gop"
# Revocation takes effect within this many seconds; it spares a database read per request.
_CACHE_SECONDS = 10.0
_password_hasher = PasswordHasher()
AccessT = TypeVar("AccessT")


@dataclass(frozen=True, slots=True)
class BusinessAccess:
    tenant_id: str
    business_id: str
    api_key_id: str
    scopes: frozenset[ApiScope] = ALL_SCOPES
    allowed_ips: tuple[IPv4Network | IPv6Network, ...] | None = None  # None: from anywhere

    def check(self, scope: ApiScope | None, client_ip: str | None) -> None:
        """Raise Forbidden unless the key carries the scope and is used from an address it allows."""
        if scope is not None and scope not in self.scopes:
            raise Forbidden(f"this API key lacks the {scope.value} scope", code="scope_missing")
        if self.allowed_ips is not None:
            try:
                address = ip_address(client_ip or "")
            except ValueError:
                address = None
            if address is None or not any(address in network for network in self.allowed_ips):
                raise Forbidden("this API key may not be used from this address", code="ip_not_allowed")


class ApiKeyView(BaseModel):
    """An API key as listed: never its secret or hash."""

    id: str
    business_id: str
    name: str
    prefix: str
    scopes: list[ApiScope]
    allowed_ips: list[str] | None
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class OperatorAccess:
    key_id: str
    name: str


@dataclass(frozen=True, slots=True)
class AdminAccess:
    user_id: str
    tenant_id: str | None  # None: platform admin
    email: str
    display_name: str
    role: Role = Role.TENANT_ADMIN
    business_ids: frozenset[str] | None = None  # None: every business of the tenant

    @property
    def is_platform_admin(self) -> bool:
        return self.tenant_id is None

    def can(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def covers(self, business_id: str) -> bool:
        return self.business_ids is None or business_id in self.business_ids

    @property
    def actor(self) -> str:
        """How the audit log and the maker-checker steps name this user."""
        return f"admin:{self.email}"


class AdminUserView(BaseModel):
    id: str
    tenant_id: str | None
    email: str
    display_name: str
    role: Role
    business_ids: list[str] | None
    totp_enabled: bool
    locked_until: datetime | None
    disabled: bool
    created_at: datetime


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class _Keys(Generic[AccessT]):
    """`<scheme>_<prefix>_<secret>` keys: shown once, stored as a hash, looked up by prefix and
    cached for a few seconds (so a revocation takes effect within `_CACHE_SECONDS`)."""

    scheme: str
    missing_code: str
    invalid_code: str
    noun: str  # what the messages call it

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._audit = AuditLog(ctx)
        self._cache: dict[str, tuple[float, AccessT | None, str]] = {}

    def _new_secret(self) -> tuple[str, str, str]:
        """(prefix, secret, the key as handed out)."""
        prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(24)
        return prefix, secret, f"{self.scheme}_{prefix}_{secret}"

    async def _lookup(self, session: AsyncSession, prefix: str) -> tuple[AccessT, str] | None:
        """(the access the key grants, its stored hash) for a live key, or None."""
        raise NotImplementedError

    async def authenticate(self, presented: str | None) -> AccessT:
        if not presented:
            raise Unauthenticated(f"an {self.noun} is required (Authorization: Bearer <key>)", code=self.missing_code)
        parts = presented.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != self.scheme:
            raise Unauthenticated(f"the {self.noun} is not valid", code=self.invalid_code)
        _, prefix, secret = parts
        now = time.monotonic()
        cached = self._cache.get(prefix)
        if cached is None or cached[0] < now:
            async with self._ctx.db.reader() as session:
                found = await self._lookup(session, prefix)
            cached = (now + _CACHE_SECONDS, *found) if found else (now + _CACHE_SECONDS, None, "")
            self._cache[prefix] = cached
        _, access, key_hash = cached
        if access is None or not hmac.compare_digest(key_hash, _hash(secret)):
            raise Unauthenticated(f"the {self.noun} is not valid", code=self.invalid_code)
        return access


def _networks(values: Iterable[str] | None) -> tuple[IPv4Network | IPv6Network, ...] | None:
    if values is None:
        return None
    try:
        return tuple(ip_network(v.strip(), strict=False) for v in values)
    except ValueError as exc:
        raise ValidationFailed(f"not an IP address or range: {exc}", code="invalid_ip_range",
                               field="allowed_ips") from None


class ApiKeys(_Keys[BusinessAccess]):
    scheme, missing_code, invalid_code, noun = KEY_PREFIX, "missing_api_key", "invalid_api_key", "API key"

    async def create(self, tenant_id: str, business_id: str, name: str, *,
                     scopes: Iterable[ApiScope] | None = None,
                     allowed_ips: Iterable[str] | None = None) -> tuple[str, str]:
        """Create a key; returns (key id, the plaintext key, shown this once). No scopes given: all."""
        chosen = sorted(set(scopes)) if scopes is not None else sorted(ALL_SCOPES)
        if not chosen:
            raise ValidationFailed("a key carries at least one scope", code="no_scopes", field="scopes")
        networks = _networks(allowed_ips)
        prefix, secret, key = self._new_secret()
        key_id = new_id()
        async with self._ctx.db.transaction() as session:
            row = ApiKey(id=key_id, tenant_id=tenant_id, business_id=business_id, name=name, prefix=prefix,
                         key_hash=_hash(secret), created_at=utcnow(), revoked_at=None,
                         scopes=[s.value for s in chosen],
                         allowed_ips=[str(n) for n in networks] if networks is not None else None)
            await PlatformRepository(session).add(row)
            await self._audit.record(session, action="api_key.create", target_type="api_key", target_id=key_id,
                                     after=_key_view(row).model_dump(mode="json"), tenant_id=tenant_id)
        return key_id, key

    async def _lookup(self, session: AsyncSession, prefix: str) -> tuple[BusinessAccess, str] | None:
        row = await PlatformRepository(session).api_key_by_prefix(prefix)
        if row is None or row.revoked_at is not None:
            return None
        scopes = frozenset(ApiScope(s) for s in row.scopes) if row.scopes is not None else ALL_SCOPES
        return BusinessAccess(tenant_id=row.tenant_id, business_id=row.business_id, api_key_id=row.id,
                              scopes=scopes, allowed_ips=_networks(row.allowed_ips)), row.key_hash

    async def keys(self, tenant_id: str, business_id: str | None = None) -> list[ApiKeyView]:
        async with self._ctx.db.reader() as session:
            statement = select(ApiKey).where(ApiKey.tenant_id == tenant_id)
            if business_id is not None:
                statement = statement.where(ApiKey.business_id == business_id)
            rows = (await session.scalars(statement.order_by(ApiKey.created_at))).all()
        return [_key_view(row) for row in rows]

    async def _owned(self, session: AsyncSession, tenant_id: str, key_id: str) -> ApiKey:
        row: ApiKey | None = await session.scalar(select(ApiKey).where(ApiKey.tenant_id == tenant_id,
                                                                       ApiKey.id == key_id))
        if row is None:
            raise NotFound("no such API key", code="api_key_not_found")
        return row

    async def revoke(self, tenant_id: str, key_id: str) -> ApiKeyView:
        """The key stops working within the cache time of every process (`_CACHE_SECONDS`)."""
        async with self._ctx.db.transaction() as session:
            row = await self._owned(session, tenant_id, key_id)
            before = _key_view(row).model_dump(mode="json")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
            self._cache.pop(row.prefix, None)
            await self._audit.record(session, action="api_key.revoke", target_type="api_key", target_id=key_id,
                                     before=before, after=_key_view(row).model_dump(mode="json"), tenant_id=tenant_id)
            return _key_view(row)

    async def rotate(self, tenant_id: str, key_id: str) -> tuple[ApiKeyView, str]:
        """A new key with the old one's name, scopes and ranges; the old one is revoked. Returns the new
        key's view and its plaintext, shown this once."""
        async with self._ctx.db.reader() as session:
            old = await self._owned(session, tenant_id, key_id)
        if old.revoked_at is not None:
            raise Conflict("a revoked key is not rotated; create a new one", code="api_key_revoked")
        scopes = [ApiScope(s) for s in old.scopes] if old.scopes is not None else None
        new_id_, key = await self.create(tenant_id, old.business_id, old.name, scopes=scopes,
                                         allowed_ips=old.allowed_ips)
        await self.revoke(tenant_id, key_id)
        return next(k for k in await self.keys(tenant_id) if k.id == new_id_), key


def _key_view(row: ApiKey) -> ApiKeyView:
    return ApiKeyView(id=row.id, business_id=row.business_id, name=row.name, prefix=row.prefix,
                      scopes=[ApiScope(s) for s in row.scopes] if row.scopes is not None else sorted(ALL_SCOPES),
                      allowed_ips=row.allowed_ips, created_at=as_utc(row.created_at),
                      revoked_at=as_utc(row.revoked_at) if row.revoked_at else None)


def _role_of(user: AdminUser) -> Role:
    if user.role:
        return Role(user.role)
    return Role.PLATFORM_ADMIN if user.tenant_id is None else Role.TENANT_ADMIN


def _admin_access(user: AdminUser) -> AdminAccess:
    return AdminAccess(user_id=user.id, tenant_id=user.tenant_id, email=user.email, display_name=user.display_name,
                       role=_role_of(user),
                       business_ids=frozenset(user.business_ids) if user.business_ids is not None else None)


def _user_view(user: AdminUser) -> AdminUserView:
    return AdminUserView(id=user.id, tenant_id=user.tenant_id, email=user.email, display_name=user.display_name,
                         role=_role_of(user), business_ids=user.business_ids, totp_enabled=user.totp_enabled,
                         locked_until=as_utc(user.locked_until) if user.locked_until else None,
                         disabled=user.disabled_at is not None, created_at=as_utc(user.created_at))


class AdminAccounts:
    """Admin users: roles scoped to a tenant and optionally to businesses, a password policy, a lock
    after repeated failures, and optional TOTP two-factor sign-in (`pyotp`)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        self._audit = AuditLog(ctx)

    async def create(self, email: str, password: str, *, tenant_id: str | None, display_name: str,
                     role: Role | None = None, business_ids: Iterable[str] | None = None,
                     granted_by: AdminAccess | None = None) -> str:
        """A new admin user. `granted_by`: the user creating it, who cannot grant beyond their own rights
        (None: the platform itself, as the CLI and the demo seed do)."""
        role = role or (Role.PLATFORM_ADMIN if tenant_id is None else Role.TENANT_ADMIN)
        if (role is Role.PLATFORM_ADMIN) != (tenant_id is None):
            raise ValidationFailed("a platform admin belongs to no tenant, every other role to one",
                                   code="invalid_role", field="role")
        businesses = sorted(set(business_ids)) if business_ids is not None else None
        self._check_grant(granted_by, tenant_id, role, businesses)
        refusal = password_refusal(password, email)
        if refusal:
            raise ValidationFailed(refusal, code="weak_password", field="password")
        user_id = new_id()
        async with self._ctx.db.transaction() as session:
            platform = PlatformRepository(session)
            if await platform.admin_user_by_email(email) is not None:
                raise Conflict("an admin user with that e-mail exists", code="email_taken", field="email")
            if tenant_id is not None and businesses:
                known = {b.id for b in await BusinessRepository(session, tenant_id).all()}
                if set(businesses) - known:
                    raise NotFound("no such business", code="business_not_found", field="business_ids")
            user = AdminUser(id=user_id, tenant_id=tenant_id, email=email.lower(),
                             password_hash=await asyncio.to_thread(_password_hasher.hash, password),
                             display_name=display_name, created_at=utcnow(), role=role.value,
                             business_ids=businesses, failed_logins=0, locked_until=None, totp_secret_sealed=None,
                             totp_enabled=False, disabled_at=None)
            await platform.add(user)
            await self._audit.record(session, action="user.create", target_type="admin_user", target_id=user_id,
                                     after=_user_view(user).model_dump(mode="json"), tenant_id=tenant_id)
        return user_id

    @staticmethod
    def _check_grant(granter: AdminAccess | None, tenant_id: str | None, role: Role,
                     businesses: list[str] | None) -> None:
        if granter is None:
            return
        refusal = grant_refusal(granter.role, granter.business_ids, role, businesses)
        if refusal:
            raise Forbidden(refusal, code="grant_beyond_rights", field="role")
        if not granter.is_platform_admin and granter.tenant_id != tenant_id:
            raise NotFound("no such tenant", code="tenant_not_found", field="tenant_id")

    async def set_role(self, granter: AdminAccess, user_id: str, role: Role,
                       business_ids: Iterable[str] | None) -> AdminUserView:
        businesses = sorted(set(business_ids)) if business_ids is not None else None
        async with self._ctx.db.transaction() as session:
            user = await self._user_of(session, granter, user_id)
            if (role is Role.PLATFORM_ADMIN) != (user.tenant_id is None):
                raise ValidationFailed("a platform admin belongs to no tenant, every other role to one",
                                       code="invalid_role", field="role")
            self._check_grant(granter, user.tenant_id, role, businesses)
            if user.tenant_id is not None and businesses:
                known = {b.id for b in await BusinessRepository(session, user.tenant_id).all()}
                if set(businesses) - known:
                    raise NotFound("no such business", code="business_not_found", field="business_ids")
            # Nor can a granter change someone who holds more than they do.
            self._check_grant(granter, user.tenant_id, _role_of(user), user.business_ids)
            before = _user_view(user).model_dump(mode="json")
            user.role, user.business_ids = role.value, businesses
            await self._audit.record(session, action="user.role", target_type="admin_user", target_id=user.id,
                                     before=before, after=_user_view(user).model_dump(mode="json"),
                                     tenant_id=user.tenant_id)
            return _user_view(user)

    async def disable(self, granter: AdminAccess, user_id: str) -> AdminUserView:
        async with self._ctx.db.transaction() as session:
            user = await self._user_of(session, granter, user_id)
            if user.id == granter.user_id:
                raise Conflict("an admin cannot disable their own account", code="own_account")
            self._check_grant(granter, user.tenant_id, _role_of(user), user.business_ids)
            before = _user_view(user).model_dump(mode="json")
            user.disabled_at = user.disabled_at or utcnow()
            await self._audit.record(session, action="user.disable", target_type="admin_user", target_id=user.id,
                                     before=before, after=_user_view(user).model_dump(mode="json"),
                                     tenant_id=user.tenant_id)
            return _user_view(user)

    async def _user_of(self, session: AsyncSession, granter: AdminAccess, user_id: str) -> AdminUser:
        user = await PlatformRepository(session).admin_user(user_id)
        if user is None or (not granter.is_platform_admin and user.tenant_id != granter.tenant_id):
            raise NotFound("no such admin user", code="user_not_found")
        return user

    async def users(self, tenant_id: str | None) -> list[AdminUserView]:
        async with self._ctx.db.reader() as session:
            rows = (await session.scalars(select(AdminUser).where(AdminUser.tenant_id == tenant_id)
                                          .order_by(AdminUser.created_at))).all() if tenant_id else \
                (await session.scalars(select(AdminUser).where(AdminUser.tenant_id.is_(None)))).all()
        return [_user_view(u) for u in rows]

    async def login(self, email: str, password: str, totp_code: str | None = None) -> AdminAccess:
        """Raises Unauthenticated: `invalid_login` (wrong e-mail or password), `account_locked`,
        `totp_required` (the password was right; ask for the code) or `invalid_totp`."""
        async with self._ctx.db.reader() as session:
            user = await PlatformRepository(session).admin_user_by_email(email)
        # argon2 takes tens of milliseconds by design: off the event loop.
        if user is None or user.disabled_at is not None:
            # Hash anyway so that response time does not reveal which emails exist.
            await asyncio.to_thread(_password_hasher.hash, password)
            raise Unauthenticated("wrong email or password", code="invalid_login")
        now = utcnow()
        if user.locked_until is not None and as_utc(user.locked_until) > now:
            minutes = max(1, int((as_utc(user.locked_until) - now).total_seconds() // 60) + 1)
            raise Unauthenticated(f"too many failed sign-ins: the account is locked for {minutes} more minutes",
                                  code="account_locked")
        try:
            await asyncio.to_thread(_password_hasher.verify, user.password_hash, password)
        except (VerificationError, InvalidHashError):
            await self._failed(user.id)
            raise Unauthenticated("wrong email or password", code="invalid_login") from None
        if user.totp_enabled and user.totp_secret_sealed:
            if not totp_code:
                raise Unauthenticated("enter the code from the authenticator app", code="totp_required")
            secret = self._ctx.secrets.open(user.totp_secret_sealed)["secret"]
            if not pyotp.TOTP(secret).verify(totp_code.strip(), valid_window=1):
                await self._failed(user.id)
                raise Unauthenticated("the authenticator code is wrong", code="invalid_totp")
        if user.failed_logins:
            async with self._ctx.db.transaction() as session:
                row = await PlatformRepository(session).admin_user(user.id)
                if row is not None:
                    row.failed_logins, row.locked_until = 0, None
        return _admin_access(user)

    async def _failed(self, user_id: str) -> None:
        settings = self._ctx.settings
        async with self._ctx.db.transaction() as session:
            row = await PlatformRepository(session).admin_user(user_id)
            if row is None:
                return
            row.failed_logins = (row.failed_logins or 0) + 1
            if row.failed_logins >= settings.admin_lock_after_failures:
                row.locked_until = utcnow() + timedelta(minutes=settings.admin_lock_minutes)
                row.failed_logins = 0

    async def start_totp(self, user_id: str) -> tuple[str, str]:
        """A new TOTP secret for the user, not yet required: (secret, otpauth:// URI for the app)."""
        secret = pyotp.random_base32()
        async with self._ctx.db.transaction() as session:
            row = await PlatformRepository(session).admin_user(user_id)
            if row is None:
                raise NotFound("no such admin user", code="user_not_found")
            if row.totp_enabled:
                # A new secret would turn the second factor off until confirmed: not for a session alone.
                raise Conflict("two-factor sign-in is on; a tenant admin resets it", code="totp_enabled")
            row.totp_secret_sealed, row.totp_enabled = self._ctx.secrets.seal({"secret": secret}), False
            email = row.email
        return secret, pyotp.TOTP(secret).provisioning_uri(name=email, issuer_name="msg5g")

    async def confirm_totp(self, user_id: str, code: str) -> None:
        """Turn two-factor sign-in on once the user shows a code from the new secret."""
        async with self._ctx.db.transaction() as session:
            row = await PlatformRepository(session).admin_user(user_id)
            if row is None or not row.totp_secret_sealed:
                raise Conflict("start the authenticator set-up first", code="totp_not_started")
            secret = self._ctx.secrets.open(row.totp_secret_sealed)["secret"]
            if not pyotp.TOTP(secret).verify(code.strip(), valid_window=1):
                raise ValidationFailed("the authenticator code is wrong", code="invalid_totp", field="code")
            row.totp_enabled = True
            await self._audit.record(session, action="user.totp_on", target_type="admin_user", target_id=row.id,
                                     after={"totp_enabled": True}, tenant_id=row.tenant_id)

    async def get(self, user_id: str) -> AdminAccess | None:
        async with self._ctx.db.reader() as session:
            user = await PlatformRepository(session).admin_user(user_id)
        if user is None or user.disabled_at is not None:
            return None
        return _admin_access(user)


class OperatorKeys(_Keys[OperatorAccess]):
    """Keys for the platform API (/v1/platform): the same scheme as business keys, another prefix."""

    scheme, missing_code, invalid_code, noun = (OPERATOR_KEY_PREFIX, "missing_operator_key", "invalid_operator_key",
                                                "operator key")

    async def create(self, name: str) -> tuple[str, str]:
        prefix, secret, key = self._new_secret()
        key_id = new_id()
        async with self._ctx.db.transaction() as session:
            await PlatformRepository(session).add(OperatorKey(id=key_id, name=name, prefix=prefix,
                                                              key_hash=_hash(secret), created_at=utcnow(),
                                                              revoked_at=None))
        return key_id, key

    async def _lookup(self, session: AsyncSession, prefix: str) -> tuple[OperatorAccess, str] | None:
        row = await PlatformRepository(session).operator_key_by_prefix(prefix)
        if row is None or row.revoked_at is not None:
            return None
        return OperatorAccess(key_id=row.id, name=row.name), row.key_hash
