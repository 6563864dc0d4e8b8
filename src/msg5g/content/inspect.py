"""What an uploaded file really is: its type by content (magic numbers, not the file name), its
dimensions or duration, whether it decodes at all, and what the platform makes from it (an
image's thumbnail, a video's poster frame).

Types come from `filetype` (signature bytes); images are decoded by Pillow; audio and video are
probed by ffprobe and their poster frame cut by ffmpeg where those are installed (Debian's ffmpeg).
Without them a file is still taken, its duration unknown and said so in `probe_note`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import filetype
from PIL import Image, ImageOps, UnidentifiedImageError

from msg5g.domain.errors import ValidationFailed
from msg5g.domain.media import MaterialKind

# The types the platform takes at all; each carrier takes a subset (its adapter's MediaLimits).
ACCEPTED_TYPES: dict[MaterialKind, frozenset[str]] = {
    MaterialKind.IMAGE: frozenset({"image/jpeg", "image/png", "image/gif"}),
    MaterialKind.THUMBNAIL: frozenset({"image/jpeg", "image/png"}),
    MaterialKind.AUDIO: frozenset({"audio/amr", "audio/mpeg", "audio/mp4", "audio/x-wav"}),
    MaterialKind.VIDEO: frozenset({"video/mp4", "video/webm"}),
}
_KIND_OF_FAMILY = {"image": MaterialKind.IMAGE, "audio": MaterialKind.AUDIO, "video": MaterialKind.VIDEO}
THUMBNAIL_EDGE = 400  # pixels, the longer side
THUMBNAIL_MAX_BYTES = 200 * 1024  # China Mobile's thumbnail limit, the strictest of the carriers
PROBE_SECONDS = 20.0
# Decompression bombs: Pillow warns above its limit; a material image has no business being that big.
MAX_IMAGE_PIXELS = 40_000_000


class UnsupportedMedia(ValidationFailed):
    code = "unsupported_media_type"
    http_status = 415


class FileTooLarge(ValidationFailed):
    code = "file_too_large"
    http_status = 413


class CorruptFile(ValidationFailed):
    code = "corrupt_file"


@dataclass(frozen=True, slots=True)
class Derived:
    data: bytes
    content_type: str


@dataclass(frozen=True, slots=True)
class Inspection:
    kind: MaterialKind
    content_type: str
    extension: str
    size: int
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    thumbnail: Derived | None = None  # made by the platform: an image's thumbnail, a video's poster frame
    probe_note: str | None = None  # what could not be checked, and why


def media_tools() -> dict[str, bool]:
    return {"ffprobe": shutil.which("ffprobe") is not None, "ffmpeg": shutil.which("ffmpeg") is not None}


async def inspect(data: bytes, *, declared_kind: MaterialKind | None, max_bytes: int) -> Inspection:
    """Raises UnsupportedMedia, FileTooLarge or CorruptFile, naming the problem."""
    if not data:
        raise CorruptFile("the file is empty", field="file")
    if len(data) > max_bytes:
        raise FileTooLarge(f"the file is {len(data)} bytes; the platform takes up to {max_bytes}", field="file")
    guessed = filetype.guess(data)
    if guessed is None:
        raise UnsupportedMedia("the file's content is not a type the platform takes (image, audio or video)",
                               field="file")
    content_type, extension = guessed.mime, guessed.extension
    kind = declared_kind or _KIND_OF_FAMILY.get(content_type.split("/")[0])
    if kind is None or content_type not in ACCEPTED_TYPES[kind]:
        allowed = ", ".join(sorted(ACCEPTED_TYPES[kind])) if kind else "images, audio or video"
        raise UnsupportedMedia(f"the file's content is {content_type}; {'a ' + kind.value if kind else 'a material'} "
                               f"must be {allowed}", field="file")
    if kind in (MaterialKind.IMAGE, MaterialKind.THUMBNAIL):
        return await asyncio.to_thread(_inspect_image, data, kind, content_type, extension)
    return await _inspect_timed(data, kind, content_type, extension)


def _inspect_image(data: bytes, kind: MaterialKind, content_type: str, extension: str) -> Inspection:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                probe.verify()  # checks the structure without decoding
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise CorruptFile(f"the image is {image.width}x{image.height}; at most {MAX_IMAGE_PIXELS} "
                                      "pixels are taken", field="file")
                image.load()  # a truncated file fails here
                width, height = image.size
                thumbnail = None if kind is MaterialKind.THUMBNAIL else _thumbnail(image)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
            Image.DecompressionBombError) as exc:
        raise CorruptFile(f"the image does not decode: {exc}", field="file") from None
    if kind is MaterialKind.THUMBNAIL and len(data) > THUMBNAIL_MAX_BYTES:
        raise FileTooLarge(f"a thumbnail may be up to {THUMBNAIL_MAX_BYTES // 1024} KB; this one is "
                           f"{len(data) // 1024} KB", field="file")
    return Inspection(kind=kind, content_type=content_type, extension=extension, size=len(data), width=width,
                      height=height, thumbnail=thumbnail)


def _thumbnail(image: Image.Image) -> Derived:
    """A JPEG of at most THUMBNAIL_EDGE px on its longer side that fits every carrier's thumbnail limit."""
    small = ImageOps.exif_transpose(image).convert("RGB")
    small.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
    for quality in (85, 70, 55, 40):
        out = io.BytesIO()
        small.save(out, format="JPEG", quality=quality, optimize=True)
        if out.tell() <= THUMBNAIL_MAX_BYTES:
            break
    return Derived(out.getvalue(), "image/jpeg")


async def _inspect_timed(data: bytes, kind: MaterialKind, content_type: str, extension: str) -> Inspection:
    tools = media_tools()
    if not tools["ffprobe"]:
        return Inspection(kind=kind, content_type=content_type, extension=extension, size=len(data),
                          probe_note="ffprobe is not installed: the duration is unknown and the file was not "
                                     "checked beyond its type (install Debian's ffmpeg)")
    with tempfile.TemporaryDirectory(prefix="msg5g-probe-") as folder:
        path = Path(folder) / f"upload.{extension}"
        path.write_bytes(data)  # ffprobe cannot seek in a pipe, and MP4 keeps its index at the end
        probe = await _run("ffprobe", "-v", "error", "-show_entries",
                           "format=duration:stream=codec_type,width,height", "-of", "json", str(path))
        if probe is None:
            raise CorruptFile(f"the {kind.value} does not decode", field="file")
        facts = json.loads(probe or b"{}")
        streams = facts.get("streams") or []
        wanted = "video" if kind is MaterialKind.VIDEO else "audio"
        stream = next((s for s in streams if s.get("codec_type") == wanted), None)
        if stream is None:
            raise CorruptFile(f"the file holds no {wanted} stream", field="file")
        duration = _float(facts.get("format", {}).get("duration"))
        thumbnail, note = None, None
        if kind is MaterialKind.VIDEO:
            if tools["ffmpeg"]:
                frame = await _run("ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1",
                                   "-vf", f"scale='min({THUMBNAIL_EDGE},iw)':-2", "-f", "image2", "-c:v", "mjpeg",
                                   "pipe:1")
                if not frame:
                    # The header can be whole while the frames are not (a cut-short upload).
                    raise CorruptFile("the video has no decodable frame", field="file")
                thumbnail = Derived(frame, "image/jpeg")
            else:
                note = "ffmpeg is not installed: no poster frame was made and the frames were not checked"
        return Inspection(kind=kind, content_type=content_type, extension=extension, size=len(data),
                          width=stream.get("width"), height=stream.get("height"), duration_seconds=duration,
                          thumbnail=thumbnail, probe_note=note)


async def _run(*argv: str) -> bytes | None:
    """The program's standard output, or None when it failed or took too long."""
    process = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        out, _ = await asyncio.wait_for(process.communicate(), PROBE_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        return None
    return out if process.returncode == 0 else None


def _float(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
