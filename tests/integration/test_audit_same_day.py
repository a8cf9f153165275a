"""Two deliveries of one order on one date are billed (a citizen may get two visits) and the audit's
completeness section lists them for a clerk to check, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

from ledger.projections import audit_queries as aq
from ledger.projections.audit import AuditProjection
from ledger.projections.engine import Engine
from tests.helpers.billing_factories import HERNING, citizen, deliver, herning, invoice_run, open_ledger, order, run
from tests.helpers.cli import invoke


def _same_day(ledger) -> list[dict]:
    Engine(ledger.db, [AuditProjection()]).catch_up()
    return aq.audit(ledger.db, HERNING, sections=("completeness",))["completeness"]["same_day_deliveries"]


def test_two_deliveries_of_one_order_on_one_date_are_billed_and_listed_for_a_clerk(database_url):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        h, other = citizen(ledger, HERNING), citizen(ledger, HERNING)
        o = order(ledger, h, "extra-cleaning", "2019-01-01", kind="recurring", every_weeks=1, minutes=60)
        o2 = order(ledger, other, "extra-cleaning", "2019-01-01", kind="recurring", every_weeks=1, minutes=60)
        first, second = deliver(ledger, o, "2019-01-07", 60), deliver(ledger, o, "2019-01-07", 30)
        deliver(ledger, o, "2019-01-14", 60)  # another date: not a finding
        deliver(ledger, o2, "2019-01-07", 60)  # another order on the same date: not a finding
        invoices = invoice_run(ledger, HERNING, "2019-01")["invoices"]
        assert sum(i["gross"] for i in invoices) == 3 * 35_400 + 17_700  # both visits billed (30 min: 177.00)
        (inv,) = [i["number"] for i in invoices if i["citizen_id"] == h]
        (finding,) = _same_day(ledger)
        assert (finding["order_id"], finding["date"], finding["citizen_id"], finding["offer_id"]) == (
            o, "2019-01-07", h, "extra-cleaning")
        assert [(d["delivery_id"], d["minutes"], d["klippekort"], d["invoice_number"]) for d in finding["deliveries"]] \
            == sorted([(first, 60, False, inv), (second, 30, False, inv)])
        assert all(d["delivery_ref"].startswith(d["delivery_id"] + ":") for d in finding["deliveries"])
        # The CLI shows it as its own table, one row per delivery.
        out = invoke(database_url, "audit", "--municipality", str(HERNING), "--section", "same-day-deliveries",
                     "-f", "csv")
        rows = list(csv.DictReader(io.StringIO(out)))
        assert sorted((r["order_id"], r["date"], r["deliveries"], r["delivery_id"]) for r in rows) == sorted(
            [(o, "2019-01-07", "2", first), (o, "2019-01-07", "2", second)])
        # A period holding the date finds it as the whole history does (the window counts within it).
        assert aq.completeness(ledger.db, HERNING, "2019-12-31", "2019-01-07", "2019-01-07")[
            "same_day_deliveries"] == [finding]
        # A clerk cancels the visit recorded twice: no longer a finding (and the next run credits it).
        run(ledger, "cancel_delivery", {"delivery_id": second, "effective": "2019-01-07",
                                        "reason": "recorded twice"}, role="billing_clerk")
        assert _same_day(ledger) == []
        # Filtered by date like the rest of completeness.
        assert aq.completeness(ledger.db, HERNING, "2019-12-31", "2019-01-08")["same_day_deliveries"] == []
    finally:
        ledger.close()
