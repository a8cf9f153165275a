"""Small things a user meets: the invoice number names its municipality, `citizen as-of` takes
`--as-of` like `timeline` (the old `--date` still works, unlisted)."""

from __future__ import annotations

import orjson

from ledger.domain.document_numbers import municipality_of
from tests.helpers.billing_factories import HERNING, citizen, deliver, herning, invoice_run, open_ledger, order
from tests.helpers.cli import invoke


def test_a_document_number_names_its_municipality():
    assert [municipality_of(n) for n in ("657-000001", "657-K00001", "101-D00002", " 580-000010 ")] == [
        657, 657, 101, 580]
    assert [municipality_of(n) for n in ("657000001", "65-000001", "abc-000001", "657-", "")] == [None] * 5


def test_invoice_needs_no_municipality_and_as_of_takes_the_timelines_option_name(database_url):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        h = citizen(ledger, HERNING)
        deliver(ledger, order(ledger, h, "extra-cleaning", "2019-01-07"), "2019-01-07", 60)
        (inv,) = invoice_run(ledger, HERNING, "2019-01")["invoices"]
    finally:
        ledger.close()
    number = inv["number"]
    assert orjson.loads(invoke(database_url, "billing", "invoice", number, "-f", "json"))["municipality"] == HERNING
    assert orjson.loads(invoke(database_url, "billing", "invoice", number, "-m", "Herning", "-f", "json")
                        )["invoice"]["number"] == number
    assert "municipality 580 has no invoice" in invoke(database_url, "billing", "invoice", number, "-m", "580", code=2)
    assert "give --municipality" in invoke(database_url, "billing", "invoice", "nonsense", code=2)
    new = orjson.loads(invoke(database_url, "citizen", "as-of", h, "--as-of", "2019-01-31"))
    old = orjson.loads(invoke(database_url, "citizen", "as-of", h, "--date", "2019-01-31"))
    assert new == {**old, "log_position": new["log_position"]} and new["as_of"] == "2019-01-31"
    assert "differ" in invoke(database_url, "citizen", "as-of", h, "--as-of", "2019-01-31", "--date", "2019-02-01",
                              code=2)
    assert "--as-of" in invoke(database_url, "citizen", "as-of", h, code=2)
    helped = invoke(database_url, "citizen", "as-of", "--help")
    assert "--as-of" in helped and "--date" not in helped
