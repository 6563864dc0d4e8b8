"""Channels managed at runtime: created, edited, enabled and disabled without a restart.

Each channel type's settings and each chatbot's credentials are validated by the adapter's own
config models (msg5g/channels/config.py); their secret fields are sealed (kit/secrets.py) and
never leave this service in the clear, so the API and the admin only ever see which are set.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ValidationError

from msg5g.channels import ChannelAdapter
from msg5g.channels.config import form_fields, secret_fields, split_secrets
from msg5g.domain.errors import NotFound, ValidationFailed
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.services.channel_sessions import ChannelSessions
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory
from msg5g.services.routing import Router
from msg5g.storage.repositories import PlatformRepository
from msg5g.storage.tables import Channel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ChannelTypeView:
    type: str
    display_name: str
    url_schemes: tuple[str, ...]
    settings_fields: list[dict[str, Any]]
    credentials_fields: list[dict[str, Any]]
    capabilities: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChannelView:
    id: str
    type: str
    name: str
    base_url: str
    settings: dict[str, Any]  # the non-secret ones
    secrets_set: list[str]  # names of the secret settings that have a value
    enabled: bool
    created_at: datetime
    updated_at: datetime | None
    tps_limit: float | None = None
    health: dict[str, Any] | None = field(default=None)


def _validated(model_type: type[BaseModel], values: dict[str, Any], prefix: str) -> BaseModel:
    try:
        return model_type.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ValidationFailed(f"{prefix}.{where}: {first['msg']}", code="invalid_channel_config",
                               field=f"{prefix}.{where}") from None


class ChannelAdmin:
    def __init__(self, ctx: ServiceContext, directory: Directory, sessions: ChannelSessions, router: Router) -> None:
        self._ctx = ctx
        self._directory = directory
        self._sessions = sessions
        self._router = router

    def _adapter_type(self, channel_type: str) -> type[ChannelAdapter]:
        try:
            return self._ctx.registry.adapter_type(channel_type)
        except LookupError:
            raise ValidationFailed(f"no channel type {channel_type!r}; known: {', '.join(self._ctx.registry.types)}",
                                   code="unknown_channel_type", field="type") from None

    def types(self) -> list[ChannelTypeView]:
        views = []
        for name in self._ctx.registry.types:
            adapter_type = self._ctx.registry.adapter_type(name)
            capabilities = adapter_type.capabilities
            views.append(ChannelTypeView(
                type=name, display_name=adapter_type.display_name, url_schemes=adapter_type.url_schemes,
                settings_fields=form_fields(adapter_type.settings_model),
                credentials_fields=form_fields(adapter_type.credentials_model),
                capabilities={f: getattr(capabilities, f) for f in capabilities.__dataclass_fields__}))
        return views

    def _check_url(self, adapter_type: type[ChannelAdapter], base_url: str) -> str:
        parsed = urlparse(base_url.strip())
        if parsed.scheme not in adapter_type.url_schemes or not parsed.hostname:
            schemes = " or ".join(f"{s}://" for s in adapter_type.url_schemes)
            raise ValidationFailed(f"base_url must be a {schemes} URL with a host", code="invalid_channel_config",
                                   field="base_url")
        return base_url.strip()

    def credentials(self, channel_type: str, values: dict[str, Any]) -> str:
        """Validate a chatbot's credentials for a channel type and seal them for storage."""
        adapter_type = self._adapter_type(channel_type)
        plain, secret = split_secrets(_validated(adapter_type.credentials_model, values, "credentials"))
        return self._ctx.secrets.seal({**plain, **secret})

    async def create(self, channel_type: str, name: str, base_url: str, settings: dict[str, Any] | None = None,
                     *, enabled: bool = True, channel_id: str | None = None,
                     tps_limit: float | None = None) -> ChannelView:
        adapter_type = self._adapter_type(channel_type)
        url = self._check_url(adapter_type, base_url)
        plain, secret = split_secrets(_validated(adapter_type.settings_model, settings or {}, "settings"))
        row = Channel(id=channel_id or new_id(), type=channel_type, name=name.strip(), base_url=url, settings=plain,
                      secrets_sealed=self._ctx.secrets.seal(secret) if secret else None, enabled=enabled,
                      tps_limit=tps_limit, created_at=utcnow(), updated_at=None)
        async with self._ctx.db.transaction() as session:
            await PlatformRepository(session).add(row)
        log.info("channel created", extra={"channel_id": row.id, "type": channel_type})
        await self._sessions.opened(self._directory.endpoint(row))
        return self._view(row)

    async def update(self, channel_id: str, *, name: str | None = None, base_url: str | None = None,
                     settings: dict[str, Any] | None = None, enabled: bool | None = None,
                     tps_limit: float | None = None, clear_tps_limit: bool = False) -> ChannelView:
        async with self._ctx.db.transaction() as session:
            row = await PlatformRepository(session).channel(channel_id)
            if row is None:
                raise NotFound("no such channel", code="channel_not_found")
            adapter_type = self._adapter_type(row.type)
            if name is not None:
                row.name = name.strip()
            if base_url is not None:
                row.base_url = self._check_url(adapter_type, base_url)
            if settings is not None:
                # Secrets left out of an edit keep their value: the API never shows them to be resent.
                current = {**(row.settings or {}),
                           **(self._ctx.secrets.open(row.secrets_sealed) if row.secrets_sealed else {})}
                merged = {**current, **{k: v for k, v in settings.items() if v is not None}}
                plain, secret = split_secrets(_validated(adapter_type.settings_model, merged, "settings"))
                row.settings = plain
                row.secrets_sealed = self._ctx.secrets.seal(secret) if secret else None
            if enabled is not None:
                row.enabled = enabled
            if tps_limit is not None or clear_tps_limit:
                row.tps_limit = tps_limit
            row.updated_at = utcnow()
        self._directory.forget()
        self._router.forget()
        log.info("channel updated", extra={"channel_id": channel_id, "enabled": row.enabled})
        await self._sessions.opened(self._directory.endpoint(row))
        return self._view(row)

    async def get(self, channel_id: str) -> ChannelView:
        async with self._ctx.db.reader() as session:
            row = await PlatformRepository(session).channel(channel_id)
        if row is None:
            raise NotFound("no such channel", code="channel_not_found")
        return self._view(row)

    async def all(self) -> list[ChannelView]:
        async with self._ctx.db.reader() as session:
            rows = await PlatformRepository(session).channels()
        return [self._view(row) for row in rows]

    def _view(self, row: Channel) -> ChannelView:
        secrets: list[str] = []
        health = None
        try:
            adapter_type = self._ctx.registry.adapter_type(row.type)
            names = secret_fields(adapter_type.settings_model)
            opened = self._ctx.secrets.open(row.secrets_sealed) if row.secrets_sealed else {}
            secrets = sorted(n for n in names if opened.get(n))
            connection = self._ctx.adapter(row.type).health(row.id)
            circuit = self._router.health.view(row.id)
            health = ({**(connection or {}), **(circuit or {})} or None) if connection or circuit else None
        except LookupError:
            pass
        return ChannelView(id=row.id, type=row.type, name=row.name, base_url=row.base_url,
                           settings=dict(row.settings or {}), secrets_set=secrets, enabled=row.enabled,
                           created_at=as_utc(row.created_at),
                           updated_at=as_utc(row.updated_at) if row.updated_at else None, tps_limit=row.tps_limit,
                           health=health)
