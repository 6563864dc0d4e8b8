"""Phone numbers: the cached China fast path agrees with phonenumbers on every number."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from msg5g.kit.phone import InvalidPhoneNumber, _normalise_slow, mask, normalise_mobile


def _verdict(fn: object, *args: str) -> str | None:
    try:
        return fn(*args)  # type: ignore[operator,no-any-return]
    except InvalidPhoneNumber:
        return None


@settings(max_examples=3000, deadline=None)
@given(prefix=st.sampled_from(["", "+86", "86", "0086"]), digits=st.text("0123456789", min_size=10, max_size=10))
def test_fast_path_matches_phonenumbers(prefix: str, digits: str) -> None:
    raw = f"{prefix}1{digits}"
    assert _verdict(normalise_mobile, raw) == _verdict(_normalise_slow, raw, raw, "CN")


@pytest.mark.parametrize(("raw", "expected"), [
    ("13800138000", "+8613800138000"),
    ("+86 138 0013 8000", "+8613800138000"),
    ("tel:+8613800138000", "+8613800138000"),
    ("sip:+8613800138000@bj.ims.mnc000.mcc460.3gppnetwork.org", "+8613800138000"),
    ("01012345678", None),  # a Beijing landline
    ("12345", None),
    ("not a number", None),
])
def test_normalise(raw: str, expected: str | None) -> None:
    assert _verdict(normalise_mobile, raw) == expected


def test_mask_hides_the_middle_digits() -> None:
    assert mask("+8613800138000") == "+86138****8000"
