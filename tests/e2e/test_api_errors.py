"""Bad input of every kind gets a 4xx problem+json that says what is wrong (never a 500), and every
problem type the API can answer is documented, in order of precedence (SQLite: no storage involved
beyond the basics)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ledger.api.problems import PROBLEMS
from tests.helpers.api import api_client, auth, build_world
from ledger.domain import errors as domain

DOCS = Path(__file__).resolve().parents[2] / "docs" / "api-errors.md"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with api_client(f"sqlite:///{tmp_path_factory.mktemp('errors') / 'ledger.db'}") as c:
        yield c, build_world(c, 1)


@pytest.fixture
def client(world):
    return world[0]


def problem_of(r, status: int, code: str) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["type"] == f"https://addon-ledger.dk/problems/{code}"
    assert body["status"] == status and body["code"] == code
    assert body["title"] and body["detail"] and body["instance"].startswith("/")
    assert body["request_id"] == r.headers["x-request-id"]
    return body


def test_a_request_without_a_valid_bearer_token_is_refused_with_401(client):
    problem_of(client.get("/billing/invoices"), 401, "unauthorized")
    assert client.get("/billing/invoices").headers["www-authenticate"].startswith("Bearer")
    problem_of(client.get("/billing/invoices", headers={"Authorization": "Bearer nope"}), 401, "unauthorized")
    problem_of(client.get("/billing/invoices", headers={"Authorization": "Basic YWRtaW46YWRtaW4="}), 401, "unauthorized")
    problem_of(client.get("/no/such/route"), 401, "unauthorized")  # no route listing for strangers
    assert client.get("/health").status_code == 200 and client.get("/openapi.json").status_code == 200


def test_unknown_routes_and_methods_are_problems_too(client):
    problem_of(client.get("/no/such/route", headers=auth("admin")), 404, "route-not-found")
    problem_of(client.put("/orders", headers=auth("admin"), json={}), 405, "method-not-allowed")


def test_a_body_over_one_mebibyte_is_refused_before_it_is_read(client):
    big = b'{"x": "' + b"a" * (1 << 20) + b'"}'
    r = client.post("/orders", headers={**auth("admin"), "Content-Type": "application/json"}, content=big)
    problem_of(r, 413, "payload-too-large")

    def chunks():  # no Content-Length: the gate counts what arrives
        for _ in range(20):
            yield b"a" * 65536

    r = client.post("/orders", headers={**auth("admin"), "Content-Type": "application/json"}, content=chunks())
    problem_of(r, 413, "payload-too-large")


def test_malformed_json_and_other_media_types_are_refused(client):
    r = client.post("/orders", headers={**auth("admin"), "Content-Type": "application/json"}, content=b'{"citizen_id": ')
    assert "not valid JSON" in problem_of(r, 400, "bad-request")["detail"]
    r = client.post("/orders", headers={**auth("admin"), "Content-Type": "text/plain"}, content=b"citizen=1")
    problem_of(r, 415, "unsupported-media-type")


def test_a_body_that_does_not_match_the_schema_lists_every_problem(client):
    r = client.post("/orders", headers=auth("admin"), json={"citizen_id": "not-a-uuid", "kind": "sometimes",
                                                            "start": "2019-02-30", "surprise": 1})
    body = problem_of(r, 422, "invalid-request")
    where = {e["location"] for e in body["errors"]}
    assert {"body.citizen_id", "body.kind", "body.start", "body.surprise", "body.offer_id"} <= where
    r = client.post("/orders", headers=auth("admin"), json=["not", "an", "object"])
    problem_of(r, 422, "invalid-request")
    r = client.get("/orders/not-a-uuid/events", headers=auth("admin"))
    assert "order_id" in problem_of(r, 422, "invalid-request")["detail"]


@pytest.mark.parametrize("field, value, code, says", [
    # The command schemas refuse far dates and NUL text themselves (the import and CLI share them).
    ("start", "9999-12-31", "invalid-request", "between 1900-01-01 and 2199-12-31"),
    ("start", "0001-01-01", "invalid-request", "between 1900-01-01 and 2199-12-31"),
    ("minutes", 10**30, "invalid-input", "out of range"),
    ("offer_id", "clean\u0000", "invalid-request", "offer_id"),
])
def test_values_outside_what_the_ledger_can_hold_are_refused(world, field, value, code, says):
    client, w = world
    body = {"citizen_id": w.citizens[657][0], "offer_id": "clean", "kind": "one_off", "start": "2019-04-01",
            "minutes": 60, field: value}
    r = client.post("/orders", headers=auth("admin"), json=body)
    assert says in problem_of(r, 422, code)["detail"]


def test_a_nul_byte_in_the_url_is_refused(client):
    problem_of(client.get("/billing/invoices?month=2019-01%00", headers=auth("admin")), 400, "bad-request")


def test_unknown_ids_and_codes_are_named_in_the_refusal(world):
    client, w = world
    missing = "00000000-0000-4000-8000-000000000000"
    r = client.post("/orders", headers=auth("admin"), json={
        "citizen_id": missing, "offer_id": "clean", "kind": "one_off", "start": "2019-04-01", "minutes": 60})
    assert missing in problem_of(r, 404, "not-found")["detail"]
    r = client.post(f"/orders/{missing}/cancel", headers=auth("admin"), json={"effective": "2019-04-01"})
    problem_of(r, 404, "not-found")
    problem_of(client.get(f"/citizens/{missing}", headers=auth("admin")), 404, "not-found")
    # an order id is not a citizen id
    problem_of(client.get(f"/citizens/{w.orders[657][0]}", headers=auth("admin")), 404, "not-found")
    r = client.post("/schemes/999/windows", headers=auth("admin"), json={"window_start": "2022-01-01",
                                                                        "window_end": "2022-02-01"})
    assert "999" in problem_of(r, 422, "invalid-input")["detail"]
    problem_of(client.get("/billing/invoices/657-999999", headers=auth("admin")), 404, "not-found")


def test_a_business_rule_names_itself(world):
    client, w = world
    r = client.post("/orders", headers=auth("admin"), json={
        "citizen_id": w.citizens[657][0], "offer_id": "clean", "kind": "one_off", "start": "2017-01-02",
        "minutes": 60})
    body = problem_of(r, 422, "rule-violated")
    assert body["rule"] == "outside-window" and "2017-01-02" in body["detail"]
    r = client.post("/schemes", headers=auth("admin"), json={
        "municipality": 657, "name": "again", "window_start": "2018-06-01", "window_end": "2021-12-31",
        "sections": ["83"], "minimum_minutes": 30, "increment_minutes": 30})
    problem_of(r, 409, "already-exists")


def test_docs_list_every_problem_type_in_order_of_precedence():
    text = DOCS.read_text(encoding="utf-8")
    listed = re.findall(r"^\| \d+ \| `([a-z-]+)` \| (\d{3}) \|", text, flags=re.M)
    assert listed == [(p.code, str(p.status)) for p in PROBLEMS]
    for cls in vars(domain).values():
        if isinstance(cls, type) and issubclass(cls, domain.LedgerError):
            assert any(p.code == cls.code and p.status == cls.status for p in PROBLEMS), cls


def test_the_openapi_document_declares_examples_security_and_problem_responses(client):
    doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    place = doc["paths"]["/orders"]["post"]
    assert place["security"] == [{"HTTPBearer": []}]
    # place_order creates a record: there is no version for If-Match to match, so it is not offered.
    assert "Idempotency-Key" in {p["name"] for p in place["parameters"]}
    assert "If-Match" not in {p["name"] for p in place["parameters"]}
    change = doc["paths"]["/orders/{order_id}/changes"]["post"]
    assert {"Idempotency-Key", "If-Match"} <= {p["name"] for p in change["parameters"]}
    for status in ("401", "403", "409", "412", "422"):
        assert list(place["responses"][status]["content"]) == ["application/problem+json"]
    body_schema = doc["components"]["schemas"]["PlaceOrderBody"]
    assert body_schema["examples"][0]["offer_id"] == "clean"
    assert "HTTPValidationError" not in doc["components"]["schemas"]


def test_docs_name_every_route_with_the_roles_the_code_allows(client):
    text = (DOCS.parent / "api.md").read_text(encoding="utf-8")
    doc = client.get("/openapi.json").json()
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            assert f"`{method.upper()} {path}`" in text, f"{method.upper()} {path} is not in docs/api.md"
            if operation.get("x-command"):
                row = next(line for line in text.splitlines() if line.startswith(f"| `{method.upper()} {path}`"))
                documented = {r.strip() for r in row.split("|")[3].split(",")} - {"(administrator only)", ""}
                assert documented == set(operation["x-roles"]) - {"administrator"}, (path, documented)


def test_a_body_with_a_repeated_key_is_refused_not_read_one_way_or_the_other(client):
    body = b'{"citizen_id": "00000000-0000-4000-8000-000000000001", "payment_id": "p-dup", "amount": 1000, ' \
           b'"amount": 2000, "date": "2019-03-10", "method": "cash"}'
    r = client.post("/payments", headers={**auth("clerk-657"), "Content-Type": "application/json"}, content=body)
    assert "'amount' appears twice" in problem_of(r, 422, "invalid-request")["detail"]
    nested = b'{"municipality": 657, "month": "2019-03", "x": {"a": 1, "a": 1}}'
    r = client.post("/billing/runs", headers={**auth("clerk-657"), "Content-Type": "application/json"}, content=nested)
    problem_of(r, 422, "invalid-request")


@pytest.mark.parametrize("content_type, body", [
    ("application/json", '{"municipality": 657, "month": "2019-03"}'.encode("utf-16")),
    ("application/json; charset=utf-16", '{"municipality": 657, "month": "2019-03"}'.encode("utf-16")),
    ("application/json; charset=latin-1", '{"municipality": 657, "month": "2019-03"}'.encode("latin-1")),
    ("text/plain", b'{"municipality": 657, "month": "2019-03"}'),
])
def test_a_body_that_is_not_utf8_json_is_refused_with_415(client, content_type, body):
    r = client.post("/billing/runs", headers={**auth("clerk-657"), "Content-Type": content_type}, content=body)
    problem_of(r, 415, "unsupported-media-type")


def test_the_body_check_comes_after_the_role_check(client):
    r = client.post("/billing/runs", headers={**auth("staff-657"), "Content-Type": "text/plain"}, content=b"{}")
    problem_of(r, 403, "forbidden")


def test_a_refund_beyond_the_credit_in_the_future_or_not_positive_is_a_422_problem(client, world):
    citizen = world[1].citizens[657][0]
    clerk = auth("clerk-657")
    body = {"citizen_id": citizen, "amount": 1_000, "date": "2019-03-12", "method": "nemkonto", "reason": "overpaid"}
    assert client.post("/payments", headers=clerk, json={"citizen_id": citizen, "amount": 5_000, "date": "2019-03-11",
                                                         "method": "bank_transfer"}).status_code == 201
    # Nothing is invoiced yet, so the whole payment is credit on the account.
    assert problem_of(client.post("/payments/refunds", headers=clerk, json={**body, "amount": 5_001}), 422,
                      "rule-violated")["rule"] == "refund-exceeds-credit"
    assert problem_of(client.post("/payments/refunds", headers=clerk, json={**body, "date": "2199-01-01"}), 422,
                      "rule-violated")["rule"] == "refund-in-future"
    for amount in (0, -100):
        problem_of(client.post("/payments/refunds", headers=clerk, json={**body, "amount": amount}), 422,
                   "invalid-input")
    problem_of(client.post("/payments/refunds", headers=auth("staff-657"), json=body), 403, "forbidden")
    r = client.post("/payments/refunds", headers=clerk, json=body)
    assert r.status_code == 201, r.text
    assert r.json()["result"]["refund_number"] == "657-R00001"
    refunds = client.get("/billing/refunds", headers=clerk, params={"citizen_id": citizen}).json()["refunds"]
    assert [(x["number"], x["amount"]) for x in refunds] == [("657-R00001", 1_000)]
    [balance] = client.get("/billing/balances", headers=clerk, params={"citizen_id": citizen}).json()["balances"]
    assert (balance["paid"], balance["refunded"], balance["credit"]) == (5_000, 1_000, 4_000)
