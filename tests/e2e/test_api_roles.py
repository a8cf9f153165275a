"""Roles and municipalities through HTTP, on SQLite and PostgreSQL: each role's happy path, the
refusals (403, logged), tenant isolation between Herning (657) and Aabenraa (580), the access log."""

from __future__ import annotations

import pytest
import structlog

from tests.helpers.api import USERS, api_client, auth, build_world, ok
from ledger.application.commands import by_name, role_commands
from tests.helpers.costs import at_cost

EXAMPLES = {name: dict(spec.example) for name, spec in by_name().items()}
ROLE_COMMANDS = role_commands()


@pytest.fixture
def client(database_url):
    with api_client(database_url) as c:
        yield c


def head(client) -> int:
    return client.get("/ready").json()["head"]


def test_each_role_records_its_own_facts_from_scheme_to_reminder(client):
    world = build_world(client, citizens_per_municipality=1)
    citizen, order = world.citizens[657][0], world.orders[657][0]
    # catalogue manager: a new window, new rules, a price change
    ok(client.post("/schemes/657/windows", headers=auth("catalogue-657"),
                   json={"window_start": "2022-01-01", "window_end": "2022-12-31"}))
    ok(client.post("/schemes/Herning/rules", headers=auth("catalogue-657"), json={
        "effective": "2020-01-01", "sections": ["83"], "minimum_minutes": 30, "increment_minutes": 30}))
    ok(client.post("/catalogue/657/offers/clean/prices", headers=auth("catalogue-657"), json={
        "effective": "2020-01-01", "vat_class": "exempt",
        "prices": {"weekday_day": 36100, "evening": 67800, "weekend": 50600},
        "cost_basis": at_cost({"weekday_day": 36100, "evening": 67800, "weekend": 50600})}))
    # assessor: residence, provider, a re-assessment
    grants = ok(client.get(f"/citizens/{citizen}", headers=auth("assessor-657")))["grants"]
    ok(client.post(f"/citizens/{citizen}/residence", headers=auth("assessor-657"),
                   json={"effective": "2019-01-01", "residence": "own_home"}))
    ok(client.post(f"/grants/{citizen}/{grants[0]['grant_id']}/reassessments", headers=auth("assessor-657"),
                   json={"effective": "2019-01-01", "amount": {"minutes_per_week": 60}}))
    # provider staff: a delivery and a missed visit
    delivered = ok(client.post("/deliveries", headers=auth("staff-657"), json={
        "order_id": order, "date": "2019-03-01", "band": "weekday_day", "minutes": 60, "staff_id": "s-1"}))
    ok(client.post("/deliveries/missed", headers=auth("staff-657"),
                   json={"order_id": order, "date": "2019-03-15", "reason": "citizen_absent"}))
    # billing clerk: the invoice run, a payment, a dispute (credit note), reminders
    run = ok(client.post("/billing/runs", headers=auth("clerk-657"), json={"municipality": 657, "month": "2019-03", "run_date": "2019-04-01"}))
    (invoice,) = run["result"]["invoices"]
    assert invoice == {"number": "657-000001", "citizen_id": citizen, "gross": 35400}
    ok(client.post("/payments", headers=auth("clerk-657"), json={
        "citizen_id": citizen, "amount": 10000, "date": "2019-04-10", "method": "bank_transfer"}))
    disputed = ok(client.post(f"/deliveries/{delivered['result']['delivery_id']}/dispute", headers=auth("clerk-657"),
                              json={"effective": "2019-04-11", "reason": "nobody came"}))
    assert disputed["result"]["credit_note"] == "657-K00001"
    ok(client.post("/billing/reminders", headers=auth("clerk-657"), json={"municipality": 657, "date": "2019-05-15"}))
    # administrator: erasure keeps the history but not the person
    erased = ok(client.delete(f"/citizens/{citizen}/identity", headers=auth("admin")))
    assert erased["result"]["erased"] is True
    seen = ok(client.get(f"/citizens/{citizen}", headers=auth("admin")))
    assert seen["erased"] is True and seen.get("identity") is None
    # the billing clerk reads it all back once the projection has it
    position = erased["position"]
    balances = ok(client.get("/billing/balances", headers=auth("clerk-657"), params={"min_position": position}))
    assert [b["citizen_id"] for b in balances["balances"]] == [citizen]
    notes = ok(client.get("/billing/credit-notes", headers=auth("clerk-657")))
    assert [n["number"] for n in notes["credit_notes"]] == ["657-K00001"]


ROUTES = {  # route -> command type, filled with example values
    ("post", "/schemes"): "establish_scheme", ("post", "/schemes/657/windows"): "open_scheme_window",
    ("post", "/schemes/657/window-changes"): "change_scheme_window", ("post", "/schemes/657/rules"): "change_scheme_rules",
    ("post", "/citizens"): "register_citizen", ("post", "/citizens/{c}/provider"): "choose_provider",
    ("post", "/citizens/{c}/residence"): "change_residence", ("delete", "/citizens/{c}/identity"): "erase_identity",
    ("post", "/grants"): "award_grant", ("post", "/grants/{c}/g-1/reassessments"): "reassess_grant",
    ("post", "/grants/{c}/g-1/corrections"): "correct_grant", ("post", "/grants/{c}/g-1/end"): "end_grant",
    ("post", "/catalogue/items"): "add_item", ("post", "/catalogue/packages"): "add_package",
    ("post", "/catalogue/657/offers/clean/prices"): "change_price",
    ("post", "/catalogue/657/offers/clean/retire"): "retire_offer",
    ("post", "/orders"): "place_order", ("post", "/orders/{o}/changes"): "change_order",
    ("post", "/orders/{o}/cancel"): "cancel_order", ("post", "/deliveries"): "record_delivery",
    ("post", "/deliveries/missed"): "record_missed_visit", ("post", "/deliveries/{o}/cancel"): "cancel_delivery",
    ("post", "/deliveries/{o}/dispute"): "dispute_delivery", ("post", "/payments"): "receive_payment",
    ("post", "/payments/{c}/p-1/reversal"): "reverse_payment", ("post", "/payments/refunds"): "refund_credit",
    ("post", "/billing/runs"): "run_invoices",
    ("post", "/billing/reminders"): "issue_reminders",
    ("post", "/citizens/{c}/klippekort"): "grant_klippekort", ("post", "/citizens/{c}/klippekort/end"): "end_klippekort",
    ("post", "/catalogue/657/offers/clean/price-corrections"): "correct_price_version",
    ("post", "/billing/reference-rates"): "set_reference_rate",
    ("post", "/citizens/{c}/surveys"): "record_survey_response",
}


def test_the_role_matrix_covers_every_command_route(client):
    doc = client.get("/openapi.json").json()
    served = {(m, p) for p, ops in doc["paths"].items() for m in ops if m in ("post", "delete")}
    assert len(served) == len(ROUTES) == 33
    assert set(ROUTES.values()) == set(ROLE_COMMANDS["administrator"])


@pytest.fixture(scope="module")
def matrix_client(tmp_path_factory):
    # One app for the whole matrix (SQLite): the refusals under test never depend on earlier requests.
    with api_client(f"sqlite:///{tmp_path_factory.mktemp('matrix') / 'ledger.db'}") as c:
        yield c


@pytest.mark.parametrize("user", sorted(USERS))
def test_a_role_may_give_only_its_own_commands_and_a_refusal_stores_nothing(matrix_client, user):
    client, role = matrix_client, USERS[user][0]
    before = head(client)
    ids = {"{c}": "2554e582-e697-59f2-9cfd-e5850753d758", "{o}": "eaf05690-abee-5b4c-b8b9-cd1ca082d42f"}
    with structlog.testing.capture_logs() as logs:
        for (method, path), command_type in ROUTES.items():
            for k, v in ids.items():
                path = path.replace(k, v)
            body = {k: v for k, v in EXAMPLES[command_type].items()}
            for field in ("municipality", "citizen_id", "order_id", "delivery_id", "grant_id", "payment_id",
                          "offer_id"):
                if path.count("/") > 1 and field in body and command_type not in (
                        "establish_scheme", "register_citizen", "award_grant", "add_item", "add_package",
                        "place_order", "record_delivery", "record_missed_visit", "receive_payment", "refund_credit",
                        "run_invoices", "issue_reminders"):
                    body.pop(field)
            r = client.request(method.upper(), path, headers=auth(user), json=body if method == "post" else None)
            if command_type in ROLE_COMMANDS[role]:
                assert r.status_code != 403 or "municipality" in r.json()["detail"], (user, path, r.text)
            else:
                assert r.status_code == 403, (user, path, r.status_code, r.text)
                assert r.headers["content-type"] == "application/problem+json"
                assert command_type in r.json()["detail"]
    refused = [e for e in logs if e["event"] == "refused"]
    assert len(refused) >= sum(1 for t in ROUTES.values() if t not in ROLE_COMMANDS[role])
    assert all(e["user"] == user for e in refused)
    if role in ("auditor", "evaluator"):
        assert head(client) == before  # read-only roles changed nothing


def test_a_herning_billing_clerk_sees_nothing_of_aabenraa(client):
    world = build_world(client, citizens_per_municipality=1)
    theirs, their_order = world.citizens[580][0], world.orders[580][0]
    ok(client.post("/deliveries", headers=auth("staff-580"), json={
        "order_id": their_order, "date": "2019-03-04", "band": "weekday_day", "minutes": 60, "staff_id": "s-9"}))
    ok(client.post("/billing/runs", headers=auth("clerk-580"), json={"municipality": 580, "month": "2019-03", "run_date": "2019-04-01"}))
    clerk = auth("clerk-657")
    refused = [
        client.get(f"/citizens/{theirs}", headers=clerk),
        client.get(f"/citizens/{theirs}/events", headers=clerk),
        client.get(f"/citizens/{theirs}/account/events", headers=clerk),
        client.get(f"/orders/{their_order}/events", headers=clerk),
        client.get("/billing/invoices", headers=clerk, params={"municipality": 580}),
        client.get("/billing/invoices", headers=clerk, params={"municipality": "Aabenraa"}),
        client.get("/billing/invoices/580-000001", headers=clerk),
        client.get("/billing/balances", headers=clerk, params={"citizen_id": theirs}),
        client.get("/billing/export.csv", headers=clerk, params={"municipality": 580, "month": "2019-03"}),
        client.post("/payments", headers=clerk, json={"citizen_id": theirs, "amount": 100, "date": "2019-04-01",
                                                      "method": "card"}),
        client.post("/billing/runs", headers=clerk, json={"municipality": 580, "month": "2019-04", "run_date": "2019-05-01"}),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused), [r.text for r in refused if r.status_code != 403]
    # Their own municipality is the default and holds none of Aabenraa's invoices.
    mine = ok(client.get("/billing/invoices", headers=clerk))
    assert mine == {"municipality": 657, "log_position": mine["log_position"], "invoices": []}
    # Every refused read of citizen or billing data is in the access log, as refused.
    log = ok(client.get("/audit/access-log", headers=auth("auditor-all"), params={"user": "clerk-657"}))["entries"]
    refusals = [e for e in log if e["outcome"] == "refused"]
    assert len(refusals) >= 9 and {e["municipality"] for e in refusals} == {580}


def test_identity_is_shown_only_to_roles_that_must_address_the_citizen(client):
    world = build_world(client, citizens_per_municipality=1)
    citizen = world.citizens[657][0]
    assert ok(client.get(f"/citizens/{citizen}", headers=auth("assessor-657")))["identity"] == {
        "cpr": "000000-0000", "name": "Test Borger 657-0"}
    assert ok(client.get(f"/citizens/{citizen}", headers=auth("staff-657"))).get("identity") is None
    assert ok(client.get(f"/citizens/{citizen}", headers=auth("auditor-657"))).get("identity") is None
    assert client.get(f"/citizens/{citizen}", headers=auth("evaluator-all")).status_code == 403
    assert client.get(f"/citizens/{citizen}/account/events", headers=auth("staff-657")).status_code == 403


def test_every_read_of_citizen_or_billing_data_is_recorded_and_auditors_see_their_own_municipalities(client):
    world = build_world(client, citizens_per_municipality=1)
    here, there = world.citizens[657][0], world.citizens[580][0]
    ok(client.get(f"/citizens/{here}", headers=auth("assessor-657")))
    ok(client.get(f"/citizens/{here}/assessment/events", headers=auth("assessor-657")))
    ok(client.get(f"/orders/{world.orders[657][0]}/events", headers=auth("staff-657")))
    ok(client.get("/billing/balances", headers=auth("clerk-657"), params={"citizen_id": here}))
    ok(client.get(f"/citizens/{there}", headers=auth("assessor-580")))
    ok(client.get("/schemes/657/events", headers=auth("staff-657")))  # public facts: not logged
    entries = ok(client.get("/audit/access-log", headers=auth("auditor-657")))["entries"]
    assert [(e["user_id"], e["what"], e["citizen_id"]) for e in entries] == [
        ("assessor-657", "citizen+identity", here),
        ("assessor-657", "grant-events", here),
        ("staff-657", "order-events", here),
        ("clerk-657", "billing:balances", here),
    ]
    assert all(e["municipality"] == 657 and e["outcome"] == "read" and e["request_id"] for e in entries)
    everything = ok(client.get("/audit/access-log", headers=auth("auditor-all"), params={"citizen_id": there}))
    assert [e["user_id"] for e in everything["entries"]] == ["assessor-580"]
    assert client.get("/audit/access-log", headers=auth("clerk-657")).status_code == 403


def test_the_access_log_refuses_updates_and_deletes(client, database_url):
    world = build_world(client, citizens_per_municipality=1)
    ok(client.get(f"/citizens/{world.citizens[657][0]}", headers=auth("assessor-657")))
    db = client.app.state.services.ledger.db
    for statement in ("UPDATE access_log SET user_id = 'someone-else'", "DELETE FROM access_log"):
        with pytest.raises(Exception, match="append-only"):
            with db.transaction() as cur:
                cur.execute(statement)
    assert len(ok(client.get("/audit/access-log", headers=auth("auditor-all")))["entries"]) >= 1
