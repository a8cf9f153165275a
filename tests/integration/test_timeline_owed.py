"""The evaluators' revenue is what is owed: a delivery the citizen was not eligible for on its date
(after a back-dated grant end, or after a back-dated change to a private provider) is counted
apart, by the one eligibility rule the re-rating uses, on SQLite and PostgreSQL.

Herning: minimum 30 minutes, increment 30, extra cleaning 354.00 DKK/h without VAT.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from ledger.application.reconciliation import reconcile
from ledger.domain.assessment import assessment_id
from ledger.projections.engine import Engine
from ledger.projections.timeline import TimelineProjection
from ledger.projections.timeline_queries import series, timeline
from tests.helpers.billing_factories import HERNING, citizen, deliver, herning, invoice_run, open_ledger, order, run


def _month(ledger, known_at=None) -> dict:
    Engine(ledger.db, [TimelineProjection()]).catch_up()
    return timeline(ledger.db, HERNING, "2019-01-31", known_at)["municipalities"][0]["month"]


def test_the_timeline_revenue_is_the_reconciliations_owed_when_deliveries_lose_eligibility(database_url):
    ledger = open_ledger(database_url)
    try:
        herning(ledger)
        h, p = citizen(ledger, HERNING), citizen(ledger, HERNING)
        oh = order(ledger, h, "extra-cleaning", "2019-01-01", kind="recurring", every_weeks=1, minutes=60)
        op = order(ledger, p, "extra-cleaning", "2019-01-01", kind="recurring", every_weeks=1, minutes=60)
        for o, on, minutes in ((oh, "2019-01-07", 60), (oh, "2019-01-14", 45), (oh, "2019-01-21", 60),
                               (op, "2019-01-08", 60), (op, "2019-01-22", 60)):
            deliver(ledger, o, on, minutes)  # 45 minutes bill as 60: five hours, 5 × 354.00
        (inv_h, inv_p) = invoice_run(ledger, HERNING, "2019-01")["invoices"]
        assert inv_h["gross"] + inv_p["gross"] == 177_000
        before = datetime.now(timezone.utc)
        grant = ledger.repository.get(assessment_id(h)).active_on(date(2019, 1, 1))[0]["grant_id"]
        run(ledger, "end_grant", {"citizen_id": h, "grant_id": grant, "last_day": "2019-01-10"}, role="assessor")
        run(ledger, "choose_provider", {"citizen_id": p, "effective": "2019-01-15", "provider": "private:Hjem ApS"},
            role="assessor")
        # Owed now: h's 7 January and p's 8 January, 2 × 354.00; the other three are not owed.
        owed = sum(mo["owed"] for mo in reconcile(ledger, HERNING)["months"])
        assert owed == 70_800
        month = _month(ledger)
        assert month["revenue"] == {"net": 70_800, "vat": 0, "gross": 70_800}
        assert month["revenue"]["gross"] == owed
        assert (month["deliveries"], month["ineligible_deliveries"]) == (5, 3)
        assert month["ineligible_amount"] == {"net": 106_200, "vat": 0, "gross": 106_200}
        (jan,) = [x for x in series(ledger.db, HERNING, first="2019-01-01", last="2019-01-31")["months"]]
        assert (jan["revenue"]["gross"], jan["ineligible_deliveries"]) == (owed, 3)
        # As known before the grant end and the provider change, every delivery was owed.
        earlier = _month(ledger, before)
        assert (earlier["revenue"]["gross"], earlier["ineligible_deliveries"]) == (177_000, 0)
        # The next run credits the three; the books and the timeline still agree to the øre.
        feb = invoice_run(ledger, HERNING, "2019-02")
        assert sum(n["gross"] for n in feb["credit_notes"]) == 106_200
        after = reconcile(ledger, HERNING)
        assert after["agree"] is True
        assert sum(mo["owed"] for mo in after["months"]) == _month(ledger)["revenue"]["gross"] == 70_800
    finally:
        ledger.close()
