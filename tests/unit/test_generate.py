"""The trial generator: seeded and deterministic, in recorded order, with fake identities only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from datetime import date, datetime, timezone
from pathlib import Path

import orjson
import pytest

from ledger.application import commands as cmds
from ledger.domain.assessment import assessment_id
from ledger.domain.catalogue import full_cost_rule
from ledger.generate import Behaviour, custom_scale, generate, truth_path
from ledger.generate.world import DOCUMENTS, TRIALS, World
from ledger.importer import parse_line

SMALL = custom_scale(0.003)  # the eleven trial municipalities, 0.3 % of their recipients
# So few recipients buy too little at the published take-up to test the shape of orders: buy more.
BUSY = Behaviour(take_up=0.08, substitution_rate=0.3, vat_error_rate=0.2)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("gen") / "small.jsonl"
    summary = generate(SMALL, seed=7, out=path, behaviour=BUSY)
    return path, summary


def lines(path: Path) -> list[dict]:
    return [orjson.loads(raw) for raw in path.read_bytes().splitlines()]


def test_the_same_seed_writes_the_same_bytes_in_another_process(history, tmp_path):
    path, _ = history
    again = tmp_path / "again.jsonl"
    # Another process with another hash seed: no set or dict order may leak into the file.
    code = ("from ledger.generate import Behaviour, custom_scale, generate; "
            f"generate(custom_scale(0.003), seed=7, out={str(again)!r}, "
            "behaviour=Behaviour(take_up=0.08, substitution_rate=0.3, vat_error_rate=0.2))")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert again.read_bytes() == path.read_bytes()


def test_another_seed_writes_another_history(history, tmp_path):
    path, _ = history
    other = tmp_path / "other.jsonl"
    generate(SMALL, seed=8, out=other, behaviour=BUSY)
    assert other.read_bytes() != path.read_bytes()


def test_every_line_is_a_command_the_import_accepts_in_shape(history):
    path, summary = history
    now = datetime.now(timezone.utc)
    for n, raw in enumerate(path.read_bytes().splitlines(), start=1):
        sub = parse_line(raw, n, now)
        cmds.parse(sub.command_type, sub.payload)  # the command's own schema, as the application checks it
    assert summary["lines"] == n


def test_lines_are_in_recorded_order(history):
    recorded = [line["recorded"] for line in lines(history[0])]
    assert recorded == sorted(recorded)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", r) for r in recorded)


def test_cpr_numbers_never_name_a_real_date(history):
    for line in lines(history[0]):
        if line["type"] == "register_citizen":
            cpr = line["payload"]["identity"]["cpr"]
            day, month = int(cpr[:2]), int(cpr[2:4])
            assert day == 0 and month > 12, cpr
            assert "(testperson)" in line["payload"]["identity"]["name"]


def test_ids_and_command_ids_are_unique(history):
    found = lines(history[0])
    assert len({line["command_id"] for line in found}) == len(found)
    for kind, key in (("register_citizen", "citizen_id"), ("place_order", "order_id"),
                      ("record_delivery", "delivery_id"), ("receive_payment", "payment_id")):
        ids = [line["payload"][key] for line in found if line["type"] == kind]
        assert ids and len(set(ids)) == len(ids), kind


def test_money_is_whole_ore(history):
    def walk(value, where):
        if isinstance(value, float):
            raise AssertionError(f"float at {where}")
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{where}.{k}")
        if isinstance(value, list):
            for v in value:
                walk(v, where)

    for line in lines(history[0]):
        walk(line["payload"], line["type"])


def test_a_correction_names_an_earlier_event_of_the_citizens_assessment(history):
    found = lines(history[0])
    citizen_of_grant = {line["payload"]["grant_id"]: line["payload"]["citizen_id"]
                        for line in found if line["type"] == "award_grant"}
    corrections = [line for line in found if line["type"] == "correct_grant"]
    assert corrections
    for c in corrections:
        aggregate, version = c["payload"]["corrects"].rsplit(":", 1)
        assert aggregate == str(assessment_id(citizen_of_grant[c["payload"]["grant_id"]]))
        assert int(version) >= 2  # version 1 is AssessmentOpened; grants come after
        assert c["payload"]["effective"] < c["recorded"][:10]  # back-dated


def test_the_assessment_versions_named_are_those_the_events_get(history):
    """Versions count the citizen's assessment commands in recorded order (the file's order)."""
    found = lines(history[0])
    counts: Counter[str] = Counter()
    versions: dict[str, str] = {}
    for line in found:
        p = line["payload"]
        if line["type"] in ("register_citizen", "award_grant", "reassess_grant", "correct_grant", "end_grant"):
            counts[p["citizen_id"]] += 1
            versions[line["command_id"]] = f"{assessment_id(p['citizen_id'])}:{counts[p['citizen_id']]}"
        if line["type"] == "correct_grant":
            assert p["corrects"] in versions.values()


def test_the_ground_truth_is_beside_the_history_and_never_in_it(history):
    """Which orders bought back a cut is the simulation's own knowledge: in the side file only."""
    path, summary = history
    truth = orjson.loads(truth_path(path).read_bytes())
    assert truth["substitutions"] == summary["true_substitutions"]
    orders = {line["payload"]["order_id"]: line for line in lines(path) if line["type"] == "place_order"}
    for case in truth["substitutions"]:
        order = orders[case["order_id"]]
        assert order["payload"]["citizen_id"] == case["citizen_id"]
        assert order["payload"]["offer_id"] in ("extra-cleaning", "cleaning")
        assert int(case["days_after_cut"]) >= 0
    for case in truth["vat_mismatches"]:
        assert orders[case["order_id"]]["payload"]["offer_id"] == case["offer_id"]
    text = path.read_bytes()
    assert b"substitution" not in text and b"mismatch" not in text and b"truth" not in text


def test_substitution_and_vat_errors_follow_their_rates(tmp_path):
    """The rates are parameters: no buying back and no VAT errors when both are zero."""
    out = tmp_path / "none.jsonl"
    summary = generate(SMALL, seed=7, out=out, behaviour=Behaviour(take_up=0.08, substitution_rate=0.0,
                                                                   vat_error_rate=0.0))
    assert summary["true_substitutions"] == []
    assert all(m["offer_id"] == "extra-care" or m["finding"] != "granted_service_sold_as_new"
               for m in summary["true_vat_mismatches"])


def test_each_trial_has_its_published_window():
    world = World(SMALL, seed=1)
    assert date.fromordinal(world.trials[657].window_start) == date(2018, 6, 1)
    assert date.fromordinal(world.trials[580].window_start) == date(2018, 6, 1)
    assert date.fromordinal(world.trials[101].window_start) == date(2018, 1, 1)
    assert date.fromordinal(world.trials[730].window_start) == date(2017, 7, 1)
    assert (TRIALS[657].minimum_minutes, TRIALS[657].increment_minutes) == (30, 30)
    assert (TRIALS[580].minimum_minutes, TRIALS[580].increment_minutes) == (60, 30)


def test_herning_and_aabenraa_charge_their_published_prices():
    world = World(SMALL, seed=1)
    herning = world.catalogues[657].offer("extra-cleaning").version_on(date(2021, 3, 1).toordinal())
    assert herning.prices["weekday_day"] == 354_00 and herning.vat_class == "exempt"
    aabenraa = world.catalogues[580].offer("extra-cleaning").version_on(date(2019, 3, 1).toordinal())
    assert aabenraa.prices["weekday_day"] == 290_00
    escort = world.catalogues[580].offer("escort").version_on(date(2019, 3, 1).toordinal())
    assert escort.prices["weekday_day"] * 125 // 100 == 365_00 and escort.vat_class == "standard"


def test_prices_equal_full_cost():
    """Full cost, no profit (seed 001 l. 33): each band's cost basis adds up to that band's price, so
    the catalogue's full-cost rule takes every version; evening and weekend cost more than weekday
    daytime (the band factors of domain.md § 2: Herning 665 and 496 against 403 kr. an hour)."""
    world = World(SMALL, seed=3)
    for cat in world.catalogues.values():
        for offer in cat.offers.values():
            for v in offer.versions:
                assert {b: sum(parts.values()) for b, parts in v.cost_basis.items()} == v.prices, offer.spec.offer_id
                full_cost_rule(v.prices, v.cost_basis)
                if offer.spec.unit == "hour" and offer.spec.band_factor != (1.0, 1.0):
                    assert sum(v.cost_basis["evening"].values()) > sum(v.cost_basis["weekday_day"].values())


def test_schemes_follow_the_documents():
    world = World(SMALL, seed=1)
    assert TRIALS[657].sections == ("83", "85")  # seed 001 l. 17, l. 40
    assert TRIALS[101].sections == ("83",)  # seed 000 l. 5-7
    assert TRIALS[580].bands == ("weekday_day",)  # domain § 2: weekdays 07-16
    kbh, herning = set(world.catalogues[101].offers), set(world.catalogues[657].offers)
    assert {"it-course", "culture", "nada", "music", "relative-substitute"} <= kbh  # seed 000 l. 27-28, l. 43
    assert {"extra-care", "support-85"} <= herning and not {"nada", "it-course"} & herning  # seed 001 l. 7, l. 31
    assert "support-85" not in kbh


def test_every_fact_in_the_schemes_file_names_its_source():
    for m, spec in DOCUMENTS["municipalities"].items():
        assert {"window", "rules", "bands", "catalogue"} <= set(spec["source"]), m
    for offer_id, item in {**DOCUMENTS["items"], **DOCUMENTS["packages"]}.items():
        assert re.search(r"seed \d{3} l\. \d+|domain §", item["source"]), offer_id


def test_aabenraa_sells_on_weekdays_only(history):
    found = lines(history[0])
    aabenraa = {line["payload"]["citizen_id"] for line in found
                if line["type"] == "register_citizen" and line["payload"]["municipality"] == 580}
    for line in found:
        if line["type"] == "place_order" and line["payload"]["citizen_id"] in aabenraa:
            assert line["payload"]["band"] == "weekday_day"


def test_every_delivery_is_at_a_band_its_date_allows(history):
    """A recurring order at the weekend band visits on Saturdays: each visit keeps the order's band
    (a weekday-daytime visit on a Saturday is refused on import: band-not-on-day)."""
    from ledger.domain.values import band_on

    deliveries = [line["payload"] for line in lines(history[0]) if line["type"] == "record_delivery"]
    assert deliveries
    for p in deliveries:
        band_on(p["band"], date.fromisoformat(p["date"]))


def test_recurring_weekend_visits_keep_their_band(tmp_path):
    """The 4x network history (bench/scaling.py) once held Saturday visits at weekday daytime."""
    from ledger.domain.values import band_on

    out = tmp_path / "x4.jsonl"
    generate(custom_scale(0.2), seed=1, out=out)
    for line in lines(out):
        if line["type"] == "record_delivery":
            band_on(line["payload"]["band"], date.fromisoformat(line["payload"]["date"]))
