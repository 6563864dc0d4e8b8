"""Which Chinese carrier a mobile number belongs to, from its prefix (phonenumbers' carrier data).

This is the number's home carrier as allocated; a ported number (携号转网) is served by another,
which the platform learns or is told (services/routing.py keeps those facts).
"""

from __future__ import annotations

from typing import Literal

import phonenumbers
from phonenumbers import carrier as carrier_data

Carrier = Literal["cmcc", "ctcc", "cucc", "cbn"]
CARRIERS: tuple[Carrier, ...] = ("cmcc", "ctcc", "cucc", "cbn")
_BY_NAME: dict[str, Carrier] = {"China Mobile": "cmcc", "China Telecom": "ctcc", "China Unicom": "cucc",
                                "China Broadnet": "cbn"}
# phonenumbers allocates Chinese carrier ranges by at most seven digits of the national number
# (e.g. "1703" virtual operators, "1349" satellite), so its answer holds for every number that
# shares them: asked once per prefix, not once per message.
_PREFIX_DIGITS = 7
_by_prefix: dict[str, Carrier | None] = {}


def home_carrier(e164: str) -> Carrier | None:
    """The carrier a +86 mobile number was allocated to, or None (not Chinese, or unknown)."""
    if not e164.startswith("+86") or len(e164) != 14:
        return None
    prefix = e164[3:3 + _PREFIX_DIGITS]
    if prefix in _by_prefix:
        return _by_prefix[prefix]
    try:
        name = carrier_data.name_for_number(phonenumbers.parse(e164), "en")
    except phonenumbers.NumberParseException:
        name = ""
    found = _BY_NAME.get(name)
    if len(_by_prefix) < 100_000:
        _by_prefix[prefix] = found
    return found
