"""HTTP control API of the SMSC simulator (Starlette), over the simulator's in-memory state.

All JSON:
  GET  /_sim/healthz
  GET  /_sim/accounts                  PUT|DELETE /_sim/accounts/{system_id}
                                       {"password", "service_numbers"?: [...], "check_source"?: bool}
  PUT  /_sim/handsets/{number}         {"outcome": delivered|undeliverable|expired|rejected, "error_code"?: 0..999|null}
  GET  /_sim/handsets/{number}         outcome, pending segments, recent uplinks
  GET  /_sim/handsets/{number}/inbox   reassembled messages that reached the number
  POST /_sim/handsets/{number}/uplink  {"to", "text", "data_coding"?: 0|3|8, "concat"?: udh8|udh16|sar|payload,
                                        "source_ton"?, "source_npi"?, "dest_ton"?, "dest_npi"?}
  GET  /_sim/messages/{message_id}     one segment and its receipt
  GET  /_sim/stats                     POST /_sim/reset {"faults"?: bool, "handsets"?: bool}
  GET|PUT /_sim/faults
"""

from __future__ import annotations

import time
from typing import Any, cast

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .server import SmscSimulator, UplinkError
from .settings import MAX_ADDRESS, OUTCOMES, ConfigError, Outcome, SmscAccount
from .state import normalize_number


class ControlError(Exception):
    """A control-API request that is answered with {"error": ...}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def _json_object(request: Request) -> dict[str, Any]:
    body = await request.body()
    try:
        data = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise ControlError(400, f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ControlError(400, "the body must be a JSON object")
    return data


def _number(request: Request) -> str:
    number = normalize_number(request.path_params["number"])
    if not number or len(number) > MAX_ADDRESS or not number.isascii() or not number.isprintable():
        raise ControlError(400, f"not an SMPP address: {request.path_params['number']!r}")
    return number


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def _on_control_error(_request: Request, exc: Exception) -> Response:
    error = cast(ControlError, exc)
    return _error(error.status, error.message)


def _peak(counts: dict[int, int]) -> int:
    return max(counts.values(), default=0)


class ControlApi:
    """The route endpoints; one instance per app, around one simulator."""

    def __init__(self, simulator: SmscSimulator) -> None:
        self.simulator = simulator
        self.state = simulator.state

    async def healthz(self, _request: Request) -> Response:
        sim = self.simulator
        return JSONResponse(
            {"status": "ok", "smpp_host": sim.host, "smpp_port": sim.port, "sessions": len(sim.session_views())}
        )

    # -- accounts --

    def _account_json(self, account: SmscAccount) -> dict[str, Any]:
        return {
            "system_id": account.system_id,
            "service_numbers": list(account.service_numbers),
            "check_source": account.check_source,
            "sessions": self.simulator.session_views(account.system_id),
            "queued_deliveries": len(self.simulator.queues.get(account.system_id, ())),
        }

    async def list_accounts(self, _request: Request) -> Response:
        return JSONResponse([self._account_json(a) for a in self.state.accounts.values()])

    async def put_account(self, request: Request) -> Response:
        system_id = request.path_params["system_id"]
        payload = await _json_object(request)
        try:
            account = SmscAccount.from_mapping(payload, system_id=system_id)
        except ConfigError as exc:
            return _error(400, str(exc))
        created = system_id not in self.state.accounts
        # Sessions already bound stay bound, as on a real SMSC where a password change only
        # affects the next bind.
        self.state.accounts[system_id] = account
        return JSONResponse(self._account_json(account), 201 if created else 200)

    async def delete_account(self, request: Request) -> Response:
        system_id = request.path_params["system_id"]
        if self.state.accounts.pop(system_id, None) is None:
            return _error(404, "unknown system_id")
        self.simulator.close_account_sessions(system_id)
        self.simulator.queues.pop(system_id, None)
        return Response(status_code=204)

    # -- handsets --

    def _handset_json(self, number: str) -> dict[str, Any]:
        handset = self.state.handsets.get(number)
        outcome = handset.outcome if handset else self.state.settings.default_outcome
        return {
            "number": number,
            "outcome": outcome,
            "error_code": handset.error_code if handset else None,
            "inbox_count": len(handset.inbox) if handset else 0,
            "pending": self.state.pending_for(number),
            "uplinks": [u.as_json() for u in handset.uplinks] if handset else [],
        }

    async def put_handset(self, request: Request) -> Response:
        number = _number(request)
        payload = await _json_object(request)
        unknown = set(payload) - {"outcome", "error_code"}
        if unknown:
            raise ControlError(400, f"unknown handset settings: {sorted(unknown)}")
        outcome = payload.get("outcome")
        if outcome is not None and outcome not in OUTCOMES:
            raise ControlError(400, f"outcome must be one of {OUTCOMES}")
        error_code = payload.get("error_code")
        if error_code is not None and (
            isinstance(error_code, bool) or not isinstance(error_code, int) or not 0 <= error_code <= 999
        ):
            raise ControlError(400, "error_code must be an integer 0..999 or null")
        handset = self.state.handset(number)
        handset.pinned = True
        if outcome is not None:
            handset.outcome = cast(Outcome, outcome)
        if "error_code" in payload:
            handset.error_code = error_code
        return JSONResponse(self._handset_json(number))

    async def get_handset(self, request: Request) -> Response:
        return JSONResponse(self._handset_json(_number(request)))

    async def get_inbox(self, request: Request) -> Response:
        handset = self.state.handsets.get(_number(request))
        return JSONResponse([e.as_json() for e in handset.inbox] if handset else [])

    async def post_uplink(self, request: Request) -> Response:
        number = _number(request)
        payload = await _json_object(request)
        try:
            return JSONResponse(self.simulator.send_uplink(number, payload))
        except UplinkError as exc:
            return _error(exc.status, exc.message)

    # -- messages, stats, faults --

    async def get_message(self, request: Request) -> Response:
        record = self.state.messages.get(request.path_params["message_id"])
        if record is None:
            return _error(404, "unknown message id")
        return JSONResponse(record.as_json(time.time()))

    async def get_stats(self, _request: Request) -> Response:
        sim = self.simulator
        state = self.state
        out = state.stats.as_json()
        out["sessions_bound"] = len(sim.session_views())
        out["connections_open"] = len(sim.sessions)
        out["queued_deliveries"] = sum(len(q) for q in sim.queues.values())
        out["outstanding_deliveries"] = sum(len(s.outstanding) for s in sim.sessions)
        out["pending_assemblies"] = len(state.assemblies)
        out["messages_tracked"] = len(state.messages)
        out["handsets_tracked"] = len(state.handsets)
        out["submits_per_second"] = {str(k): v for k, v in state.submits_per_second.items()}
        out["accepted_per_second"] = {str(k): v for k, v in state.accepted_per_second.items()}
        out["peak_submits_per_second"] = _peak(state.submits_per_second)
        out["peak_accepted_per_second"] = _peak(state.accepted_per_second)
        return JSONResponse(out)

    async def reset(self, request: Request) -> Response:
        options = await _json_object(request)
        self.simulator.reset(faults=options.get("faults") is True, handsets=options.get("handsets") is True)
        return JSONResponse({"status": "reset"})

    async def get_faults(self, _request: Request) -> Response:
        return JSONResponse(self.state.faults.as_dict())

    async def put_faults(self, request: Request) -> Response:
        payload = await _json_object(request)
        try:
            self.state.faults = self.state.faults.updated(payload)
        except ConfigError as exc:
            return _error(400, str(exc))
        return JSONResponse(self.state.faults.as_dict())


def create_control_app(simulator: SmscSimulator) -> Starlette:
    """The control API over `simulator`; the SMPP listener's lifecycle stays with its owner."""
    api = ControlApi(simulator)
    routes = [
        Route("/_sim/healthz", api.healthz, methods=["GET"]),
        Route("/_sim/accounts", api.list_accounts, methods=["GET"]),
        Route("/_sim/accounts/{system_id}", api.put_account, methods=["PUT"]),
        Route("/_sim/accounts/{system_id}", api.delete_account, methods=["DELETE"]),
        Route("/_sim/handsets/{number}", api.put_handset, methods=["PUT"]),
        Route("/_sim/handsets/{number}", api.get_handset, methods=["GET"]),
        Route("/_sim/handsets/{number}/inbox", api.get_inbox, methods=["GET"]),
        Route("/_sim/handsets/{number}/uplink", api.post_uplink, methods=["POST"]),
        Route("/_sim/messages/{message_id}", api.get_message, methods=["GET"]),
        Route("/_sim/stats", api.get_stats, methods=["GET"]),
        Route("/_sim/reset", api.reset, methods=["POST"]),
        Route("/_sim/faults", api.get_faults, methods=["GET"]),
        Route("/_sim/faults", api.put_faults, methods=["PUT"]),
    ]
    app = Starlette(routes=routes, exception_handlers={ControlError: _on_control_error})
    app.state.simulator = simulator
    return app
