"""End-to-end fixtures: the SMSC simulators a test started are closed after it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.e2e.channels import SMSCS


@pytest_asyncio.fixture(autouse=True)
async def _close_smscs() -> AsyncIterator[None]:
    yield
    while SMSCS:
        await SMSCS.pop().close()
