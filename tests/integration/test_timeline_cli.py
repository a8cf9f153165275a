"""`ledger timeline`, `ledger audit` and `ledger export evaluation` through the command line, on
SQLite and PostgreSQL: every format, the network, and bad input refused with exit code 2."""

from __future__ import annotations

import csv
import functools
import io

import orjson
import pytest

from tests.helpers.cli import invoke
from tests.integration.test_timeline import HERNING, Trial


@pytest.fixture
def cli(database_url):
    return functools.partial(invoke, database_url, columns=250)


@pytest.fixture
def history(database_url):
    t = Trial(database_url)
    try:
        t.scheme()
        t.item("extra-cleaning", 35_400)
        c = t.citizen()
        t.grant(c, 120)
        t.reassess(c, 60, "2019-03-01", "2019-09-15T08:00:00")
        order = t.order(c, "extra-cleaning", "2019-04-15", "2019-04-01T10:00:00")
        t.deliver(order, "2019-04-15", 50, "2019-04-15T15:00:00")
        yield {"citizen": c, "order": order}
    finally:
        t.close()


def test_the_timeline_prints_a_report_that_stays_the_same_for_an_earlier_known_at(history, cli):
    now = orjson.loads(cli("timeline", "-m", "Herning", "--as-of", "2019-04-15", "-f", "json"))
    then = orjson.loads(cli("timeline", "-m", "657", "--as-of", "2019-04-15", "--known-at", "2019-06-30", "-f", "json"))
    granted = lambda r: r["timeline"]["municipalities"][0]["granted_minutes"]  # noqa: E731
    assert granted(now) == [{"fsiii": "H1.8", "buyers": {"citizens": 1, "weekly_minutes": 60},
                             "non_buyers": {"citizens": 0, "weekly_minutes": 0}}]
    assert granted(then)[0]["buyers"]["weekly_minutes"] == 120
    assert then["timeline"]["known_at"] == "2019-06-30T23:59:59.999999+00:00"
    assert len(now["series"][str(HERNING)]["months"]) == 43
    assert [v["price_ref"] for v in now["catalogue_history"][str(HERNING)]] == [
        now["timeline"]["municipalities"][0]["catalogue"][0]["price_ref"]]
    table = cli("timeline", "-m", "herning", "--as-of", "2019-04-15")
    assert "summary on 2019-04-15" in table and "354,00 kr." in table and "catalogue_history" in table
    summary = list(csv.DictReader(io.StringIO(cli("timeline", "-m", "all", "--as-of", "2019-04-15", "-f", "csv",
                                                  "--section", "summary"))))
    assert [(r["municipality"], r["buyers"], r["revenue_net"]) for r in summary] == [("657", "1", "35400"),
                                                                                    ("all", "1", "35400")]
    # A CSV is one table: without --section the summary, and a note (on stderr) naming the others.
    one = cli("timeline", "-m", "all", "--as-of", "2019-04-15", "-f", "csv")
    assert "municipality,name,scheme" in one and "# " not in one and "--section NAME" in one


def test_the_audit_prints_each_section_in_every_format(history, cli):
    report = orjson.loads(cli("audit", "-m", "Herning", "-f", "json"))
    assert [(s["citizen_id"], s["cut_on"], s["order_refs"]) for s in report["substitution"]] == [
        (history["citizen"], "2019-03-01", [f"{history['order']}:1"])]
    assert orjson.loads(cli("audit", "-m", "657", "-f", "json", "--window-days", "30"))["substitution"] == []
    rows = list(csv.DictReader(io.StringIO(cli("audit", "-m", "657", "-f", "csv", "--section", "substitution"))))
    assert [(r["citizen_id"], r["fsiii"], r["minutes_before"], r["minutes_after"]) for r in rows] == [
        (history["citizen"], "H1.8", "120", "60")]
    table = cli("audit", "-m", "657", "--from", "2019-01-01", "--to", "2019-06-30")
    assert "substitution" in table and "orders_never_delivered: none" in table


def test_the_evaluation_export_writes_its_four_files(history, cli, tmp_path):
    out = cli("export", "evaluation", "-m", "Herning", "--out", str(tmp_path / "ev"))
    assert "buyers.csv: 1 rows" in out
    buyers = list(csv.DictReader(open(tmp_path / "ev" / "buyers.csv", encoding="utf-8")))
    assert (buyers[0]["buyer_no"], buyers[0]["start_band"], buyers[0]["delivered_minutes"]) == ("1", "120-239", "50")
    assert sorted(p.name for p in (tmp_path / "ev").iterdir()) == [
        "buyers.csv", "granted_services.csv", "manifest.json", "offers.csv", "reach.csv", "sales.csv", "surveys.csv"]


@pytest.mark.parametrize("args, message", [
    (("timeline", "-m", "Atlantis", "--as-of", "2019-04-15"), "unknown municipality"),
    (("timeline", "-m", "657", "--as-of", "2019-13-01"), "as-of must be a date"),
    (("timeline", "-m", "657", "--as-of", "1970-01-01"), "as-of must be between 1990-01-01 and"),
    (("timeline", "-m", "657", "--as-of", "2019-04-15", "--known-at", "yesterday"), "known-at must be"),
    (("timeline", "-m", "657", "--as-of", "2019-04-15", "-f", "csv", "--section", "nope"), "--section must be"),
    (("audit", "-m", "657", "--from", "2019-05-01", "--to", "2019-04-01"), "is after --to"),
    (("audit", "-m", "657", "--section", "everything"), "--section must be"),
    (("audit", "-m", "657", "--window-days", "0"), "--window-days must be"),
])
def test_bad_input_is_refused_with_exit_code_2_and_a_message(history, cli, args, message):
    assert message in cli(*args, code=2)
