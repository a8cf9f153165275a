"""Paying: the invoices the runs will issue, disputes after invoicing, payments and reminders."""

from __future__ import annotations

from typing import Any

from ledger.generate.billing import PAYMENT_TERMS_DAYS, AccountSim, assign_runs
from ledger.generate.clock import at, day_of, iso_date
from ledger.generate.life import FOREVER, LifeBase
from ledger.generate.people import pick
from ledger.generate.world import HORIZON


class Paying(LifeBase):
    def settle(self) -> None:
        """Invoices the runs will issue, disputes of some, and the citizen's payments and reminders."""
        rng, w, m = self.rng, self.w, self.m
        runs = w.runs[m]
        billed = assign_runs(w, m, self.items)
        if not billed:
            return
        self.first_runs[m] = min(self.first_runs.get(m, len(runs)), min(billed))
        # How this citizen pays: direct debit, or by transfer after a digital-post invoice; a few stop paying.
        style = pick(rng, ((35, "direct_debit"), (62, "transfer"), (3, "stops")))
        stops_after = rng.randrange(1, 6) if style == "stops" else FOREVER
        timeline: list[tuple[int, int, str, Any]] = []  # (instant, tie, what, data)
        for n, k in enumerate(sorted(billed)):
            month, _last, instant = runs[k]
            run_day = day_of(instant)
            gross = sum(item.gross for item in billed[k])
            due = run_day + PAYMENT_TERMS_DAYS
            timeline.append((instant, 0, "invoice", (month, gross, due)))
            self.stats.invoices += 1
            for item in billed[k]:
                if item.kind == "delivery" and item.withdrawn is None and rng.random() < 0.015:
                    dt = self.office(run_day + rng.randrange(3, 26), 8, 15)
                    item.withdrawn = dt
                    self.add(dt, "dispute_delivery", {"delivery_id": item.delivery_id, "effective": iso_date(day_of(dt)),
                                                      "reason": rng.choice(("visit_not_done_as_agreed",
                                                                            "wrong_duration", "staff_did_not_come"))},
                             self.clerk, "billing_clerk", day_of(dt))
                if item.withdrawn is not None and item.withdrawn > instant:
                    timeline.append((item.withdrawn, 1, "credit", (month, item.gross)))
            if n >= stops_after:
                continue
            if style == "direct_debit":
                pay_day, method = due, "direct_debit"
            elif rng.random() < 0.9:
                pay_day, method = run_day + rng.randrange(2, PAYMENT_TERMS_DAYS + 1), "bank_transfer"
            else:  # late, often after a reminder
                pay_day, method = due + rng.randrange(5, 60), rng.choice(("bank_transfer", "card"))
            timeline.append((self.office(pay_day + 1, 5, 8), 2, "pay", (pay_day, method)))
        first = min(t for t, *_ in timeline)
        for day, instant in w.reminder_days(m, first):
            timeline.append((instant, 3, "remind", day))
        timeline.sort(key=lambda e: (e[0], e[1]))
        account = AccountSim()
        horizon = at(HORIZON, 23)
        for instant, _tie, what, data in timeline:
            if instant > horizon:
                break
            if what == "invoice":
                month, gross, due = data
                account.invoice(month, gross, due)
            elif what == "credit":
                account.credit(*data)
            elif what == "pay":
                amount = account.balance()
                if amount > 0:
                    pay_day, method = data
                    payment_id = f"p-{rng.getrandbits(48):012x}"
                    account.pay(payment_id, amount)
                    self.add(instant, "receive_payment", {"payment_id": payment_id, "citizen_id": self.citizen_id,
                                                          "amount": amount, "date": iso_date(pay_day),
                                                          "method": method}, self.clerk, "billing_clerk", pay_day)
            elif account.remind(data):
                self.reminders.add((m, data))

