"""Every error leaves as `{"error": {"code", "message", "field"}}` with a 4xx/5xx status.

Codes are stable English identifiers that callers may branch on; messages are for people.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from msg5g.domain.errors import DomainError, WebhookRejected


class ErrorBody(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorBody


ERROR_CODES: dict[str, str] = {
    "invalid_request": "The body or a parameter failed validation; `field` names the first offending one.",
    "malformed_json": "The body is not valid JSON.",
    "missing_api_key": "No API key was given.",
    "invalid_api_key": "The API key is unknown or revoked.",
    "chatbot_not_found": "The chatbot does not exist or belongs to another tenant.",
    "message_not_found": "The message does not exist or belongs to another tenant.",
    "business_not_found": "The business does not exist.",
    "channel_not_found": "The channel does not exist.",
    "unknown_channel_type": "No adapter of that type is installed; `GET /v1/platform/channel-types` lists them.",
    "invalid_channel_config": "A channel's URL or settings, or a chatbot's credentials, fail the type's model.",
    "not_revocable": "The message is already read, failed, expired or revoked.",
    "content_not_supported": "The chatbot's channel cannot carry this content kind (e.g. a card over SMS).",
    "invalid_route": "A route names an unknown carrier or a chatbot this tenant does not have.",
    "invalid_number_fact": "A number's carrier override is not one of the known carriers.",
    "invalid_number": "The path's number is not a valid mobile number.",
    "number_not_found": "Nothing is known of that number beyond its prefix.",
    "page_not_found": "No H5 fallback page has that link.",
    "channel_disabled": "The chatbot's channel is disabled; nothing is accepted for it until it is enabled.",
    "missing_operator_key": "No operator key was given (the /v1/platform API).",
    "invalid_operator_key": "The operator key is unknown or revoked.",
    "idempotency_conflict": "The client_message_id was used before for a different request.",
    "traffic_class_not_allowed": "A message may lower its business's traffic class, never raise it.",
    "already_expired": "expires_at is in the past.",
    "webhook_rejected": "A carrier callback failed authentication or could not be parsed.",
    "unsupported_media_type": "The file's content (read from its bytes, not its name) is not a type taken.",
    "file_too_large": "The file is over the platform's limit (or a thumbnail over 200 KB).",
    "corrupt_file": "The file does not decode as the type its content claims.",
    "material_not_found": "The material does not exist or belongs to another business.",
    "material_not_approved": "A material the message uses is not approved on the chatbot (or any of its routes).",
    "template_not_found": "The template does not exist or belongs to another business.",
    "version_not_found": "The template has no such version.",
    "version_in_review": "The template's latest version is in review; approve or reject it before editing.",
    "invalid_review_state": "The version is not in the review state that step needs.",
    "same_reviewer": "A version is approved or rejected by someone other than its author.",
    "template_invalid": "The template does not compile or uses undeclared parameters; `message` says where.",
    "template_unsafe": "The template reaches outside its sandbox (private attributes, function calls).",
    "invalid_params": "Template parameters are missing, unknown, of the wrong type or outside their constraints.",
    "template_not_approved": "The template has no version approved on the chatbot (or its routes).",
    "sensitive_words": "The text contains words on a sensitive-word list; `message` names them.",
    "word_not_found": "The word is not on that list.",
    "chatbot_not_live": "The chatbot is not live at its carrier (not yet approved, rejected, offline, or its "
                        "credentials are refused) and has no route through another.",
    "profile_not_found": "The chatbot profile does not exist or belongs to another business.",
    "chatbot_has_profile": "The chatbot account already publishes another profile.",
    "chatbot_exists": "That carrier chatbot id is already registered on this channel.",
    "not_an_image": "A logo or banner must be an image material.",
    "invalid_state": "An operator records live, rejected or offline only.",
    "no_profile": "The chatbot account publishes no profile, so it has no audit to record.",
    "not_found": "No such route.",
    "method_not_allowed": "The route exists but not with this method.",
    "internal_error": "Something failed on our side; the request may be retried.",
}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message, "field": field}})


def _field(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    # Discriminated unions put the tag name in the path (content.rich_card.card...); keep it, it
    # tells the caller which kind was validated.
    return ".".join(parts) or None


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(_request: Request, exc: DomainError) -> JSONResponse:
        return error_response(exc.http_status, exc.code, exc.message, exc.field)

    @app.exception_handler(WebhookRejected)
    async def _webhook(_request: Request, exc: WebhookRejected) -> JSONResponse:
        return error_response(exc.status, "webhook_rejected", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": "value_error"}
        if first.get("type") == "json_invalid":
            return error_response(400, "malformed_json", "the body is not valid JSON")
        message = str(first.get("msg", "invalid request"))
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        return error_response(422, "invalid_request", message, _field(tuple(first.get("loc", ()))))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, _exc: Exception) -> JSONResponse:
        return error_response(500, "internal_error", "internal error")
