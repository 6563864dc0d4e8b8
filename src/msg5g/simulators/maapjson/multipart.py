"""A small `multipart/form-data` reader (RFC 7578) for media uploads (§3.3.4).

Written here rather than borrowed so the simulator reads the upload the way a strict server does:
a body without its boundary, a part without a `form-data` name or one that never closes is refused,
not guessed at. Only what an upload needs is kept: each part's name, file name, type and bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from .constants import MAX_MULTIPART_PARTS

# `; key=value` or `; key="quoted \" value"` after the first token of a header.
_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_QUOTED_PAIR = re.compile(r"\\(.)")
_BOUNDARY_MAX = 70  # RFC 2046


class MultipartError(ValueError):
    """A body that is not well-formed multipart/form-data."""


@dataclass(frozen=True, slots=True)
class FormPart:
    name: str
    filename: str | None
    # The part's own Content-Type without parameters, lower-cased; None when it sent none.
    content_type: str | None
    data: bytes


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """`type/sub; a=1; b="x"` -> ("type/sub", {"a": "1", "b": "x"}); keys lower-cased."""
    head, _, _ = value.partition(";")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(value[len(head) :]):
        raw = match.group(2).strip()
        if len(raw) >= 2 and raw.startswith('"') and raw.endswith('"'):
            raw = _QUOTED_PAIR.sub(r"\1", raw[1:-1])
        params[match.group(1).lower()] = raw
    return head.strip().lower(), params


def form_boundary(content_type: str) -> str | None:
    """The boundary of a `multipart/form-data` Content-Type, or None for anything else."""
    media_type, params = header_params(content_type)
    boundary = params.get("boundary", "")
    if media_type != "multipart/form-data" or not 1 <= len(boundary) <= _BOUNDARY_MAX:
        return None
    return boundary


def parse_form(body: bytes, boundary: str) -> list[FormPart]:
    """Every part of the body, in order; MultipartError on the first fault."""
    delimiter = b"--" + boundary.encode("latin-1")
    start = body.find(delimiter)
    if start < 0:
        raise MultipartError("the body does not contain its boundary")
    parts: list[FormPart] = []
    position = start + len(delimiter)
    while True:
        if body.startswith(b"--", position):
            return parts  # the close delimiter; an epilogue after it is ignored
        line_end = body.find(b"\r\n", position)
        # RFC 2046: only transport padding (spaces, tabs) may follow a delimiter on its line.
        if line_end < 0 or body[position:line_end].strip(b" \t"):
            raise MultipartError("a boundary line is malformed")
        part_start = line_end + 2
        part_end = body.find(b"\r\n" + delimiter, part_start)
        if part_end < 0:
            raise MultipartError("a part is not closed by the boundary")
        if len(parts) >= MAX_MULTIPART_PARTS:
            raise MultipartError(f"more than {MAX_MULTIPART_PARTS} parts")
        parts.append(_part(body[part_start:part_end]))
        position = part_end + 2 + len(delimiter)


def _part(raw: bytes) -> FormPart:
    if raw.startswith(b"\r\n"):
        head, data = b"", raw[2:]
    else:
        head, separator, data = raw.partition(b"\r\n\r\n")
        if not separator:
            raise MultipartError("a part has no blank line after its headers")
    headers: dict[str, str] = {}
    for line in head.split(b"\r\n"):
        key, colon, value = line.partition(b":")
        if not colon:
            raise MultipartError("a part header has no colon")
        headers[key.strip().lower().decode("latin-1")] = _text(value.strip())
    disposition, params = header_params(headers.get("content-disposition", ""))
    name = params.get("name")
    if disposition != "form-data" or not name:
        raise MultipartError("a part has no Content-Disposition: form-data with a name")
    content_type = headers.get("content-type")
    return FormPart(
        name=name,
        filename=_filename(params),
        content_type=header_params(content_type)[0] if content_type else None,
        data=data,
    )


def _text(value: bytes) -> str:
    # Browsers and most clients send non-ASCII file names as raw UTF-8 inside the quotes.
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _filename(params: dict[str, str]) -> str | None:
    """`filename*` (RFC 5987 `charset'lang'pct-encoded`) wins over `filename`; "" means none."""
    extended = params.get("filename*")
    if extended is not None:
        charset, _, rest = extended.partition("'")
        _, _, encoded = rest.partition("'")
        try:
            name = unquote(encoded, encoding=charset or "utf-8", errors="strict")
        except (LookupError, UnicodeDecodeError):
            name = ""
        if name:
            return name
    return params.get("filename") or None
