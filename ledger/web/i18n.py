"""Labels in Danish (the default) or English: the template text is the English label, this table
gives its Danish. A label missing here shows in English, so a page is never blank."""

from __future__ import annotations

LANGUAGES = ("da", "en")

DA: dict[str, str] = {
    "Sign in": "Log ind", "Sign out": "Log ud", "Token": "Adgangsnøgle (token)",
    "Your API token": "Din adgangsnøgle til API'et", "Signed in as": "Logget ind som",
    "Billing": "Opkrævning", "Invoices": "Fakturaer", "Invoice": "Faktura", "Accounts": "Konti",
    "Payments": "Betalinger", "Runs": "Kørsler", "Evaluation": "Evaluering", "Audit": "Revision",
    "Access log": "Adgangslog", "Municipality": "Kommune", "Month": "Måned", "Citizen": "Borger",
    "Show": "Vis", "Number": "Nummer", "Issued": "Udstedt", "Due": "Forfald", "Net": "Netto",
    "VAT": "Moms", "Gross": "I alt", "Credited": "Krediteret", "Open": "Åben", "Fees": "Gebyrer",
    "Total": "Total", "Lines": "Linjer", "Date": "Dato", "Service": "Ydelse", "Quantity": "Antal",
    "Unit price": "Enhedspris", "Amount": "Beløb", "Provenance": "Oprindelse", "Credit notes": "Kreditnotaer",
    "Reminders": "Rykkere", "Allocated payments": "Fordelte betalinger", "Payment id": "Betalings-id",
    "Invoice letter (PDF)": "Fakturabrev (PDF)", "Reproduce": "Genberegn", "Balances": "Saldi",
    "Open items": "Åbne poster", "Ageing": "Aldersfordeling", "As of": "Pr. dato", "Invoiced": "Faktureret",
    "Paid": "Betalt", "Owed": "Skyldig", "Credit": "Tilgodehavende", "Balance": "Saldo",
    "Not due": "Ikke forfalden", "Over 90 days": "Over 90 dage", "Method": "Metode",
    "Reference": "Reference", "Reversed": "Tilbageført", "Unallocated": "Ikke fordelt",
    "Invoice run": "Fakturakørsel", "Reminder run": "Rykkerkørsel", "Run date": "Kørselsdato",
    "Prepare": "Forbered", "Confirm": "Bekræft", "Cancel": "Fortryd", "Finance export": "Eksport til økonomi",
    "Download CSV": "Hent CSV", "What this run will issue": "Det vil kørslen udstede",
    "Unbilled deliveries": "Ufakturerede leverancer", "Overdue invoices": "Forfaldne fakturaer",
    "Done": "Udført", "Already done: this is the first answer again": "Allerede udført: her er det første svar igen",
    "Invoices issued": "Udstedte fakturaer", "Reminders issued": "Udstedte rykkere",
    "Debit notes issued": "Udstedte debetnotaer", "Credit notes issued": "Udstedte kreditnotaer",
    "Not billed: past the limitation period": "Ikke opkrævet: forældet", "never invoiced": "aldrig faktureret",
    "Events": "Hændelser", "Version": "Version", "Effective": "Gælder fra", "Recorded": "Registreret",
    "Type": "Type", "Chain": "Kæde", "Length": "Længde", "Head hash": "Hovedhash",
    "Heads recorded by invoice runs": "Hoveder registreret af fakturakørsler", "Verify": "Verificér",
    "Run verify --skip-projections": "Kør verify --skip-projections", "Last verify": "Seneste verifikation",
    "Never run from this page": "Endnu ikke kørt herfra", "OK": "OK", "Problems": "Fejl",
    "As issued": "Som udstedt", "Recomputed": "Genberegnet", "Differences": "Forskelle",
    "User": "Bruger", "Role": "Rolle", "From": "Fra", "Until": "Til", "Route": "Rute", "What": "Hvad",
    "Outcome": "Udfald", "Search": "Søg", "Timeline": "Tidslinje", "Effective on (D)": "Gældende pr. (D)",
    "As known at (K)": "Som kendt pr. (K)", "Network": "Netværket", "Buyers": "Købere", "Orders": "Bestillinger",
    "Deliveries": "Leverancer", "Minutes": "Minutter",
    "Owed for the month, as known at K (kr.)": "Skyldigt for måneden, som kendt pr. K (kr.)",
    "What the month of D owes: its eligible, billable deliveries at their prices, VAT included, as the records showed at K":
        "Hvad måneden for D skylder: dens berettigede, fakturerbare leverancer til deres priser, inkl. moms, som kendt pr. K",
    "Invoiced − credited by month (kr.)": "Faktureret − krediteret pr. måned (kr.)",
    "Granted minutes: buyers and non-buyers": "Bevilgede minutter: købere og ikke-købere",
    "Price history against full cost": "Prishistorik mod fuld omkostning", "Signals": "Signaler",
    "Evaluation export": "Evalueringsudtræk", "Download ZIP": "Hent ZIP", "Home": "Forside",
    "Refused": "Afvist", "Not found": "Ikke fundet", "Bad request": "Ugyldig forespørgsel",
    "Error": "Fejl", "Language": "Sprog", "Month's flows": "Månedens strømme", "Schemes": "Ordninger",
    "Offer": "Tilbud", "Price": "Pris", "Full cost": "Fuld omkostning", "Below cost": "Under kostpris",
    "Catalogue": "Katalog", "Event": "Hændelse", "Back": "Tilbage", "No rows": "Ingen rækker",
    "Citizens with grants": "Borgere med bevilling",
    "Chain state": "Kædens tilstand",
    "Late-cancellation fees of the month are billed with them.": "Månedens gebyrer for sen afbestilling faktureres med.",
    "At most 3 reminders per invoice, at least 10 days apart (the run applies the rules).":
        "Højst 3 rykkere pr. faktura med mindst 10 dages mellemrum (kørslen anvender reglerne).", "Position": "Position", "Workplace": "Arbejdsplads",
    "Debit notes": "Debetnotaer", "Letter": "Brev", "Debit note letter (PDF)": "Debetnotabrev (PDF)",
    "Refunded": "Tilbagebetalt", "Refunds": "Tilbagebetalinger", "Refund": "Tilbagebetal",
    "Refund credit": "Tilbagebetal tilgodehavende", "Refund recorded": "Tilbagebetaling registreret",
    "Amount (kr.)": "Beløb (kr.)", "Reason": "Begrundelse",
    "Pays credit on the citizen's account out to them, under the next refund number; never more than the account holds.":
        "Udbetaler borgerens tilgodehavende under næste tilbagebetalingsnummer; aldrig mere end kontoen rummer.",
    "Claims": "Betalingskrav", "Claimed": "Krævet", "Reversed payment": "Tilbageført betaling",
    "A payment the bank reversed after its money was refunded: what was paid out is owed back, like an invoice.":
        "En betaling, banken tilbageførte, efter pengene var tilbagebetalt: det udbetalte skyldes tilbage, som en faktura.",
    "nemkonto": "NemKonto", "bank_transfer": "Bankoverførsel", "card": "Kort", "cash": "Kontant",
}


def translate(lang: str, text: str) -> str:
    return DA.get(text, text) if lang == "da" else text
