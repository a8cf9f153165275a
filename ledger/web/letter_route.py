"""The invoice letter as an API route: GET /billing/invoices/{number}.pdf with a bearer token (or
the web session), for the roles that read billing data and may address the citizen."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from starlette.responses import Response

from ledger.api.deps import Caller, ServicesDep, reader
from ledger.api.routes import READ_ERRORS, ShortIdPath

router = APIRouter(prefix="/billing", tags=["billing"], responses=READ_ERRORS)


@router.get("/invoices/{number}.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the invoice letter with its FI +71 payment slip"}})
def invoice_letter(number: ShortIdPath, svc: ServicesDep, who: Annotated[Caller, Depends(reader("billing"))],
                   _identity: Annotated[Caller, Depends(reader("identity"))]) -> Response:
    """The Danish invoice letter a citizen receives (PDF): the municipality as sender, the citizen's name from the
    identity store (an erased citizen's letter says so), lines, VAT, total, due date and the FI +71 slip."""
    from ledger.web.pages import letter_response

    return letter_response(svc, who, number)


@router.get("/debit-notes/{number}.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
                             "description": "the debit note letter with its own FI +71 payment slip"}})
def debit_note_letter(number: ShortIdPath, svc: ServicesDep, who: Annotated[Caller, Depends(reader("billing"))],
                      _identity: Annotated[Caller, Depends(reader("identity"))]) -> Response:
    """The Danish debit note letter (PDF): a supplementary charge for lines of an issued invoice, owed on its
    own due date, with its own FI +71 payment slip (its payment id is derived from its number)."""
    from ledger.web.pages import letter_response

    return letter_response(svc, who, number, debit_note=True)
