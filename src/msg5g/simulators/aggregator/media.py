"""What the aggregator checks about a material and where messages name one.

The type table and the size limit refuse an upload at once (301 / 302); the byte sniffing does not:
a carrier's audit finds it later, so it turns into a rejected Media event (choices, "Media").
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .constants import EXTENSION_TYPES, FORBIDDEN_WORD, IMAGE_TYPES, MEDIA_TYPES, UNTYPED
from .content import Item


def declared_type(part_type: str, filename: str | None) -> str:
    """The part's own Content-Type, or the type its filename extension names when it has none."""
    if part_type not in UNTYPED:
        return part_type
    extension = (filename or "").rpartition(".")[2].lower()
    return EXTENSION_TYPES.get(extension, part_type or "application/octet-stream")


def taken(content_type: str, *, thumbnail: bool = False) -> bool:
    return content_type in (IMAGE_TYPES if thumbnail else MEDIA_TYPES)


def extension(content_type: str) -> str:
    return MEDIA_TYPES[content_type]


def bytes_match(content_type: str, data: bytes) -> bool:
    """Do the first bytes look like the declared type? (the signatures a carrier's audit would sniff)."""
    kind = MEDIA_TYPES[content_type]
    if kind == "jpg":
        return data.startswith(b"\xff\xd8\xff")
    if kind == "png":
        return data.startswith(b"\x89PNG\r\n\x1a\n")
    if kind == "gif":
        return data.startswith((b"GIF87a", b"GIF89a"))
    if kind == "amr":
        return data.startswith((b"#!AMR\n", b"#!AMR-WB\n"))
    if kind == "mp3":
        # An ID3v2 tag, or straight into an MPEG audio frame (11 sync bits).
        return data.startswith(b"ID3") or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0)
    # m4a and mp4: ISO base media files open with a box whose type is "ftyp".
    return data[4:8] == b"ftyp"


def media_urls(items: list[Item]) -> Iterator[str]:
    """Every URL a message shows as media: file entries (§3.3.2) and card media / thumbnails (§2.1)."""
    for item in items:
        if item.kind == "file":
            for entry in item.value:
                yield entry["url"]
        elif item.kind == "card":
            yield from _card_media(item.value)


def _card_media(value: Any) -> Iterator[str]:
    # Cards nest (carousel content, suggestions); only mediaUrl / thumbnailUrl name materials,
    # an openUrl link to a file is just a link.
    if isinstance(value, dict):
        for key, inner in value.items():
            if key in ("mediaUrl", "thumbnailUrl") and isinstance(inner, str):
                yield inner
            else:
                yield from _card_media(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _card_media(inner)


def holds_forbidden_word(value: Any) -> bool:
    """Whether any string in a JSON value (keys included) contains the forbidden word."""
    if isinstance(value, str):
        return FORBIDDEN_WORD in value
    if isinstance(value, dict):
        return any(holds_forbidden_word(k) or holds_forbidden_word(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_forbidden_word(v) for v in value)
    return False
