"""Every date, month and instant a read takes in its query is bounded like a command's (1900-2199):
a far value is refused as 422 invalid-request naming the parameter, on every route; a range whose
start lies after its end is refused as 422 invalid-input naming its start. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.helpers.api import api_client, auth, build_world

# (path, the query that is valid without the parameter, the parameter, its far value)
FAR = [
    ("/timeline", "as_of=2019-06-01", "as_of", "0001-01-01"),
    ("/timeline", "as_of=2019-06-01", "known_at", "0001-01-01"),
    ("/timeline", "as_of=2019-06-01", "known_at", "9999-12-31T00:00:00Z"),
    ("/timeline/series", "", "known_at", "0001-01-01T00:00:00%2B00:00"),
    ("/timeline/series", "", "first", "0001-01-01"),
    ("/timeline/series", "", "last", "2200-01-01"),
    ("/timeline/catalogue", "", "known_at", "0001-01-01"),
    ("/evaluation/granted-services", "", "first", "0001-01-01"),
    ("/evaluation/granted-services", "", "last", "9999-12-31"),
    ("/audit", "", "from", "0001-01-01"),
    ("/audit", "", "to", "9999-12-31"),
    ("/audit", "", "as_of", "0001-01-01"),
    ("/audit/access-log", "", "since", "0001-01-01T00:00:00Z"),
    ("/audit/access-log", "", "until", "9999-12-31"),
    ("/billing/ageing", "", "as_of", "0001-01-01"),
    ("/billing/export.csv", "", "month", "0000-01"),
    ("/billing/invoices", "", "month", "0000-01"),
    ("/billing/revenue", "", "month", "2200-01"),
    ("/billing/unbilled", "", "month", "1899-12"),
    ("/billing/reconciliation", "", "month", "0000-01"),
    ("/citizens/{citizen}/as-of", "", "as_of", "0001-01-01"),
    ("/citizens/{citizen}/as-of", "", "date", "0001-01-01"),
    ("/citizens/{citizen}/as-of", "as_of=2019-06-01", "known_at", "0001-01-01T00:00:00Z"),
]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request, tmp_path_factory):
    from tests.conftest import drop_pg_schema, fresh_pg_url, pg_ok

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('bounds') / 'ledger.db'}"
    elif not pg_ok():
        pytest.skip("PostgreSQL is not reachable")
    else:
        url = fresh_pg_url()
    try:
        with api_client(url) as c:
            yield c, build_world(c, 1)
    finally:
        if request.param == "postgres":
            drop_pg_schema(url)


def get(world, path: str, query: str):
    client, w = world
    path = path.format(citizen=w.citizens[657][0])
    return client.get(f"{path}?municipality=657&{query}".rstrip("&"), headers=auth("admin"))


def refused(r, status: int, code: str) -> dict:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == code, body
    return body


@pytest.mark.parametrize("path, base, name, value", FAR, ids=[f"{p}-{n}={v}" for p, _, n, v in FAR])
def test_a_far_date_in_any_query_is_refused_naming_the_parameter(world, path, base, name, value):
    near = "2019-06" if len(value) == 7 else "2199-06-30T12:00:00Z" if "T" in value else "2019-06-01"
    assert get(world, path, f"{base}&{name}={near}").status_code == 200  # a near value is answered
    body = refused(get(world, path, f"{base}&{name}={value}"), 422, "invalid-request")
    assert [e["location"] for e in body["errors"]] == [f"query.{name}"], body
    assert f"query.{name}" in body["detail"]
    assert "1900" in body["detail"] and "2199" in body["detail"], body["detail"]


def test_every_date_month_and_instant_query_parameter_is_covered(world):
    """A new route with a date in its query joins FAR, or this fails: the bounds are not forgotten."""
    client, _ = world
    covered = {(p.replace("{citizen}", "{citizen_id}"), n) for p, _, n, _ in FAR}
    dated = set()
    for path, operations in client.app.openapi()["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", []):
            schema = str(parameter.get("schema"))
            if parameter["in"] == "query" and ("'date" in schema or "(0[1-9]|1[0-2])" in schema):
                dated.add((path, parameter["name"]))
    assert dated == covered


@pytest.mark.parametrize("path, first, last", [
    ("/audit", "from", "to"),
    ("/timeline/series", "first", "last"),
    ("/evaluation/granted-services", "first", "last"),
    ("/audit/access-log", "since", "until"),
])
def test_a_range_that_ends_before_it_starts_is_refused(world, path, first, last):
    body = refused(get(world, path, f"{first}=2019-12-01&{last}=2019-01-01"), 422, "invalid-input")
    assert body["field"] == first and "2019-12-01" in body["detail"] and "2019-01-01" in body["detail"]
    assert get(world, path, f"{first}=2019-01-01&{last}=2019-01-01").status_code == 200


def test_a_malformed_known_at_is_refused_naming_it(world):
    body = refused(get(world, "/timeline", "as_of=2019-06-01&known_at=yesterday"), 422, "invalid-request")
    assert body["errors"][0]["location"] == "query.known_at"
    # a date or an instant within the bounds is read as before
    for known in ("2019-06-30", "2019-06-30T12:00:00Z", "2019-06-30T12:00:00%2B02:00"):
        assert get(world, "/timeline", f"as_of=2019-06-01&known_at={known}").status_code == 200
