"""The CT/CU CSP management client against the simulated MaaP over loopback: the signed headers it
accepts, the CSP token cached and fetched again once when the carrier calls it expired, refused
credentials and the carrier's refusals as the errors the application steps key on."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from msg5g.channels.base import ChannelEndpoint
from msg5g.channels.carriers.cucc import ChinaUnicomChannel
from msg5g.domain.errors import ChannelAuthError, PermanentChannelError
from msg5g.simulators import maapjson as json_sim
from tests.conftest import ServeFn

pytestmark = pytest.mark.asyncio

CSP_ID, CSP_KEY = "C1210000YY", "csp-key-yy"


async def carrier(serve: ServeFn) -> str:
    return await serve(json_sim.create_app(json_sim.SimulatorSettings(
        dialect="cucc", csp_id=CSP_ID, csp_access_key=CSP_KEY)), None)


def endpoint(sim_url: str, key: str = CSP_KEY) -> ChannelEndpoint:
    return ChannelEndpoint(channel_id="ch-1", type="cucc", base_url=sim_url, settings={
        "csp_api_url": f"{sim_url}/cspApi/v1", "csp_id": CSP_ID, "csp_access_key": key})


async def calls(http: aiohttp.ClientSession, sim_url: str) -> list[dict[str, Any]]:
    async with http.get(f"{sim_url}/_sim/csp") as r:
        return list((await r.json())["calls"])


async def test_the_token_is_cached_and_fetched_again_once_when_expired(serve: ServeFn) -> None:
    sim_url = await carrier(serve)
    async with aiohttp.ClientSession() as http:
        adapter = ChinaUnicomChannel(http)
        for _ in range(2):  # the carrier knows no such customer: its refusal, after a signed, accepted call
            with pytest.raises(PermanentChannelError) as refused:
                await adapter.customer_audit(endpoint(sim_url), "C1210000YY99999")
            assert refused.value.carrier_code == "40401"
        paths = [c["path"] for c in await calls(http, sim_url)]
        assert paths.count("/accessToken") == 1, paths
        async with http.post(f"{sim_url}/_sim/csp/tokens/expire") as r:
            assert r.status < 300, await r.text()
        with pytest.raises(PermanentChannelError) as refused:
            await adapter.customer_audit(endpoint(sim_url), "C1210000YY99999")
        assert refused.value.carrier_code == "40401"
        seen = [(c["path"], c["code"]) for c in await calls(http, sim_url)][-3:]
        assert seen == [("/selectCspCustomer", 42001), ("/accessToken", 0),
                        ("/selectCspCustomer", 40401)], seen


async def test_refused_csp_credentials_are_an_auth_error(serve: ServeFn) -> None:
    sim_url = await carrier(serve)
    async with aiohttp.ClientSession() as http:
        adapter = ChinaUnicomChannel(http)
        with pytest.raises(ChannelAuthError) as refused:
            await adapter.customer_audit(endpoint(sim_url, "not-the-key"), "C1210000YY00001")
        assert refused.value.carrier_code == "41001"
        # A channel without the CSP's credentials says what is missing, before any call.
        bare = ChannelEndpoint(channel_id="ch-2", type="cucc", base_url=sim_url, settings={})
        assert "csp_api_url" in (adapter.applications_refusal(bare) or "")
        assert adapter.applications_refusal(endpoint(sim_url)) is None
        with pytest.raises(PermanentChannelError):
            await adapter.bring_online(bare, "0" * 32)
