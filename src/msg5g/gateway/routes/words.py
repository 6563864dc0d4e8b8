"""Sensitive words: /v1/sensitive-words (the tenant's own) and /v1/platform/sensitive-words (operators)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status
from pydantic import BaseModel, ConfigDict, Field

from msg5g.gateway.deps import AccessDep, ServicesDep
from msg5g.gateway.errors import ErrorResponse
from msg5g.gateway.routes.platform import OperatorDep
from msg5g.services.words import WordEntry, WordList

router = APIRouter(prefix="/v1", tags=["sensitive words"])

_errors: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid key"},
    404: {"model": ErrorResponse, "description": "No such word"},
    422: {"model": ErrorResponse, "description": "Validation failed"},
}
Word = Annotated[str, Path(min_length=1, max_length=100)]


class WordsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    words: list[WordEntry] = Field(min_length=1, max_length=5000)


@router.get("/sensitive-words", response_model=WordList, responses=_errors, summary="The tenant's own words")
async def tenant_words(access: AccessDep, services: ServicesDep) -> WordList:
    return await services.words.tenant_list(access.tenant_id)


@router.post("/sensitive-words", response_model=WordList, responses=_errors,
             summary="Add words (block: refuse; mask: replace with *)")
async def add_tenant_words(body: WordsIn, access: AccessDep, services: ServicesDep) -> WordList:
    return await services.words.add_tenant_words(access.tenant_id, body.words)


@router.delete("/sensitive-words/{word}", status_code=status.HTTP_204_NO_CONTENT, responses=_errors,
               summary="Remove a word")
async def remove_tenant_word(word: Word, access: AccessDep, services: ServicesDep) -> Response:
    await services.words.remove_tenant_word(access.tenant_id, word)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/platform/sensitive-words", response_model=WordList, responses=_errors,
            summary="The platform's words (every tenant)")
async def platform_words(_operator: OperatorDep, services: ServicesDep) -> WordList:
    return await services.words.platform_list()


@router.post("/platform/sensitive-words", response_model=WordList, responses=_errors,
             summary="Add words to the platform's list")
async def add_platform_words(body: WordsIn, _operator: OperatorDep, services: ServicesDep) -> WordList:
    return await services.words.add_platform_words(body.words)


@router.delete("/platform/sensitive-words/{word}", status_code=status.HTTP_204_NO_CONTENT, responses=_errors,
               summary="Remove a word from the platform's list")
async def remove_platform_word(word: Word, _operator: OperatorDep, services: ServicesDep) -> Response:
    await services.words.remove_platform_word(word)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
