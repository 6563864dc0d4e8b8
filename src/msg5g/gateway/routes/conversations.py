"""Contacts, conversations and auto-reply rules: the numbers a tenant talks to (attributes and tags), each
chatbot-and-number conversation with its history, and the rules on a chatbot's uplinks, with a test that
says what a sample uplink would make happen."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, status

from msg5g.domain.conversations import ContactSpec, Mode
from msg5g.domain.errors import ValidationFailed
from msg5g.domain.rules import RuleSpec
from msg5g.gateway.deps import AccessDep, ServicesDep
from msg5g.gateway.errors import ErrorResponse
from msg5g.kit.phone import InvalidPhoneNumber, normalise_mobile
from msg5g.services.auto_reply import Outcome, RuleView, SampleUplink
from msg5g.services.conversations import ContactView, ConversationView

router = APIRouter(prefix="/v1", tags=["conversations"])
_errors: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    403: {"model": ErrorResponse, "description": "The key lacks the scope"},
    404: {"model": ErrorResponse, "description": "No such contact, conversation, chatbot or rule"},
    422: {"model": ErrorResponse, "description": "Validation failed; `field` names the offending field"},
}
Number = Annotated[str, Path(min_length=3, max_length=32, description="A mobile number, e.g. 13800138000")]
ChatbotId = Annotated[str, Path(min_length=1, max_length=64)]
RuleId = Annotated[str, Path(min_length=1, max_length=64)]
ConversationId = Annotated[str, Path(min_length=1, max_length=64)]
Limit = Annotated[int, Query(ge=1, le=500)]


def _number(raw: str) -> str:
    try:
        return normalise_mobile(raw)
    except InvalidPhoneNumber:
        raise ValidationFailed("not a valid mobile number", code="invalid_number", field="number") from None


# ---- contacts -----------------------------------------------------------------------------------------


@router.get("/contacts", response_model=list[ContactView], responses=_errors,
            summary="The tenant's contacts, by number; `after` pages on")
async def list_contacts(access: AccessDep, services: ServicesDep,
                        tag: Annotated[str | None, Query(max_length=50)] = None,
                        after: Annotated[str | None, Query(max_length=32)] = None,
                        limit: Limit = 100) -> list[ContactView]:
    return await services.conversations.contacts(access.tenant_id, tag=tag, after=after, limit=limit)


@router.get("/contacts/{number}", response_model=ContactView, responses=_errors, summary="One contact")
async def get_contact(number: Number, access: AccessDep, services: ServicesDep) -> ContactView:
    return await services.conversations.contact(access.tenant_id, _number(number))


@router.put("/contacts/{number}", response_model=ContactView, responses=_errors,
            summary="Create or change a contact (attributes and tags, each replaced when given)")
async def put_contact(number: Number, body: ContactSpec, access: AccessDep, services: ServicesDep) -> ContactView:
    return await services.conversations.put_contact(access.tenant_id, _number(number), body)


@router.delete("/contacts/{number}", status_code=status.HTTP_204_NO_CONTENT, responses=_errors,
               summary="Forget a contact's attributes and tags")
async def delete_contact(number: Number, access: AccessDep, services: ServicesDep) -> None:
    await services.conversations.delete_contact(access.tenant_id, _number(number))


# ---- conversations ------------------------------------------------------------------------------------


@router.get("/conversations", response_model=list[ConversationView], responses=_errors,
            summary="The business's conversations, most recently active first")
async def list_conversations(access: AccessDep, services: ServicesDep,
                             chatbot_id: Annotated[str | None, Query(max_length=64)] = None,
                             number: Annotated[str | None, Query(max_length=32)] = None,
                             mode: Annotated[Mode | None, Query()] = None,
                             before: Annotated[datetime | None, Query()] = None,
                             limit: Limit = 100) -> list[ConversationView]:
    return await services.conversations.conversations(
        access.tenant_id, chatbot_id=chatbot_id, number=_number(number) if number else None, mode=mode,
        business_ids=[access.business_id], before=before, limit=limit)


@router.get("/conversations/{conversation_id}", response_model=ConversationView, responses=_errors,
            summary="A conversation with its history, down and up, and what the rules did")
async def get_conversation(conversation_id: ConversationId, access: AccessDep,
                           services: ServicesDep) -> ConversationView:
    return await services.conversations.conversation(access.tenant_id, conversation_id,
                                                     business_ids=[access.business_id])


# ---- auto-reply rules ---------------------------------------------------------------------------------


@router.get("/chatbots/{chatbot_id}/auto-reply-rules", response_model=list[RuleView], responses=_errors,
            summary="The chatbot's auto-reply rules, in the order they run")
async def list_rules(chatbot_id: ChatbotId, access: AccessDep, services: ServicesDep) -> list[RuleView]:
    return await services.auto_reply.rules(access, chatbot_id)


@router.post("/chatbots/{chatbot_id}/auto-reply-rules", status_code=status.HTTP_201_CREATED,
             response_model=RuleView, responses=_errors, summary="Add an auto-reply rule to the chatbot")
async def add_rule(chatbot_id: ChatbotId, body: RuleSpec, access: AccessDep, services: ServicesDep) -> RuleView:
    """A regular expression that does not compile or is catastrophically slow is refused (`422`)."""
    return await services.auto_reply.add_rule(access, chatbot_id, body)


@router.post("/chatbots/{chatbot_id}/auto-reply-rules/test", response_model=Outcome, responses=_errors,
             summary="What a sample uplink would make the rules do (nothing is sent, written or called)")
async def test_rules(chatbot_id: ChatbotId, body: SampleUplink, access: AccessDep, services: ServicesDep) -> Outcome:
    return await services.auto_reply.test(access, chatbot_id, body)


@router.get("/chatbots/{chatbot_id}/auto-reply-rules/{rule_id}", response_model=RuleView, responses=_errors,
            summary="One auto-reply rule")
async def get_rule(chatbot_id: ChatbotId, rule_id: RuleId, access: AccessDep, services: ServicesDep) -> RuleView:
    return await services.auto_reply.rule(access, chatbot_id, rule_id)


@router.put("/chatbots/{chatbot_id}/auto-reply-rules/{rule_id}", response_model=RuleView, responses=_errors,
            summary="Replace an auto-reply rule")
async def replace_rule(chatbot_id: ChatbotId, rule_id: RuleId, body: RuleSpec, access: AccessDep,
                       services: ServicesDep) -> RuleView:
    return await services.auto_reply.replace_rule(access, chatbot_id, rule_id, body)


@router.delete("/chatbots/{chatbot_id}/auto-reply-rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT,
               responses=_errors, summary="Remove an auto-reply rule")
async def delete_rule(chatbot_id: ChatbotId, rule_id: RuleId, access: AccessDep, services: ServicesDep) -> None:
    await services.auto_reply.delete_rule(access, chatbot_id, rule_id)
