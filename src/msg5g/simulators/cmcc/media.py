"""File-server wire helpers (§3.2, §2.4): multipart/form-data uploads, type sniffing, media URLs.

An upload is judged by its bytes, never by the type its sender declared: a carrier's file server
cannot trust the declaration, and a file renamed to .png must not pass as a PNG. The declared type
only matters at audit, where a mismatch is a carrier-like rejection (docs/protocol-choices.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

from .wire import parse_media_type

Category = Literal["image", "audio", "video"]
# Declarations that name no type at all; a generic declaration cannot be wrong.
UNDECLARED_TYPES = frozenset({"", "application/octet-stream", "binary/octet-stream"})
# ISO base media (ftyp) brands of MP4 video; M4A audio has its own brands.
_MP4_BRANDS = frozenset({b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"M4V "})
_M4A_BRANDS = frozenset({b"M4A ", b"M4B "})


class FormDataError(ValueError):
    """A multipart/form-data body that cannot be split into parts."""


@dataclass(frozen=True, slots=True)
class MediaKind:
    """A file type the CMCC file server takes (§3.2: JPG/PNG/GIF, AMR/MP3/M4A, MP4/WEBM)."""

    content_type: str
    extension: str
    category: Category
    # Declared types that mean this kind (clients spell some of them in several ways).
    aliases: frozenset[str]

    def declared_as(self, declared: str | None) -> bool:
        return declared is None or declared in UNDECLARED_TYPES or declared in self.aliases


JPEG = MediaKind("image/jpeg", "jpg", "image", frozenset({"image/jpeg", "image/jpg", "image/pjpeg"}))
PNG = MediaKind("image/png", "png", "image", frozenset({"image/png", "image/x-png"}))
GIF = MediaKind("image/gif", "gif", "image", frozenset({"image/gif"}))
AMR = MediaKind("audio/amr", "amr", "audio", frozenset({"audio/amr", "audio/amr-wb", "audio/x-amr"}))
MP3 = MediaKind("audio/mpeg", "mp3", "audio", frozenset({"audio/mpeg", "audio/mp3", "audio/mpeg3", "audio/x-mpeg"}))
M4A = MediaKind("audio/mp4", "m4a", "audio", frozenset({"audio/mp4", "audio/m4a", "audio/x-m4a"}))
MP4 = MediaKind("video/mp4", "mp4", "video", frozenset({"video/mp4"}))
WEBM = MediaKind("video/webm", "webm", "video", frozenset({"video/webm"}))


def sniff(data: bytes) -> MediaKind | None:
    """The kind whose signature bytes `data` starts with, or None for a type the server refuses."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data.startswith((b"GIF87a", b"GIF89a")):
        return GIF
    # "#!AMR\n" (narrow band) and "#!AMR-WB\n" (wide band), RFC 4867 §5.
    if data.startswith((b"#!AMR\n", b"#!AMR-WB\n")):
        return AMR
    if data.startswith(b"ID3"):
        return MP3
    # A bare MPEG audio frame: 11 sync bits, a layer that is not "reserved". JPEG (FF D8) fails
    # the sync test, so the order above does not matter for it.
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0 and data[1] & 0x06:
        return MP3
    if len(data) >= 12 and data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in _M4A_BRANDS:
            return M4A
        if brand in _MP4_BRANDS:
            return MP4
        return None  # 3GP, QuickTime, HEIF...: ISO media the server does not take
    # WebM is Matroska (EBML magic) with DocType "webm"; plain .mkv is refused.
    if data.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in data[:64]:
        return WEBM
    return None


# --- multipart/form-data (RFC 7578) -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FormPart:
    name: str
    filename: str | None
    # The part's declared Content-Type, main type lowercased; None when the part has none.
    content_type: str | None
    data: bytes


def parse_form_data(body: bytes, boundary: str) -> list[FormPart]:
    """Split a multipart/form-data body on its boundary; part bodies are kept byte for byte."""
    if not boundary or len(boundary) > 200:
        raise FormDataError("multipart/form-data needs a boundary of 1..200 characters")
    delimiter = b"\r\n--" + boundary.encode("latin-1")
    # The first delimiter may open the body without a line break before it.
    chunks = (b"\r\n" + body).split(delimiter)
    parts: list[FormPart] = []
    closed = False
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            closed = True
            break
        # Transport padding (spaces, tabs) may follow a delimiter before its line break.
        padding, sep, rest = chunk.partition(b"\r\n")
        if not sep or padding.strip(b" \t"):
            raise FormDataError("a boundary line is followed by something other than a line break")
        parts.append(_form_part(rest))
    if not closed:
        raise FormDataError(f"no closing boundary --{boundary}--")
    return parts


def _form_part(raw: bytes) -> FormPart:
    if raw.startswith(b"\r\n"):
        head, data = b"", raw[2:]
    else:
        head, sep, data = raw.partition(b"\r\n\r\n")
        if not sep:
            raise FormDataError("a part has no blank line after its headers")
    headers: dict[str, str] = {}
    for line in head.decode("utf-8", "replace").split("\r\n"):
        header, colon, value = line.partition(":")
        if colon:
            headers[header.strip().lower()] = value.strip()
    disposition, params = parse_media_type(headers.get("content-disposition", ""))
    if disposition != "form-data" or "name" not in params:
        raise FormDataError('every part needs Content-Disposition: form-data; name="..."')
    filename = params.get("filename")
    if filename is not None and "%" in filename:
        # RFC 7578 §4.2: a sender may percent-encode a non-ASCII file name (aiohttp does).
        filename = unquote(filename, errors="replace")
    extended = params.get("filename*")
    if extended:
        # RFC 5987: charset'language'percent-encoded-value.
        charset, _, rest = extended.partition("'")
        _language, _, encoded = rest.partition("'")
        filename = unquote(encoded, encoding=charset or "utf-8", errors="replace")
    declared = headers.get("content-type")
    content_type = parse_media_type(declared)[0] if declared else None
    return FormPart(params["name"], filename, content_type, data)


# --- media URLs inside a downlink (§2.1, §2.4) -----------------------------------------------

_URL_KEYS = ("mediaUrl", "thumbnailUrl")


def urls_in_file_info(info: Any) -> Iterator[str]:
    """The file and thumbnail URLs of a parsed FT-HTTP descriptor (content.parse_file_info)."""
    if not isinstance(info, dict):
        return
    for kind in ("file", "thumbnail"):
        item = info.get(kind)
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            yield item["url"]


def urls_in_card(doc: Any) -> Iterator[str]:
    """Every mediaUrl / thumbnailUrl of a GSMA botmessage document, cards and carousels alike."""
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _URL_KEYS and isinstance(value, str):
                    yield value
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
