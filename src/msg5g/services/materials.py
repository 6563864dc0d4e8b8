"""The material library: uploads checked by content, stored, and kept in sync on every chatbot.

A carrier serves the files its handsets download, and takes uploads per chatbot account, so each
material has one `MaterialSync` per chatbot of its tenant: the upload, the carrier's audit, the
URL it serves the file under and that URL's expiry. Uploading is a queued job per (material,
chatbot) (`material-sync`), so a new chatbot gets every existing material the same way a new
material reaches every chatbot; a carrier URL about to expire is uploaded again by a job scheduled
for then (`material-refresh`), and the old URL stays in use until the new one is approved.

A message names materials by id; `resolve` swaps them for the URLs of the chatbot the message
goes through, and `ready_on` tells routing which chatbots can carry it at all.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import AnyUrl, BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from msg5g.channels import ChannelAdapter
from msg5g.content.inspect import Inspection, inspect
from msg5g.domain.content import CardMedia, CarouselContent, Content, FileContent, MediaFile, RichCardContent
from msg5g.domain.errors import (
    ChannelAuthError,
    NotFound,
    PermanentChannelError,
    TransientChannelError,
    ValidationFailed,
    WebhookRejected,
)
from msg5g.domain.media import (
    REFUSED_SYNC_STATES,
    MaterialKind,
    MediaAuditReport,
    MediaPart,
    MediaUpload,
    MediaUploadResult,
    SyncState,
)
from msg5g.kit.clock import as_utc, utcnow
from msg5g.kit.ids import new_id
from msg5g.pipeline.queue import Job, NewJob, RetryLater
from msg5g.services.access import BusinessAccess
from msg5g.services.context import ServiceContext
from msg5g.services.directory import Directory
from msg5g.storage.files import FileStore
from msg5g.storage.repositories import ChatbotRepository, MaterialRepository, PlatformRepository
from msg5g.storage.tables import Material, MaterialSync, MediaAuditRef, MediaUploadRow

log = logging.getLogger(__name__)

TOPIC_MATERIAL_SYNC = "material-sync"
TOPIC_MATERIAL_REFRESH = "material-refresh"
UPLOAD_MAX_ATTEMPTS = 8
_CACHE_SECONDS = 5.0  # how long a process keeps which materials are usable on a chatbot


class MaterialNotReady(ValidationFailed):
    code = "material_not_approved"


# ---- views ------------------------------------------------------------------------------------


class SyncView(BaseModel):
    chatbot_id: str
    channel_id: str
    state: SyncState
    url: str | None
    thumbnail_url: str | None
    until: datetime | None
    reason: str | None
    refreshing: bool
    updated_at: datetime


class MaterialView(BaseModel):
    id: str
    business_id: str
    kind: MaterialKind
    name: str
    file_name: str
    content_type: str
    size: int
    sha256: str
    width: int | None
    height: int | None
    duration_seconds: float | None
    has_thumbnail: bool
    probe_note: str | None
    created_at: datetime
    syncs: list[SyncView]


class SyncProgress(BaseModel):
    """How far a chatbot's copy of the tenant's materials and templates has come."""

    chatbot_id: str
    materials: dict[str, int]
    materials_total: int
    materials_settled: int
    templates: dict[str, int]


def _sync_view(row: MaterialSync) -> SyncView:
    return SyncView(chatbot_id=row.chatbot_id, channel_id=row.channel_id, state=SyncState(row.state), url=row.url,
                    thumbnail_url=row.thumbnail_url, until=as_utc(row.until) if row.until else None,
                    reason=row.reason, refreshing=row.refreshing, updated_at=as_utc(row.updated_at))


def _view(row: Material, syncs: Iterable[MaterialSync]) -> MaterialView:
    return MaterialView(
        id=row.id, business_id=row.business_id, kind=MaterialKind(row.kind), name=row.name, file_name=row.file_name,
        content_type=row.content_type, size=row.size, sha256=row.sha256, width=row.width, height=row.height,
        duration_seconds=row.duration_seconds, has_thumbnail=row.thumbnail_key is not None,
        probe_note=row.probe_note, created_at=as_utc(row.created_at), syncs=[_sync_view(s) for s in syncs])


@dataclass(frozen=True, slots=True)
class _Usable:
    """A material's approved copy on one chatbot, as a message references it."""

    material: Material
    sync: MaterialSync


class MaterialLibrary:
    def __init__(self, ctx: ServiceContext, directory: Directory, files: FileStore) -> None:
        self._ctx = ctx
        self._directory = directory
        self._files = files
        # Set by Services.build: told (session, tenant id, chatbot id) in the transaction that approves a
        # material on a chatbot, so that templates and chatbot information waiting for it go on.
        self.on_approved: list[Callable[[AsyncSession, str, str], Awaitable[None]]] = []
        self._usable: dict[tuple[str, str, frozenset[str]], tuple[float, dict[str, _Usable]]] = {}

    # ---- the library ----------------------------------------------------------------------------

    async def upload(self, access: BusinessAccess, *, data: bytes, file_name: str, name: str | None = None,
                     kind: MaterialKind | None = None) -> MaterialView:
        """Check, store and queue the material for every chatbot of the tenant. Raises 4xx domain
        errors for a file the platform does not take; then nothing is left behind."""
        facts = await inspect(data, declared_kind=kind, max_bytes=self._ctx.settings.material_max_bytes)
        material_id = new_id()
        base = f"{access.tenant_id}/{material_id}"
        storage_key = f"{base}/file.{facts.extension}"
        thumbnail_key = f"{base}/thumbnail.jpg" if facts.thumbnail else None
        now = utcnow()
        row = Material(
            id=material_id, tenant_id=access.tenant_id, business_id=access.business_id, kind=facts.kind.value,
            name=(name or file_name)[:200], file_name=safe_file_name(file_name, facts.extension),
            content_type=facts.content_type, size=facts.size, sha256=hashlib.sha256(data).hexdigest(),
            storage_key=storage_key, thumbnail_key=thumbnail_key,
            thumbnail_content_type=facts.thumbnail.content_type if facts.thumbnail else None,
            thumbnail_size=len(facts.thumbnail.data) if facts.thumbnail else None, width=facts.width,
            height=facts.height, duration_seconds=facts.duration_seconds, probe_note=facts.probe_note,
            created_at=now, deleted_at=None)
        await self._files.put(storage_key, data)
        try:
            if facts.thumbnail and thumbnail_key:
                await self._files.put(thumbnail_key, facts.thumbnail.data)
            async with self._ctx.db.transaction() as session:
                repo = MaterialRepository(session, access.tenant_id)
                await repo.add(row)
                chatbots = await ChatbotRepository(session, access.tenant_id).all()
                syncs = await self._new_syncs(session, access.tenant_id, [row],
                                              [(c.id, c.channel_id) for c in chatbots], facts)
        except BaseException:
            await self._files.delete(storage_key)
            if thumbnail_key:
                await self._files.delete(thumbnail_key)
            raise
        self._ctx.queue.notify(TOPIC_MATERIAL_SYNC)
        log.info("material uploaded", extra={"material_id": material_id, "kind": facts.kind.value,
                                             "size": facts.size, "chatbots": len(syncs)})
        return _view(row, syncs)

    async def _new_syncs(self, session: AsyncSession, tenant_id: str, materials: list[Material],
                         chatbots: list[tuple[str, str]], facts: Inspection | None = None) -> list[MaterialSync]:
        """One sync per material × chatbot, in the state its channel's limits allow, with the
        upload jobs of those it will carry; committed with the caller's transaction."""
        now = utcnow()
        rows: list[dict[str, Any]] = []
        jobs: list[NewJob] = []
        platform = PlatformRepository(session)
        for chatbot_id, channel_id in chatbots:
            # Read in the caller's transaction: the chatbot may be the one it is creating.
            channel = await platform.channel(channel_id)
            if channel is None:
                continue
            adapter_type = self._ctx.registry.adapter_type(channel.type)
            for material in materials:
                refusal = adapter_type.media_limits.refusal(
                    MaterialKind(material.kind), material.content_type, material.size, material.duration_seconds)
                sync_id = new_id()
                rows.append({
                    "id": sync_id, "tenant_id": tenant_id, "material_id": material.id, "chatbot_id": chatbot_id,
                    "channel_id": channel_id,
                    "state": (SyncState.UNSUPPORTED if refusal else SyncState.UPLOADING).value,
                    "url": None, "thumbnail_url": None, "until": None, "delete_ref": None,
                    "reason": f"{adapter_type.display_name} {refusal}" if refusal else None, "attempts": 0,
                    "refreshing": False, "created_at": now, "updated_at": now})
                if not refusal:
                    jobs.append(NewJob(topic=TOPIC_MATERIAL_SYNC, tenant_id=tenant_id,
                                       payload={"tenant_id": tenant_id, "sync_id": sync_id}))
        await MaterialRepository(session, tenant_id).add_syncs(rows)
        await self._ctx.queue.enqueue(session, jobs)
        return [MaterialSync(**row) for row in rows]

    async def chatbot_added(self, session: AsyncSession, tenant_id: str, chatbot_id: str, channel_id: str) -> int:
        """Every existing material of the tenant goes to a new chatbot (in the caller's transaction)."""
        materials = list(await MaterialRepository(session, tenant_id).live())
        if materials:
            await self._new_syncs(session, tenant_id, materials, [(chatbot_id, channel_id)])
            self._ctx.queue.notify(TOPIC_MATERIAL_SYNC)
        return len(materials)

    async def get(self, access: BusinessAccess, material_id: str) -> MaterialView:
        async with self._ctx.db.reader() as session:
            repo = MaterialRepository(session, access.tenant_id)
            row = await self._owned(repo, access, material_id)
            return _view(row, await repo.syncs_of([row.id]))

    async def browse(self, access: BusinessAccess, *, kind: MaterialKind | None = None,
                   limit: int = 100) -> list[MaterialView]:
        async with self._ctx.db.reader() as session:
            repo = MaterialRepository(session, access.tenant_id)
            rows = await repo.of_business(access.business_id, limit=limit, kind=kind.value if kind else None)
            syncs: dict[str, list[MaterialSync]] = {}
            for sync in await repo.syncs_of([r.id for r in rows]):
                syncs.setdefault(sync.material_id, []).append(sync)
            return [_view(r, syncs.get(r.id, [])) for r in rows]

    async def file(self, access: BusinessAccess, material_id: str, *, thumbnail: bool = False) -> tuple[bytes, str]:
        """The stored bytes and their type (for previews)."""
        async with self._ctx.db.reader() as session:
            row = await self._owned(MaterialRepository(session, access.tenant_id), access, material_id)
        key, content_type = ((row.thumbnail_key, row.thumbnail_content_type) if thumbnail
                             else (row.storage_key, row.content_type))
        if key is None or content_type is None:
            raise NotFound("this material has no thumbnail", code="material_not_found")
        return await self._files.get(key), content_type

    async def original(self, tenant_id: str, material_id: str | None) -> tuple[str, str, bytes] | None:
        """(file name, type, bytes) of a live material, for a carrier that takes the file itself (§3.4)."""
        if material_id is None:
            return None
        async with self._ctx.db.reader() as session:
            row = await MaterialRepository(session, tenant_id).get(material_id)
        if row is None or row.deleted_at is not None:
            return None
        return row.file_name, row.content_type, await self._files.get(row.storage_key)

    async def delete(self, access: BusinessAccess, material_id: str) -> None:
        """The material leaves the library: no new message may reference it. Carrier copies expire
        on their own (a carrier delete would break messages already sent and not yet opened)."""
        async with self._ctx.db.transaction() as session:
            row = await self._owned(MaterialRepository(session, access.tenant_id), access, material_id)
            row.deleted_at = utcnow()

    async def progress(self, tenant_id: str, chatbot_id: str, template_counts: dict[str, int]) -> SyncProgress:
        async with self._ctx.db.reader() as session:
            if await ChatbotRepository(session, tenant_id).get(chatbot_id) is None:
                raise NotFound("no such chatbot", code="chatbot_not_found")
            counts = await MaterialRepository(session, tenant_id).sync_counts(chatbot_id)
        settled = sum(n for state, n in counts.items() if state not in {SyncState.UPLOADING, SyncState.PENDING_AUDIT})
        return SyncProgress(chatbot_id=chatbot_id, materials=counts, materials_total=sum(counts.values()),
                            materials_settled=settled, templates=template_counts)

    @staticmethod
    async def _owned(repo: MaterialRepository, access: BusinessAccess, material_id: str) -> Material:
        row = await repo.get(material_id)
        # Another business's material is as invisible as one that does not exist.
        if row is None or row.business_id != access.business_id or row.deleted_at is not None:
            raise NotFound("no such material", code="material_not_found", field="material_id")
        return row

    # ---- sending with materials -------------------------------------------------------------------

    async def check_owned(self, tenant_id: str, business_id: str, material_ids: Iterable[str]) -> None:
        """Raises NotFound for a material id the business cannot use."""
        wanted = set(material_ids)
        if not wanted:
            return
        async with self._ctx.db.reader() as session:
            found = await MaterialRepository(session, tenant_id).many(wanted)
        for material_id in sorted(wanted):
            row = found.get(material_id)
            if row is None or row.business_id != business_id or row.deleted_at is not None:
                raise NotFound(f"no such material: {material_id}", code="material_not_found", field="content")

    async def usable_on(self, tenant_id: str, chatbot_id: str, material_ids: Iterable[str]) -> dict[str, _Usable]:
        """The approved, unexpired copies on this chatbot of those materials that have one."""
        wanted = frozenset(material_ids)
        if not wanted:
            return {}
        key = (tenant_id, chatbot_id, wanted)
        cached = self._usable.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        now = utcnow()
        async with self._ctx.db.reader() as session:
            repo = MaterialRepository(session, tenant_id)
            materials = await repo.many(wanted)
            syncs = await repo.syncs_on(chatbot_id, wanted)
        usable = {}
        for sync in syncs:
            if sync.state != SyncState.APPROVED or sync.url is None:
                continue
            if sync.until is not None and as_utc(sync.until) <= now:
                continue
            usable[sync.material_id] = _Usable(materials[sync.material_id], sync)
        if len(self._usable) > 4096:
            self._usable.clear()
        self._usable[key] = (time.monotonic() + _CACHE_SECONDS, usable)
        return usable

    async def refusal_on(self, tenant_id: str, chatbot_id: str, material_ids: Iterable[str]) -> str | None:
        """Why some of these materials will not become usable on this chatbot by themselves (rejected,
        expired, not taken by its channel, refused at upload), or None."""
        wanted = set(material_ids)
        if not wanted:
            return None
        async with self._ctx.db.reader() as session:
            syncs = await MaterialRepository(session, tenant_id).syncs_on(chatbot_id, wanted)
        problems = [f"material {s.material_id} is {s.state}" + (f" ({s.reason})" if s.reason else "")
                    for s in sorted(syncs, key=lambda s: s.material_id) if s.state in REFUSED_SYNC_STATES]
        return "; ".join(problems) or None

    async def ready_on(self, tenant_id: str, chatbot_id: str, material_ids: Iterable[str]) -> bool:
        wanted = set(material_ids)
        return len(await self.usable_on(tenant_id, chatbot_id, wanted)) == len(wanted)

    async def resolve(self, tenant_id: str, chatbot_id: str, content: Content) -> Content:
        """The content with every material swapped for its URL on this chatbot. Raises
        MaterialNotReady when one is not approved there."""
        wanted = referenced_materials(content)
        if not wanted:
            return content
        usable = await self.usable_on(tenant_id, chatbot_id, wanted)
        missing = sorted(wanted - usable.keys())
        if missing:
            raise MaterialNotReady(f"materials not approved on this chatbot: {', '.join(missing)}", field="content")
        return _swap(content, usable)

    # ---- the sync jobs ------------------------------------------------------------------------------

    async def run_sync(self, job: Job) -> bool:
        """Upload one material to one chatbot (first upload or a refresh)."""
        tenant_id, sync_id = job.payload["tenant_id"], job.payload["sync_id"]
        async with self._ctx.db.reader() as session:
            repo = MaterialRepository(session, tenant_id)
            sync = await repo.sync(sync_id)
            material = await repo.get(sync.material_id) if sync else None
        if sync is None or material is None:
            return False
        if not (sync.state == SyncState.UPLOADING or sync.refreshing):
            return False  # done by an earlier run of this job
        try:
            chatbot = await self._directory.chatbot(tenant_id, sync.chatbot_id)
        except NotFound:
            return False
        adapter = self._ctx.adapter(chatbot.endpoint.type)
        upload = await self._upload_of(material, adapter)
        try:
            result = await adapter.upload_media(chatbot.endpoint, chatbot.account, upload)
        except (TransientChannelError, ChannelAuthError) as exc:
            # Refused credentials are retried too: a chatbot is often added here before the carrier
            # has it live, and its uploads should go once it is.
            if job.attempts >= UPLOAD_MAX_ATTEMPTS:
                await self._settle_failed(tenant_id, sync_id, f"the carrier kept failing: {exc}")
                return False
            await self._note_attempt(tenant_id, sync_id, str(exc))
            raise RetryLater(min(300.0, 2.0 ** job.attempts), str(exc)) from exc
        except PermanentChannelError as exc:
            await self._settle_failed(tenant_id, sync_id, f"the carrier refused the upload: {exc}")
            return False
        await self._record_upload(tenant_id, sync_id, result)
        return False

    async def _upload_of(self, material: Material, adapter: ChannelAdapter) -> MediaUpload:
        data = await self._files.get(material.storage_key)
        thumbnail = None
        if material.thumbnail_key and material.thumbnail_content_type and material.thumbnail_size is not None:
            fits = adapter.media_limits.refusal(MaterialKind.THUMBNAIL, material.thumbnail_content_type,
                                                material.thumbnail_size, None) is None
            if fits:
                stem = material.file_name.rsplit(".", 1)[0]
                thumbnail = MediaPart(f"{stem}-thumbnail.jpg", material.thumbnail_content_type,
                                      await self._files.get(material.thumbnail_key))
        return MediaUpload(material_id=material.id, kind=MaterialKind(material.kind),
                           file=MediaPart(material.file_name, material.content_type, data), thumbnail=thumbnail)

    async def _note_attempt(self, tenant_id: str, sync_id: str, error: str) -> None:
        async with self._ctx.db.transaction() as session:
            sync = await MaterialRepository(session, tenant_id).sync(sync_id)
            if sync is not None:
                sync.attempts += 1
                sync.reason = f"retrying: {error}"
                sync.updated_at = utcnow()

    async def _settle_failed(self, tenant_id: str, sync_id: str, reason: str) -> None:
        async with self._ctx.db.transaction() as session:
            sync = await MaterialRepository(session, tenant_id).sync(sync_id)
            if sync is None:
                return
            if sync.refreshing:
                sync.refreshing = False  # the current URL stays until it expires
                sync.reason = f"refresh failed: {reason}"
            else:
                sync.state = SyncState.FAILED.value
                sync.reason = reason
            sync.updated_at = utcnow()

    async def _record_upload(self, tenant_id: str, sync_id: str, result: MediaUploadResult) -> None:
        now = utcnow()
        async with self._ctx.db.transaction() as session:
            repo = MaterialRepository(session, tenant_id)
            sync = await repo.sync(sync_id)
            if sync is None:
                return
            upload = MediaUploadRow(id=new_id(), tenant_id=tenant_id, sync_id=sync_id,
                                    state="approved" if not result.audit_refs else "pending", url=result.url,
                                    thumbnail_url=result.thumbnail_url, until=result.until,
                                    delete_ref=result.delete_ref, reason=None, created_at=now)
            await repo.add(upload)
            for ref in dict.fromkeys(result.audit_refs):
                await repo.add(MediaAuditRef(chatbot_id=sync.chatbot_id, audit_ref=ref, tenant_id=tenant_id,
                                             upload_id=upload.id, approved=None))
            sync.attempts += 1
            sync.updated_at = now
            if not result.audit_refs:
                await self._approve(session, sync, upload, None, None)
            elif not sync.refreshing:
                sync.state = SyncState.PENDING_AUDIT.value
                sync.reason = None

    async def _approve(self, session: AsyncSession, sync: MaterialSync, upload: MediaUploadRow, url: str | None,
                       until: datetime | None) -> None:
        upload.state = "approved"
        sync.state = SyncState.APPROVED.value
        sync.url = url or upload.url
        sync.thumbnail_url = upload.thumbnail_url
        sync.until = until or upload.until
        sync.delete_ref = upload.delete_ref
        sync.refreshing = False
        sync.reason = None
        sync.updated_at = utcnow()
        self._usable.clear()
        if sync.until is not None:
            await self._schedule_refresh(session, sync)
        for listener in self.on_approved:
            await listener(session, sync.tenant_id, sync.chatbot_id)

    async def _schedule_refresh(self, session: AsyncSession, sync: MaterialSync) -> None:
        """A job at `until - margin` that uploads again (at half the remaining time when the URL
        lives shorter than the margin), and one at `until` that marks it expired if still due."""
        assert sync.until is not None
        remaining = (as_utc(sync.until) - utcnow()).total_seconds()
        margin = self._ctx.settings.material_refresh_margin_seconds
        refresh_in = remaining - margin if remaining > 2 * margin else remaining / 2
        until = as_utc(sync.until).isoformat()
        payload = {"tenant_id": sync.tenant_id, "sync_id": sync.id, "until": until}
        await self._ctx.queue.enqueue(session, [
            NewJob(topic=TOPIC_MATERIAL_REFRESH, tenant_id=sync.tenant_id, delay_seconds=max(0.0, refresh_in),
                   payload={**payload, "action": "refresh"}),
            NewJob(topic=TOPIC_MATERIAL_REFRESH, tenant_id=sync.tenant_id, delay_seconds=max(0.0, remaining),
                   payload={**payload, "action": "expire"}),
        ])

    async def run_refresh(self, job: Job) -> bool:
        tenant_id, sync_id = job.payload["tenant_id"], job.payload["sync_id"]
        async with self._ctx.db.transaction() as session:
            repo = MaterialRepository(session, tenant_id)
            sync = await repo.sync(sync_id)
            material = await repo.get(sync.material_id) if sync else None
            # A job scheduled for an `until` that has since been replaced by a newer upload is stale.
            if sync is None or material is None or sync.until is None or \
                    as_utc(sync.until).isoformat() != job.payload["until"]:
                return False
            if job.payload["action"] == "expire":
                if sync.state == SyncState.APPROVED:
                    sync.state = SyncState.EXPIRED.value
                    sync.reason = "the carrier URL expired before a refresh was approved"
                    sync.updated_at = utcnow()
                    log.warning("material expired on a chatbot", extra={"sync_id": sync.id})
                return False
            if material.deleted_at is not None or sync.refreshing or sync.state != SyncState.APPROVED:
                return False
            sync.refreshing = True
            sync.updated_at = utcnow()
            await self._ctx.queue.enqueue(session, [NewJob(topic=TOPIC_MATERIAL_SYNC, tenant_id=tenant_id,
                                                           payload={"tenant_id": tenant_id, "sync_id": sync.id})])
        self._ctx.queue.notify(TOPIC_MATERIAL_SYNC)
        return False

    # ---- audit results from the carriers ---------------------------------------------------------

    async def apply_audits(self, session: AsyncSession, tenant_id: str, chatbot_id: str,
                           reports: list[MediaAuditReport]) -> None:
        """In the webhook's transaction. An audit naming an upload not yet recorded (its answer and the
        audit raced) is refused with a retryable status, so the carrier sends it again."""
        repo = MaterialRepository(session, tenant_id)
        for report in reports:
            ref = await repo.audit_ref(chatbot_id, report.audit_ref)
            if ref is None:
                raise WebhookRejected(f"no upload known as {report.audit_ref!r} yet", status=503)
            ref.approved = report.approved
            upload = await repo.upload(ref.upload_id)
            sync = await repo.sync(upload.sync_id) if upload else None
            if upload is None or sync is None or upload.state != "pending":
                continue  # settled by an earlier copy of this notification
            if not report.approved:
                upload.state = "rejected"
                upload.reason = report.reason or "rejected by the carrier"
                if sync.refreshing:
                    sync.refreshing = False
                    sync.reason = f"the refreshed upload was rejected: {upload.reason}"
                else:
                    sync.state = SyncState.REJECTED.value
                    sync.reason = upload.reason
                sync.updated_at = utcnow()
                continue
            refs = await repo.refs_of_upload(upload.id)
            if all(r.approved for r in refs):
                # The carrier may restate the file's URL and expiry; a thumbnail's report names its own.
                restated = report.url is not None and report.url != upload.thumbnail_url
                await self._approve(session, sync, upload, report.url if restated else None,
                                    report.until if restated else None)


def referenced_materials(content: Content) -> set[str]:
    files: list[MediaFile | None] = []
    match content:
        case FileContent(file=file, thumbnail=thumbnail):
            files += [file, thumbnail]
        case RichCardContent(card=card) if card.media is not None:
            files += [card.media.file, card.media.thumbnail]
        case CarouselContent(cards=cards):
            for card in cards:
                if card.media is not None:
                    files += [card.media.file, card.media.thumbnail]
    return {f.material_id for f in files if f is not None and f.material_id is not None}


def _carrier_file(media: MediaFile, usable: dict[str, _Usable], *, as_thumbnail: bool = False) -> MediaFile:
    if media.material_id is None:
        return media
    copy = usable[media.material_id]
    material, sync = copy.material, copy.sync
    if as_thumbnail and material.kind != MaterialKind.THUMBNAIL and sync.thumbnail_url:
        return MediaFile(url=AnyUrl(sync.thumbnail_url), content_type=material.thumbnail_content_type,
                         size=material.thumbnail_size, until=sync.until)
    return MediaFile(url=AnyUrl(str(sync.url)), content_type=material.content_type, size=material.size,
                     name=media.name or material.file_name, until=sync.until)


def _with_thumbnail(media: MediaFile, thumbnail: MediaFile | None,
                    usable: dict[str, _Usable]) -> tuple[MediaFile, MediaFile | None]:
    """The file's URL, and its thumbnail: the one given, else the one the platform made for it."""
    resolved = _carrier_file(media, usable)
    if thumbnail is not None:
        return resolved, _carrier_file(thumbnail, usable, as_thumbnail=True)
    if media.material_id is not None and usable[media.material_id].sync.thumbnail_url:
        return resolved, _carrier_file(media, usable, as_thumbnail=True)
    return resolved, None


def _swap_card_media(media: CardMedia, usable: dict[str, _Usable]) -> CardMedia:
    file, thumbnail = _with_thumbnail(media.file, media.thumbnail, usable)
    return media.model_copy(update={"file": file, "thumbnail": thumbnail})


def _swap(content: Content, usable: dict[str, _Usable]) -> Content:
    match content:
        case FileContent(file=file, thumbnail=thumbnail):
            resolved, resolved_thumbnail = _with_thumbnail(file, thumbnail, usable)
            return content.model_copy(update={"file": resolved, "thumbnail": resolved_thumbnail})
        case RichCardContent(card=card) if card.media is not None:
            return content.model_copy(update={"card": card.model_copy(
                update={"media": _swap_card_media(card.media, usable)})})
        case CarouselContent(cards=cards):
            return content.model_copy(update={"cards": [
                c.model_copy(update={"media": _swap_card_media(c.media, usable)}) if c.media is not None else c
                for c in cards]})
    return content


def safe_file_name(file_name: str, extension: str) -> str:
    """The name carriers see: the caller's base name without path or odd characters, with the real extension."""
    base = file_name.replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    cleaned = "".join(ch for ch in base if ch.isalnum() or ch in "-_")[:80] or "file"
    return f"{cleaned}.{extension}"

