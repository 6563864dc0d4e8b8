"""/v1/enterprise and /v1/chatbot-applications: the tenant's enterprise filed with the carriers that
have a CSP management API (CT, CU) and chatbots applied for there, step by step (protocols.md §3.4)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, UploadFile, status
from pydantic import BaseModel, ConfigDict, Field

from msg5g.content.inspect import FileTooLarge
from msg5g.domain.applications import DOCUMENT_MAX_BYTES, ChatbotApplicationRequest, DocumentKind, EnterpriseRecord
from msg5g.gateway.deps import AccessDep, ServicesDep
from msg5g.gateway.errors import ErrorResponse
from msg5g.services.applications import ApplicationView, CustomerView, DocumentView, EnterpriseView

router = APIRouter(prefix="/v1", tags=["chatbot applications"])

_errors: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "Missing or invalid API key"},
    404: {"model": ErrorResponse, "description": "Unknown or foreign document, registration, application or channel"},
    409: {"model": ErrorResponse, "description": "`enterprise_not_found`, `already_registered`, `chatbot_exists` "
                                                 "or `application_in_progress`"},
    422: {"model": ErrorResponse, "description": "Validation failed (`applications_not_supported` for a channel "
                                                 "without a management API); `field` names the offending field"},
}
RowId = Annotated[str, Path(min_length=1, max_length=64)]
_CHUNK = 1024 * 1024


@router.post("/enterprise/documents", status_code=status.HTTP_201_CREATED, response_model=DocumentView,
             responses={**_errors, 413: {"model": ErrorResponse, "description": "`file_too_large`"},
                        415: {"model": ErrorResponse, "description": "`unsupported_media_type`"}},
             summary="Upload a document of the enterprise filing (licence scan, identity card, contract)")
async def upload_document(
    access: AccessDep, services: ServicesDep,
    file: Annotated[UploadFile, File(description="JPEG or PNG; a contract may also be a PDF.")],
    kind: Annotated[DocumentKind, Form(description="What the document is.")],
) -> DocumentView:
    chunks: list[bytes] = []
    size = 0
    while chunk := await file.read(_CHUNK):
        size += len(chunk)
        if size > DOCUMENT_MAX_BYTES:
            raise FileTooLarge(f"a document may be at most {DOCUMENT_MAX_BYTES // (1024 * 1024)} MB", field="file")
        chunks.append(chunk)
    return await services.applications.upload_document(access, kind=kind, file_name=file.filename or kind.value,
                                                       data=b"".join(chunks))


@router.get("/enterprise/documents", response_model=list[DocumentView], responses=_errors,
            summary="The tenant's enterprise documents")
async def list_documents(access: AccessDep, services: ServicesDep) -> list[DocumentView]:
    return await services.applications.documents(access)


@router.put("/enterprise", response_model=EnterpriseView, responses=_errors,
            summary="Enter or correct the tenant's enterprise record (a new version)")
async def put_enterprise(body: EnterpriseRecord, access: AccessDep, services: ServicesDep) -> EnterpriseView:
    """The carriers get it when the enterprise is registered with them (again after a rejection)."""
    return await services.applications.put_enterprise(access, body)


@router.get("/enterprise", response_model=EnterpriseView, responses=_errors, summary="The enterprise record")
async def get_enterprise(access: AccessDep, services: ServicesDep) -> EnterpriseView:
    return await services.applications.enterprise(access)


class RegistrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel_id: str = Field(min_length=1, max_length=64, description="A CT or CU channel with CSP credentials.")


@router.post("/enterprise/registrations", status_code=status.HTTP_202_ACCEPTED, response_model=CustomerView,
             responses=_errors, summary="Register the enterprise with a channel's carrier (again after a rejection)")
async def register(body: RegistrationIn, access: AccessDep, services: ServicesDep) -> CustomerView:
    """Files the documents and record (`submitting`), then follows the carrier's audit (`auditing` →
    `approved` or `rejected` with the carrier's reason). After a rejection, correct the record and call again."""
    return await services.applications.register(access, body.channel_id)


@router.get("/enterprise/registrations", response_model=list[CustomerView], responses=_errors,
            summary="The enterprise's standing with each carrier")
async def list_registrations(access: AccessDep, services: ServicesDep) -> list[CustomerView]:
    return await services.applications.customers(access)


@router.get("/enterprise/registrations/{registration_id}", response_model=CustomerView, responses=_errors,
            summary="One carrier registration, with its history")
async def get_registration(registration_id: RowId, access: AccessDep, services: ServicesDep) -> CustomerView:
    return await services.applications.customer(access, registration_id)


@router.post("/chatbot-applications", status_code=status.HTTP_202_ACCEPTED, response_model=ApplicationView,
             responses=_errors, summary="Apply for a chatbot on a CT or CU channel")
async def apply(body: ChatbotApplicationRequest, access: AccessDep, services: ServicesDep) -> ApplicationView:
    """Steps: `waiting` (for the enterprise's approval on that carrier, registered first if need be) →
    `submitting` (the profile's information and logo) → `auditing` → `going_online` → `configuring` (developer
    credentials fetched and stored) → `live`: `chatbot_id` is then an account of the business publishing the
    profile. `rejected` carries the carrier's reason (fix the profile and retry); `failed` says what failed."""
    return await services.applications.apply(access, body)


@router.get("/chatbot-applications", response_model=list[ApplicationView], responses=_errors,
            summary="The business's chatbot applications")
async def list_applications(access: AccessDep, services: ServicesDep) -> list[ApplicationView]:
    return await services.applications.applications(access)


@router.get("/chatbot-applications/{application_id}", response_model=ApplicationView, responses=_errors,
            summary="One chatbot application, with its history")
async def get_application(application_id: RowId, access: AccessDep, services: ServicesDep) -> ApplicationView:
    return await services.applications.application(access, application_id)


@router.post("/chatbot-applications/{application_id}/retry", response_model=ApplicationView, responses=_errors,
             summary="Apply again after a rejection, or go on after a failure")
async def retry(application_id: RowId, access: AccessDep, services: ServicesDep) -> ApplicationView:
    return await services.applications.retry(access, application_id)
