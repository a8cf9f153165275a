"""The invoice letter a citizen receives, as PDF (ReportLab; see ADR 0017).

The municipality is the sender; the citizen's name (and address, where the identity store holds one)
comes from the erasable identity store, never from the event log, so an erased citizen's letter says
so instead of naming anyone. The figures are the billing projection's (ledger.projections.billing_queries)
and the payment slip's code line is ledger.domain.fi_payment's: nothing is computed here but layout.
"""

from __future__ import annotations

import io
import os
from typing import Any

from ledger.domain import fi_payment
from ledger.domain.document_numbers import is_debit_note
from ledger.domain.errors import LedgerError
from ledger.domain.municipalities import municipality_code, municipality_name
from ledger.web.fmt import day, kr, month, quantity

# FI creditor numbers by municipality: "657:81234567,580:87654321" or "*:81234567" (one for all).
CREDITORS_ENV = "LEDGER_FI_CREDITORS"
VAT_CLASS = {"exempt": "momsfri", "standard": "25 %"}


def creditors(env: str | None = None) -> dict[str, str]:
    """LEDGER_FI_CREDITORS read and checked: {municipality code or "*": creditor number}. A bad
    entry is a ConfigError naming it, so `ledger serve` refuses to start (exit 2) instead of
    failing at the first letter (style: configure once, fail fast)."""
    from ledger.config import ConfigError

    raw = os.environ.get(CREDITORS_ENV, "") if env is None else env
    found: dict[str, str] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        key, _, value = (x.strip() for x in part.strip().partition(":"))
        if key != "*":
            try:
                key = str(municipality_code(key))
            except LedgerError:
                raise ConfigError(f"{CREDITORS_ENV}: {part.strip()!r} names no municipality "
                                  "(a municipality code such as 657, or * for all)") from None
        if not fi_payment.is_creditor(value):
            raise ConfigError(f"{CREDITORS_ENV}: {part.strip()!r}: an FI creditor number is 8 digits starting with 8")
        found[key] = value
    return found


def creditor_for(municipality: int, env: str | None = None) -> str | None:
    """The municipality's FI creditor number from LEDGER_FI_CREDITORS, or None when not set up."""
    found = creditors(env)
    return found.get(str(municipality)) or found.get("*")


def code_line(invoice: dict[str, Any]) -> str:
    creditor = creditor_for(int(invoice["municipality"]))
    if creditor is None:  # the slip still carries the id the bank needs; the creditor is printed by the bank
        return f"+71< {fi_payment.payment_id(invoice['number'])} +________<"
    return fi_payment.code_line(invoice["number"], creditor)


def render(invoice: dict[str, Any], identity: dict[str, Any] | None, erased: bool) -> bytes:
    """The letter for one invoice of billing_queries.invoice(), or one debit note of
    billing_queries.debit_note() (a supplementary charge, owed on its own due date with its own
    slip), as PDF bytes."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle
    from reportlab.platypus.flowables import KeepTogether, Spacer  # re-exported by platypus through a star import

    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["Normal"], fontName="Helvetica", fontSize=10, leading=13)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=colors.HexColor("#444444"))
    title = ParagraphStyle("title", parent=body, fontName="Helvetica-Bold", fontSize=15, leading=19)
    mono = ParagraphStyle("mono", parent=body, fontName="Courier-Bold", fontSize=11, leading=14)

    m = int(invoice["municipality"])
    sender = f"{municipality_name(m)} Kommune"
    number = invoice["number"]
    pid = fi_payment.payment_id(number)
    debit = is_debit_note(number)
    name = "Debetnota" if debit else "Faktura"
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
                            bottomMargin=18 * mm, title=f"{name} {number}", author=sender,
                            subject=f"{name} for tilkøbsydelser")
    flow: list[Any] = []

    if erased or identity is None:
        to = ["<b>Borgerens identitet er slettet</b>" if erased else "<b>Navn og adresse er ikke registreret</b>",
              "Brevet kan ikke adresseres: identitetsregistret har ingen oplysninger om modtageren."
              if erased else "Identitetsregistret har ingen oplysninger om modtageren."]
    else:
        to = [_esc(identity.get("name", ""))]
        address = identity.get("address")
        to += [_esc(x) for x in (address if isinstance(address, list) else [address] if address else [])]
        if not address:
            to.append("Sendes til Digital Post (e-Boks)")
    head = Table([[Paragraph("<br/>".join(to), body),
                   Paragraph(f"<b>{_esc(sender)}</b><br/>Tilkøb, Ældre og Sundhed<br/>{name}dato: {day(invoice['issued_on'])}"
                             f"<br/>{name}nummer: {number}<br/>Betalings-id: {pid}", body)]],
                 colWidths=[95 * mm, 75 * mm])
    head.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    what = (f"Efterregulering af faktura {invoice['invoice_number']} (tilkøbsydelser leveret i "
            f"{month(invoice.get('month'))}): {_esc(invoice.get('reason') or '')}." if debit
            else f"Tilkøbsydelser leveret i {month(invoice['month'])}.")
    flow += [head, Spacer(1, 12 * mm), Paragraph(f"{name} {number}", title), Spacer(1, 2 * mm),
             Paragraph(f"{what} Beløbet forfalder til betaling <b>{day(invoice['due_on'])}</b>.", body),
             Spacer(1, 5 * mm)]

    rows: list[list[Any]] = [["Dato", "Ydelse", "Antal", "Pris", "Moms", "Beløb"]]
    for line in invoice.get("lines", []):
        what = line.get("offer_name") or line.get("offer_id") or line.get("kind", "")
        if line.get("kind") not in (None, "delivery"):
            what = f"{what} ({str(line['kind']).replace('_', ' ')})"
        rows.append([day(line.get("service_date")), Paragraph(_esc(what), body),
                     quantity(line) if "quantity" in line else "",  # a debit note line has the difference only
                     kr(line.get("unit_price")), VAT_CLASS.get(line.get("vat_class", ""), line.get("vat_class", "")),
                     kr(line.get("gross"))])
    rows += [["", "Beløb uden moms", "", "", "", kr(invoice["net"])],
             ["", "Moms", "", "", "", kr(invoice["vat"])],
             ["", "I alt", "", "", "", kr(invoice["gross"])]]
    for cn in invoice.get("credit_notes", []):
        rows.append(["", f"Kreditnota {cn['number']} ({day(cn['issued_on'])})", "", "", "", kr(-cn["gross"])])
    if invoice.get("fees"):
        rows.append(["", "Rykkergebyrer", "", "", "", kr(invoice["fees"])])
    paid = invoice["charged"] - invoice["open_amount"]
    if paid:
        rows.append(["", "Betalt", "", "", "", kr(-paid)])
    rows.append(["", "At betale", "", "", "", kr(invoice["open_amount"])])
    table = Table(rows, colWidths=[22 * mm, 62 * mm, 18 * mm, 26 * mm, 16 * mm, 26 * mm], repeatRows=1)
    n = len(invoice.get("lines", []))
    table.setStyle(TableStyle([
        ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"), ("FONTSIZE", (0, 0), (-1, -1), 9),
        ("LINEBELOW", (0, 0), (-1, 0), 0.6, colors.black), ("LINEABOVE", (0, n + 1), (-1, n + 1), 0.6, colors.black),
        ("ALIGN", (2, 0), (-1, -1), "RIGHT"), ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONTNAME", (0, n + 3), (-1, n + 3), "Helvetica-Bold"), ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
        ("LINEABOVE", (0, -1), (-1, -1), 0.6, colors.black)]))
    flow += [table, Spacer(1, 8 * mm)]
    flow.append(Paragraph(
        "Køb af tilkøbsydelser er en privatretlig aftale. Betal med betalings-id'et nedenfor (kortart +71) i din "
        f"netbank, så bliver betalingen registreret på denne {name.lower()}. Betales der ikke rettidigt, sendes en rykker "
        "(højst 100 kr. pr. rykker, jf. renteloven § 9 b).", small))
    slip = Table([[Paragraph("<b>Indbetalingskort</b> (FI-kort +71)", body)],
                  [Paragraph(f"Betalings-id: {pid}&nbsp;&nbsp;&nbsp;Beløb: {kr(invoice['open_amount'])}&nbsp;&nbsp;&nbsp;"
                             f"Sidste rettidige betalingsdag: {day(invoice['due_on'])}", body)],
                  [Paragraph(_esc(code_line(invoice)), mono)]], colWidths=[170 * mm])
    slip.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.8, colors.black),
                              ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f1e7c7"))]))
    flow += [Spacer(1, 10 * mm), KeepTogether([slip])]
    doc.build(flow)
    return out.getvalue()


def _esc(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
