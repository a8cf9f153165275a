"""Which route serves a document number: the one check every route that serves one series'
documents by number makes before it reads anything (the invoice as JSON, the invoice and debit-note
letters, and their web twins), so a number of another series (a debit note, credit note, refund or
claim given to the invoice route, or the reverse) is a 404 that names where that document is,
never "no invoice" nor one document sent as another's.

The numbers say their series (ledger/domain/document_numbers.py), so the check reads nothing.
"""

from __future__ import annotations

from typing import Literal

from ledger.domain.document_numbers import municipality_of, series_of
from ledger.domain.errors import NotFound

# What each series' documents are called in a refusal.
WHAT = {"invoice": "an invoice", "debit_note": "a debit note", "credit_note": "a credit note",
        "refund": "a refund of credit", "claim": "a claim on the citizen"}

# Where each series is served, asked for as a letter (PDF) or as a record (the API's JSON, the
# workplace's page). {get} is "GET " for the API; {root} "/web" for the workplace; {list} the
# listing of the series (the API's, or the workplace page that shows it).
LETTER = {"invoice": "its letter is {get}{root}/billing/invoices/{number}.pdf",
          "debit_note": "its letter is {get}{root}/billing/debit-notes/{number}.pdf",
          "credit_note": "it has no letter of its own; the invoice it credits lists it",
          "refund": "it has no letter; {get}{list} lists it",
          "claim": "it has no letter yet; {get}{list} lists it"}
RECORD = {"invoice": "{get}{root}/billing/invoices/{number} is it",
          "debit_note": "its letter is {get}{root}/billing/debit-notes/{number}.pdf, and the invoice it adjusts "
                        "lists it",
          "credit_note": "the invoice it credits lists it",
          "refund": "{get}{list} lists it",
          "claim": "{get}{list} lists it"}
# The listings, by series: the API's routes, and the workplace's pages that show them.
API_LISTS = {"debit_note": "/billing/debit-notes", "credit_note": "/billing/credit-notes", "refund": "/billing/refunds",
             "claim": "/billing/claims"}
WEB_LISTS = {"refund": "/web/billing/payments", "claim": "/web/billing/payments"}

Series = Literal["invoice", "debit_note"]


def served(number: str, asked: Series, *, letter: bool, web: bool) -> None:
    """Refuse (NotFound, 404) a number not of the series `asked` the route serves, naming where that
    document is served; a number of that series passes (whether it exists is the route's read)."""
    kind = series_of(number)
    if kind == asked:
        return
    code = municipality_of(number)
    listing = (WEB_LISTS if web else API_LISTS).get(kind, "")
    if listing and code is not None:
        listing += f"?municipality={code}"
    root, get = ("/web", "") if web else ("", "GET ")
    where = (LETTER if letter else RECORD)[kind].format(get=get, root=root, number=number, list=listing)
    if not letter and not web and kind in ("debit_note", "credit_note"):
        where += f" (GET {listing} lists every one)"
    raise NotFound(f"{number} is {WHAT[kind]}, not {WHAT[asked]}: {where}", field="number")
