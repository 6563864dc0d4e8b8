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
from dataclasses import dataclass
from typing import Generic, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.domain.errors import Unauthenticated
from msg5g.kit.clock import utcnow
from msg5g.kit.ids import new_id
from msg5g.services.context import ServiceContext
from msg5g.storage.repositories import PlatformRepository
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

    @property
    def is_platform_admin(self) -> bool:
        return self.tenant_id is None


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


class ApiKeys(_Keys[BusinessAccess]):
    scheme, missing_code, invalid_code, noun = KEY_PREFIX, "missing_api_key", "invalid_api_key", "API key"

    async def create(self, tenant_id: str, business_id: str, name: str) -> tuple[str, str]:
        """Create a key; returns (key id, the plaintext key, shown this once)."""
        prefix, secret, key = self._new_secret()
        key_id = new_id()
        async with self._ctx.db.transaction() as session:
            await PlatformRepository(session).add(
                ApiKey(id=key_id, tenant_id=tenant_id, business_id=business_id, name=name, prefix=prefix,
                       key_hash=_hash(secret), created_at=utcnow(), revoked_at=None)
            )
        return key_id, key

    async def _lookup(self, session: AsyncSession, prefix: str) -> tuple[BusinessAccess, str] | None:
        row = await PlatformRepository(session).api_key_by_prefix(prefix)
        if row is None or row.revoked_at is not None:
            return None
        return BusinessAccess(tenant_id=row.tenant_id, business_id=row.business_id, api_key_id=row.id), row.key_hash


class AdminAccounts:
    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx

    async def create(self, email: str, password: str, *, tenant_id: str | None, display_name: str) -> str:
        user_id = new_id()
        async with self._ctx.db.transaction() as session:
            await PlatformRepository(session).add(
                AdminUser(id=user_id, tenant_id=tenant_id, email=email.lower(),
                          password_hash=await asyncio.to_thread(_password_hasher.hash, password),
                          display_name=display_name,
                          created_at=utcnow())
            )
        return user_id

    async def login(self, email: str, password: str) -> AdminAccess:
        async with self._ctx.db.reader() as session:
            user = await PlatformRepository(session).admin_user_by_email(email)
        # argon2 takes tens of milliseconds by design: off the event loop.
        if user is None:
            # Hash anyway so that response time does not reveal which emails exist.
            await asyncio.to_thread(_password_hasher.hash, password)
            raise Unauthenticated("wrong email or password", code="invalid_login")
        try:
            await asyncio.to_thread(_password_hasher.verify, user.password_hash, password)
        except (VerificationError, InvalidHashError):
            raise Unauthenticated("wrong email or password", code="invalid_login") from None
        return AdminAccess(user_id=user.id, tenant_id=user.tenant_id, email=user.email, display_name=user.display_name)

    async def get(self, user_id: str) -> AdminAccess | None:
        async with self._ctx.db.reader() as session:
            user = await PlatformRepository(session).admin_user(user_id)
        if user is None:
            return None
        return AdminAccess(user_id=user.id, tenant_id=user.tenant_id, email=user.email, display_name=user.display_name)


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
