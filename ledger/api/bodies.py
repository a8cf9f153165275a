"""Request bodies: the command schemas of ledger.application.commands, minus the fields the path
already names (POST /orders/{order_id}/cancel takes the order id from the path, not the body).

They are derived, never re-declared, so the API, the import file and the CLI share one vocabulary;
the examples here are what /openapi.json shows (and what schemathesis starts from).
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, create_model

from ledger.application import commands as c

_PRICES = {"weekday_day": 35400, "evening": 66500, "weekend": 49600}
_COST = {"wage": 25000, "overhead": 5000, "transport": 3000, "capital": 2400}
_CITIZEN = "2554e582-e697-59f2-9cfd-e5850753d758"
_ORDER = "eaf05690-abee-5b4c-b8b9-cd1ca082d42f"

EXAMPLES: dict[str, dict[str, Any]] = {
    "establish_scheme": {"municipality": 657, "name": "Herning tilkøb", "window_start": "2018-06-01",
                         "window_end": "2021-12-31", "sections": ["83"], "minimum_minutes": 30,
                         "increment_minutes": 30, "requires_municipal_provider": True},
    "open_scheme_window": {"window_start": "2022-01-01", "window_end": "2022-12-31"},
    "change_scheme_window": {"window_start": "2018-06-01", "window_end": "2022-06-30"},
    "change_scheme_rules": {"effective": "2020-01-01", "sections": ["83", "85"], "minimum_minutes": 30,
                            "increment_minutes": 30, "requires_municipal_provider": True},
    # The identity is obviously not a real person: never put a real-looking CPR number in an example.
    "register_citizen": {"municipality": 657, "effective": "2018-01-01", "residence": "own_home",
                         "provider": "municipal", "identity": {"cpr": "000000-0000", "name": "Test Borger"}},
    "choose_provider": {"effective": "2019-01-01", "provider": "private:Hjemmehjælp ApS"},
    "change_residence": {"effective": "2020-01-01", "residence": "nursing_home"},
    "erase_identity": {},
    "award_grant": {"citizen_id": _CITIZEN, "grant_id": "g-clean", "fsiii": "H1.8", "section": "83",
                    "amount": {"minutes_per_week": 30}, "valid_from": "2018-01-01", "valid_to": None},
    "reassess_grant": {"effective": "2019-01-01", "amount": {"visits": 1, "period_days": 14, "minutes_per_visit": 60}},
    "correct_grant": {"effective": "2018-06-01", "amount": {"minutes_per_week": 45},
                      "corrects": "3b47a4a2-58ae-5362-9c2e-fdd5de936f4d:2"},
    "end_grant": {"last_day": "2020-12-31"},
    "grant_klippekort": {"minutes_per_week": 30, "valid_from": "2019-01-01", "valid_to": None},
    "end_klippekort": {"last_day": "2020-12-31"},
    "add_item": {"municipality": 657, "item_id": "clean", "name": "Extra cleaning", "unit": "hour", "fsiii": "H1.8",
                 "vat_class": "exempt", "prices": _PRICES, "cost_basis": _COST, "effective": "2018-06-01",
                 "cancellation": {"notice_hours": 24, "fee_ore": 17700}},
    "add_package": {"municipality": 657, "package_id": "clean-wash", "name": "Cleaning and laundry",
                    "items": ["clean", "wash"], "fsiii": "H1.8", "vat_class": "exempt", "prices": _PRICES,
                    "cost_basis": _COST, "effective": "2018-06-01"},
    "change_price": {"effective": "2020-01-01", "vat_class": "exempt",
                     "prices": {"weekday_day": 36100, "evening": 67800, "weekend": 50600}, "cost_basis": _COST},
    "correct_price_version": {"effective": "2018-06-01", "vat_class": "exempt",
                              "prices": {"weekday_day": 36400, "evening": 66500, "weekend": 49600},
                              "cost_basis": _COST, "reason": "the wage basis was last year's"},
    "retire_offer": {"effective": "2021-12-31"},
    "place_order": {"citizen_id": _CITIZEN, "offer_id": "clean", "kind": "recurring", "start": "2019-03-01",
                    "every_weeks": 2, "minutes": 60, "band": "weekday_day"},
    "change_order": {"effective": "2019-06-01", "every_weeks": 1},
    "cancel_order": {"effective": "2019-07-01", "notified_at": "2019-06-28T09:00:00Z", "reason": "citizen_request"},
    "record_delivery": {"order_id": _ORDER, "date": "2019-03-01", "band": "weekday_day", "minutes": 60,
                        "staff_id": "staff-17"},
    "record_missed_visit": {"order_id": _ORDER, "date": "2019-03-15", "reason": "citizen_absent"},
    "cancel_delivery": {"effective": "2019-04-02", "reason": "recorded twice"},
    "dispute_delivery": {"effective": "2019-04-02", "reason": "the citizen says nobody came"},
    "receive_payment": {"citizen_id": _CITIZEN, "amount": 35400, "date": "2019-04-20", "method": "bank_transfer",
                        "reference": "FIK-123"},
    "reverse_payment": {"date": "2019-04-25", "reason": "the transfer bounced"},
    "run_invoices": {"municipality": 657, "month": "2019-03"},
    "issue_reminders": {"municipality": 657, "date": "2019-05-15"},
    "set_reference_rate": {"municipality": 657, "effective": "2019-01-01", "rate_bp": 5},
    "record_survey_response": {"round_id": "tilfredshed-657-2019", "answered_on": "2019-10-05",
                               "answers": {"safety": 4, "information": 3, "coherence": 4, "practical_help": 5,
                                           "personal_care": None}},
}


def body(command_type: str, *path_fields: str) -> type[c.Command]:
    """The command's schema without `path_fields`, named `<Command>Body`, with its example."""
    model = c.COMMANDS[command_type]
    assert all(f in model.model_fields for f in path_fields), (command_type, path_fields)
    fields: dict[str, Any] = {n: (f.annotation, f) for n, f in model.model_fields.items() if n not in path_fields}
    base = type(f"_{model.__name__}Base", (c.Command,), {"model_config": ConfigDict(
        extra="forbid", frozen=True, json_schema_extra={"examples": [EXAMPLES[command_type]]})})
    name = {"cancel_delivery": "CancelDelivery", "dispute_delivery": "DisputeDelivery"}.get(command_type, model.__name__)
    return create_model(f"{name}Body", __base__=base, __doc__=model.__doc__, **fields)


EstablishSchemeBody = body("establish_scheme")
OpenSchemeWindowBody = body("open_scheme_window", "municipality")
ChangeSchemeWindowBody = body("change_scheme_window", "municipality")
ChangeSchemeRulesBody = body("change_scheme_rules", "municipality")
RegisterCitizenBody = body("register_citizen")
ChooseProviderBody = body("choose_provider", "citizen_id")
ChangeResidenceBody = body("change_residence", "citizen_id")
AwardGrantBody = body("award_grant")
ReassessGrantBody = body("reassess_grant", "citizen_id", "grant_id")
CorrectGrantBody = body("correct_grant", "citizen_id", "grant_id")
EndGrantBody = body("end_grant", "citizen_id", "grant_id")
GrantKlippekortBody = body("grant_klippekort", "citizen_id")
EndKlippekortBody = body("end_klippekort", "citizen_id")
AddItemBody = body("add_item")
AddPackageBody = body("add_package")
ChangePriceBody = body("change_price", "municipality", "offer_id")
RetireOfferBody = body("retire_offer", "municipality", "offer_id")
CorrectPriceVersionBody = body("correct_price_version", "municipality", "offer_id")
PlaceOrderBody = body("place_order")
ChangeOrderBody = body("change_order", "order_id")
CancelOrderBody = body("cancel_order", "order_id")
RecordDeliveryBody = body("record_delivery")
RecordMissedVisitBody = body("record_missed_visit")
CancelDeliveryBody = body("cancel_delivery", "delivery_id")
DisputeDeliveryBody = body("dispute_delivery", "delivery_id")
ReceivePaymentBody = body("receive_payment")
ReversePaymentBody = body("reverse_payment", "citizen_id", "payment_id")
RunInvoicesBody = body("run_invoices")
IssueRemindersBody = body("issue_reminders")
SetReferenceRateBody = body("set_reference_rate")
RecordSurveyResponseBody = body("record_survey_response", "citizen_id")
