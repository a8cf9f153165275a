"""The domain's pricing values and its one pricing rule (no database).

The payload tests pin the stored shape: a quote or an invoice line must turn into exactly the dict,
key order included, that the events have always stored, or the stored bytes would change."""

from __future__ import annotations

from types import SimpleNamespace

import orjson

from ledger.domain.pricing import (Amounts, PriceVersion, Quote, delivery_line, fee_line, interest_line,
                                   price_delivery, price_version_on)

PRICES = {"weekday_day": 35_400, "evening": 41_000, "weekend": 45_000}
OFFER = {"name": "Rengøring", "unit": "hour",
         "versions": [{"effective": "2019-01-01", "vat_class": "exempt", "prices": PRICES, "ref": "cat:2"},
                      {"effective": "2019-07-01", "vat_class": "standard", "prices": {**PRICES, "weekday_day": 36_000},
                       "ref": "cat:5"}]}
RULES = {"minimum_minutes": 30, "increment_minutes": 15, "sections": ["83"]}
ORDER = SimpleNamespace(id="o-1", offer_id="clean", placed_ref="o-1:1", eligibility="g:1")


def delivery(on: str = "2019-03-04", minutes: int = 50, band: str = "weekday_day") -> SimpleNamespace:
    return SimpleNamespace(id="d-1", date=on, band=band, minutes=minutes, units=1, recorded_ref="d-1:1")


def test_the_version_in_force_is_the_last_dated_on_or_before_the_day_and_the_first_before_any():
    versions = [PriceVersion.from_state(v) for v in OFFER["versions"]]
    assert price_version_on(versions, "2019-06-30").ref == "cat:2"
    assert price_version_on(versions, "2019-07-01").ref == "cat:5"
    assert price_version_on(versions, "2018-12-31").ref == "cat:2"


def test_an_hourly_visit_bills_its_minutes_rounded_up_to_the_increment_at_least_the_minimum():
    v = PriceVersion("2019-01-01", "exempt", PRICES)
    assert price_delivery("hour", v, "weekday_day", 50, 1, 30, 15).billed_minutes == 60
    assert price_delivery("hour", v, "weekday_day", 10, 1, 30, 15).amounts == Amounts(17_700, 0, 17_700)
    per_visit = price_delivery("visit", v, "evening", 25, 3, 30, 15)
    assert (per_visit.quantity, per_visit.billed_minutes, per_visit.amounts.net) == (3, 25, 123_000)
    assert Amounts.of(10_001, "standard") == Amounts(10_001, 2_500, 12_501)  # VAT rounded half up


def test_a_quote_turns_into_the_payload_an_order_has_always_stored():
    q = Quote.of(PriceVersion.from_state(OFFER["versions"][0]), "evening", "hour")
    assert orjson.dumps(q.to_payload()) == orjson.dumps(
        {"price_ore": 41_000, "vat_class": "exempt", "unit": "hour", "price_ref": "cat:2"})


def test_a_delivery_line_turns_into_the_payload_an_invoice_has_always_stored():
    line = delivery_line(3, delivery(), ORDER, OFFER, RULES, "g:7")
    assert orjson.dumps(line.to_payload()) == orjson.dumps({
        "line_no": 3, "kind": "delivery", "billing_key": "d-1", "delivery_id": "d-1", "order_id": "o-1",
        "offer_id": "clean", "offer_name": "Rengøring", "date": "2019-03-04", "band": "weekday_day", "unit": "hour",
        "minutes": 50, "billed_minutes": 60, "quantity": 60, "unit_price": 35_400, "vat_class": "exempt",
        "net": 35_400, "vat": 0, "gross": 35_400,
        "provenance": {"order": "o-1:1", "delivery": "d-1:1", "price": "cat:2", "grant": "g:7"}})
    assert line.numbered(1).line_no == 1 and line.price_ref == "cat:2" and line.grant_ref == "g:7"


def test_a_fee_line_and_an_interest_line_keep_their_stored_shapes():
    fee = fee_line(2, ORDER, OFFER, "2019-03-10", 10_000, "o-1:3", "standard")
    assert orjson.dumps(fee.to_payload()) == orjson.dumps({
        "line_no": 2, "kind": "late_cancellation", "billing_key": "fee:o-1", "delivery_id": None, "order_id": "o-1",
        "offer_id": "clean", "offer_name": "Rengøring", "date": "2019-03-10", "band": None, "unit": "fee",
        "minutes": 0, "billed_minutes": 0, "quantity": 1, "unit_price": 10_000, "vat_class": "standard",
        "net": 10_000, "vat": 2_500, "gross": 12_500,
        "provenance": {"order": "o-1:1", "cancellation": "o-1:3", "grant": "g:1"}})
    interest = interest_line(0, "657-000001", 100_000, [("2019-04-16", "2019-04-30", 850, "r:2"),
                                                        ("2019-05-01", "2019-05-31", 900, "r:3")])
    payload = interest.to_payload()
    assert list(payload)[-2:] == ["provenance", "interest"]
    assert payload["provenance"] == {"document": "657-000001", "rates": ["r:2", "r:3"]}
    assert payload["interest"] == {"document": "657-000001", "principal": 100_000, "from": "2019-04-16",
                                   "to": "2019-05-31", "periods": [["2019-04-16", "2019-04-30", 850],
                                                                   ["2019-05-01", "2019-05-31", 900]]}
    assert payload["billing_key"] == "interest:657-000001:2019-05-31" and payload["net"] == payload["gross"] > 0


def test_an_interest_line_whose_principal_changed_names_each_periods_principal():
    # docs/adr/0028 round 9: Σ(principal × days × bp) / 3,650,000, rounded once; the old shape when
    # the principal did not change (so an old line the new rule agrees with replays byte for byte).
    changed = interest_line(0, "657-000001", 35_400, [("2019-05-01", "2019-05-09", 790, "r:3", 35_400),
                                                      ("2019-05-10", "2019-05-31", 790, "r:3", 5_400)])
    assert changed.gross == 95  # (35,400 × 9 + 5,400 × 22) × 790 / 3,650,000 = 94.67
    assert changed.to_payload()["interest"]["periods"] == [["2019-05-01", "2019-05-09", 790, 35_400],
                                                           ["2019-05-10", "2019-05-31", 790, 5_400]]
    same = interest_line(0, "657-000001", 35_400, [("2019-04-16", "2019-04-30", 850, "r:2", 35_400),
                                                   ("2019-05-01", "2019-05-31", 900, "r:3", 35_400)])
    assert same.to_payload() == interest_line(0, "657-000001", 35_400, [("2019-04-16", "2019-04-30", 850, "r:2"),
                                                                        ("2019-05-01", "2019-05-31", 900, "r:3")]
                                              ).to_payload()
