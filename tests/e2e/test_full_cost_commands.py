"""The full-cost rule at the front doors (docs/adr/0027): the API answers 422 problem+json naming
the rule or the per-band shape, the CLI exits 2 with the message; nothing is stored either way."""

from __future__ import annotations

from pathlib import Path

import orjson

from ledger.application.ledger import Ledger
from ledger.settings import Settings
from tests.helpers.api import PRICES, api_client, auth, build_world
from tests.helpers.cli import invoke
from tests.helpers.costs import at_cost, parts

CHANGE = {"effective": "2020-01-01", "vat_class": "exempt", "prices": PRICES}


def test_the_api_refuses_a_price_off_its_bands_full_cost_and_the_single_basis_of_before(tmp_path: Path) -> None:
    with api_client(f"sqlite:///{tmp_path / 'ledger.db'}") as client:
        build_world(client, 1)
        url, h = "/catalogue/657/offers/clean/prices", auth("catalogue-657")
        version = client.get("/catalogue/657/events", headers=h).json()["version"]
        dearer = client.post(url, headers=h, json={**CHANGE, "cost_basis": at_cost({**PRICES, "evening": 70_000})})
        assert dearer.status_code == 422, dearer.text
        body = dearer.json()
        assert (body["code"], body["rule"]) == ("rule-violated", "price-below-full-cost")
        assert "evening" in body["detail"]
        flat = client.post(url, headers=h, json={**CHANGE, "cost_basis": parts(35_400)})
        assert flat.status_code == 422 and "cost_basis is given per band" in flat.text, flat.text
        assert client.get("/catalogue/657/events", headers=h).json()["version"] == version  # nothing stored
        taken = client.post(url, headers=h, json={**CHANGE, "cost_basis": at_cost(PRICES)})
        assert taken.status_code == 200, taken.text
        assert client.get("/catalogue/657/events", headers=h).json()["version"] == version + 1


def test_the_cli_exits_2_on_a_price_off_full_cost_and_stores_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'l.db'}"
    invoke(url, "command", "establish_scheme", orjson.dumps({
        "municipality": 657, "name": "Herning", "window_start": "2018-06-01", "window_end": "2021-12-31",
        "sections": ["83"], "minimum_minutes": 30, "increment_minutes": 30}).decode())
    item = {"municipality": 657, "item_id": "clean", "name": "Extra cleaning", "unit": "hour", "fsiii": "H1.8",
            "vat_class": "exempt", "prices": PRICES, "effective": "2018-06-01"}
    ledger = Ledger(Settings.from_env({"LEDGER_DATABASE_URL": url}))
    try:
        before = ledger.head_position()
    finally:
        ledger.close()
    above = invoke(url, "command", "add_item", orjson.dumps(
        {**item, "cost_basis": at_cost({**PRICES, "weekend": PRICES["weekend"] - 500})}).decode(), code=2)
    assert "price-above-full-cost" in above or "above the weekend full cost" in above
    flat = invoke(url, "command", "add_item", orjson.dumps({**item, "cost_basis": parts(35_400)}).decode(), code=2)
    assert "given per band" in flat
    ledger = Ledger(Settings.from_env({"LEDGER_DATABASE_URL": url}))
    try:
        assert ledger.head_position() == before
    finally:
        ledger.close()
    invoke(url, "command", "add_item", orjson.dumps({**item, "cost_basis": at_cost(PRICES)}).decode())


def _line(kind: str, n: int, payload: dict, role: str = "catalogue_manager") -> bytes:
    return orjson.dumps({"type": kind, "command_id": f"cost-{n}", "recorded": "2018-05-01T10:00:00Z",
                         "actor": {"id": "importer", "role": role}, "payload": payload})


def test_an_import_line_off_full_cost_or_with_one_basis_exits_2_naming_its_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from ledger.cli import app

    scheme = _line("establish_scheme", 1, {
        "municipality": 657, "name": "Herning", "window_start": "2018-06-01", "window_end": "2021-12-31",
        "sections": ["83"], "minimum_minutes": 30, "increment_minutes": 30})
    item = {"municipality": 657, "item_id": "clean", "name": "Extra cleaning", "unit": "hour", "fsiii": "H1.8",
            "vat_class": "exempt", "prices": PRICES, "effective": "2018-06-01"}
    for name, basis, says in (("flat", parts(35_400), "given per band"),
                              ("below", at_cost({**PRICES, "evening": 70_000}), "does not cover the evening full cost")):
        url = f"sqlite:///{tmp_path / name}.db"
        file = tmp_path / f"{name}.jsonl"
        file.write_bytes(b"\n".join([scheme, _line("add_item", 2, {**item, "cost_basis": basis})]) + b"\n")
        result = CliRunner().invoke(app, ["import", str(file), "--db", url], env={"COLUMNS": "200"})
        assert result.exit_code == 2, result.output
        assert f"{file}:2:" in result.output and says in result.output, result.output
        assert "Traceback" not in result.output
