"""Message text on the SMPP wire: data_coding alphabets, GSM 03.38, the concatenation UDH, segmenting.

GSM 03.38 (3GPP TS 23.038 §6.2.1) travels over SMPP unpacked: one septet per octet, extension
characters as ESC (0x1B) plus a second septet. Packed septets are an air-interface matter and never
appear here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# TS 23.038 §6.2.1, the default alphabet in code order (0x1B is the escape to the extension table).
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
assert len(GSM7_BASIC) == 128
ESC = 0x1B
# TS 23.038 §6.2.1.1, the default alphabet extension table.
GSM7_EXTENSION = {
    0x0A: "\f",
    0x14: "^",
    0x28: "{",
    0x29: "}",
    0x2F: "\\",
    0x3C: "[",
    0x3D: "~",
    0x3E: "]",
    0x40: "|",
    0x65: "€",
}

# Octets 0x80..0xFF are no septet; they decode as U+FFFD so a client bug is visible in the inbox.
_BASIC_TABLE = {i: GSM7_BASIC[i] if i < 128 else "\ufffd" for i in range(256)}
_ENCODE: dict[str, bytes] = {c: bytes((i,)) for i, c in enumerate(GSM7_BASIC) if i != ESC}
_ENCODE.update({c: bytes((ESC, code)) for code, c in GSM7_EXTENSION.items()})

Alphabet = Literal["gsm7", "ascii", "latin1", "ucs2", "binary"]


def gsm7_decode(data: bytes) -> str:
    if ESC not in data:
        # The common case: one table lookup per octet, done in C.
        return data.decode("latin-1").translate(_BASIC_TABLE)
    out: list[str] = []
    i, n = 0, len(data)
    while i < n:
        octet = data[i]
        if octet == ESC and i + 1 < n:
            code = data[i + 1]
            # §6.2.1.1: an escape to an undefined code shows the default-table character instead.
            out.append(GSM7_EXTENSION.get(code, _BASIC_TABLE[code]))
            i += 2
        elif octet == ESC:
            # A trailing ESC is half of a pair split across two segments; the join decodes it.
            i += 1
        else:
            out.append(_BASIC_TABLE[octet])
            i += 1
    return "".join(out)


def gsm7_encode(text: str) -> bytes | None:
    """Unpacked septets, or None when some character has no GSM 03.38 form."""
    try:
        return b"".join(_ENCODE[c] for c in text)
    except KeyError:
        return None


def alphabet(data_coding: int) -> Alphabet:
    """SMPP 3.4 §5.2.19 data_coding, plus the GSM 'message class' group 0xF0..0xFF."""
    if data_coding == 0:
        return "gsm7"
    if data_coding == 1:
        return "ascii"
    if data_coding == 3:
        return "latin1"
    if data_coding == 8:
        return "ucs2"
    if data_coding & 0xF0 == 0xF0:
        return "binary" if data_coding & 0x04 else "gsm7"
    # 2 and 4 are 8-bit binary; the national alphabets (5, 6, 7, 9, 0x0A, 0x0D, 0x0E) are not
    # decoded by this simulator and are kept as octets.
    return "binary"


def decode(data_coding: int, payload: bytes) -> str | None:
    """The text of a payload (UDH already removed), or None for binary data."""
    kind = alphabet(data_coding)
    if kind == "gsm7":
        return gsm7_decode(payload)
    if kind == "ucs2":
        # Segments are decoded after the join, so a surrogate pair split across two of them is
        # whole again; a dangling half (the per-segment view) becomes U+FFFD.
        if len(payload) % 2:
            payload = payload[:-1]
        return payload.decode("utf-16-be", "replace")
    if kind == "ascii":
        return payload.decode("ascii", "replace")
    if kind == "latin1":
        return payload.decode("latin-1")
    return None


def septets_for_udh(udh_octets: int) -> int:
    """Septets a UDH of this many octets (UDHL included) takes, with fill bits (TS 23.040 §9.2.3.24)."""
    return (udh_octets * 8 + 6) // 7


def air_size_ok(data_coding: int, udh_octets: int, payload_octets: int) -> bool:
    """Whether one segment fits the 140-octet TP-User-Data of a single SMS.

    For 8-bit and UCS-2 that is the short_message itself. GSM 03.38 travels unpacked over SMPP,
    one septet per octet, so there the limit is 160 septets with the UDH counted in septets.
    """
    if alphabet(data_coding) == "gsm7":
        return septets_for_udh(udh_octets) + payload_octets <= 160
    return udh_octets + payload_octets <= 140


@dataclass(frozen=True, slots=True)
class Concat:
    """One segment's place in a concatenated message."""

    scheme: Literal["udh8", "udh16", "sar"]
    ref: int
    total: int
    seq: int


class UdhError(ValueError):
    pass


def split_udh(short_message: bytes) -> tuple[bytes, Concat | None, bytes]:
    """(UDH including UDHL, concatenation IE if any, user data) of a UDHI short_message."""
    if not short_message:
        raise UdhError("UDHI set on an empty short_message")
    udhl = short_message[0]
    if udhl + 1 > len(short_message):
        raise UdhError(f"UDHL {udhl} runs past the end of short_message")
    udh = short_message[: udhl + 1]
    concat: Concat | None = None
    pos = 1
    while pos < udhl + 1:
        if pos + 2 > udhl + 1:
            raise UdhError("truncated information element")
        iei, length = udh[pos], udh[pos + 1]
        value = udh[pos + 2 : pos + 2 + length]
        if len(value) != length:
            raise UdhError(f"IE 0x{iei:02x} runs past the UDH")
        if iei == 0x00 and length == 3:
            concat = Concat("udh8", value[0], value[1], value[2])
        elif iei == 0x08 and length == 4:
            concat = Concat("udh16", (value[0] << 8) | value[1], value[2], value[3])
        elif iei in (0x00, 0x08):
            raise UdhError(f"concatenation IE 0x{iei:02x} has length {length}")
        pos += 2 + length
    return udh, concat, short_message[udhl + 1 :]


def concat_udh(scheme: Literal["udh8", "udh16"], ref: int, total: int, seq: int) -> bytes:
    if scheme == "udh8":
        return bytes((5, 0x00, 3, ref & 0xFF, total, seq))
    return bytes((6, 0x08, 4, (ref >> 8) & 0xFF, ref & 0xFF, total, seq))


def choose_encoding(text: str, data_coding: int | None = None) -> tuple[int, bytes]:
    """(data_coding, encoded text) for an MO: GSM 03.38 when every character has a form, else UCS-2."""
    if data_coding is None:
        septets = gsm7_encode(text)
        if septets is not None:
            return 0, septets
        return 8, text.encode("utf-16-be")
    if data_coding == 0:
        septets = gsm7_encode(text)
        if septets is None:
            raise ValueError("text has characters outside GSM 03.38")
        return 0, septets
    if data_coding == 3:
        return 3, text.encode("latin-1")
    if data_coding == 8:
        return 8, text.encode("utf-16-be")
    raise ValueError("data_coding must be 0, 3 or 8")


def split_payload(data_coding: int, encoded: bytes, udh_octets: int) -> list[bytes]:
    """Cut `encoded` into segments that fit one SMS each next to a UDH of `udh_octets`.

    A single segment needs no UDH, so it may use the whole 160 septets / 140 octets. Cuts never
    separate an ESC from its character or the two halves of a UTF-16 surrogate pair.
    """
    single = 160 if alphabet(data_coding) == "gsm7" else 140
    if len(encoded) <= single:
        return [encoded]
    if alphabet(data_coding) == "gsm7":
        room = 160 - septets_for_udh(udh_octets)
    else:
        room = 140 - udh_octets
        if data_coding == 8:
            room -= room % 2
    parts: list[bytes] = []
    pos = 0
    while pos < len(encoded):
        end = min(pos + room, len(encoded))
        if end < len(encoded):
            # Our encoder emits ESC only as the first septet of a pair.
            if data_coding == 0 and encoded[end - 1] == ESC:
                end -= 1
            elif data_coding == 8 and 0xD8 <= encoded[end - 2] <= 0xDB:
                end -= 2
        parts.append(encoded[pos:end])
        pos = end
    return parts


def receipt_text(text: str | None, limit: int = 20) -> str:
    """The receipt's text: field: first characters of the message, kept printable ASCII.

    The receipt itself is data_coding 0 ASCII that clients parse with a regex; a character outside
    printable ASCII (Chinese, say) shows as '?' rather than breaking that.
    """
    if not text:
        return ""
    return "".join(c if " " <= c <= "~" else "?" for c in text[:limit])
