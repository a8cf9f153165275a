"""What evaluators need, checked against the simulation and the published figures.

* The audit against the simulation's ground truth (precision and recall, printed), on the default
  network trial, which the generator made without consulting the audit's rules.
* From the export alone: take-up per year, the cleaning share of purchases and the share ever bought.
* The export's files are byte-identical on SQLite and PostgreSQL.
* Hypothesis: the export at (D, K) equals the export of a store that holds only the lines recorded by K.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ledger.application import Ledger
from ledger.db import Database
from ledger.generate import SCALES, custom_scale, generate, truth_path
from ledger.importer import Importer
from ledger.projections import all_projections
from ledger.projections import audit_queries as aq
from ledger.projections.engine import Engine
from ledger.projections.citizen_asof import citizen_as_of
from ledger.projections.evaluation_export import export
from ledger.settings import Settings

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _url(kind: str, tmp: Path, request: pytest.FixtureRequest) -> str:
    from conftest import drop_pg_schema, fresh_pg_url, pg_ok

    if kind == "sqlite":
        return f"sqlite:///{tmp / 'ledger.db'}"
    if not pg_ok():
        pytest.skip("PostgreSQL is not reachable")
    url = fresh_pg_url()
    request.addfinalizer(lambda: drop_pg_schema(url))
    return url


def _load(url: str, path: Path) -> None:
    led = Ledger(Settings(database_url=url))
    try:
        Importer(led, batch_size=2_000).run(path)
    finally:
        led.close()
    db = Database(url)
    try:
        Engine(db, [p for p in all_projections() if p.name == "audit"]).rebuild()
    finally:
        db.close()


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    """The default network trial (`ledger demo`'s history): seed 1, the published rates."""
    path = tmp_path_factory.mktemp("network") / "network.jsonl"
    summary = generate(SCALES["network"], seed=1, out=path)
    return path, summary


@pytest.fixture(scope="module")
def stores(request, network, tmp_path_factory):
    """The default network trial imported at most once per backend for the whole module (the tests
    only read); `stores(kind)` gives the store, importing it on first use."""
    made: dict[str, Database] = {}

    def get(kind: str) -> Database:
        if kind not in made:
            # module-scoped request: a PostgreSQL schema is dropped when the module is done
            url = _url(kind, tmp_path_factory.mktemp(kind), request)
            _load(url, network[0])
            made[kind] = Database(url)
        return made[kind]

    yield get
    for db in made.values():
        db.close()


@pytest.fixture(params=BACKENDS)
def store(request, stores):
    return request.param, stores(request.param)


def _pr(found: set, true: set) -> tuple[float, float]:
    hit = len(found & true)
    return (hit / len(found) if found else 1.0), (hit / len(true) if true else 1.0)


def test_the_audit_against_the_simulations_ground_truth(store, network, record_property):
    _, db = store
    path, summary = network
    truth = orjson.loads(truth_path(path).read_bytes())
    ms = summary["trial_municipalities"]
    found_sub = {o["order_id"] for m in ms for s in aq.substitution(db, m, 90) for o in s["orders"]}
    true_sub = {c["order_id"] for c in truth["substitutions"]}
    found_vat = {f["order_id"] for m in ms for f in aq.overlap(db, m)}
    true_vat = {c["order_id"] for c in truth["vat_mismatches"]}
    sp, sr = _pr(found_sub, true_sub)
    vp, vr = _pr(found_vat, true_vat)
    report = (f"substitution: {len(found_sub)} orders signalled, {len(true_sub)} true, precision {sp:.2f}, "
              f"recall {sr:.2f}; VAT-class overlap: {len(found_vat)} flagged, {len(true_vat)} true, "
              f"precision {vp:.2f}, recall {vr:.2f}")
    print("\n" + report)
    record_property("audit_vs_truth", report)
    assert true_sub and true_vat  # the default rates make some of each
    # The audit's window (90 days either side) catches buying back within about three months;
    # it also signals ordinary purchases that happen to fall near a cut (precision well below 1).
    assert sr >= 0.7 and vr >= 0.7


def _read(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_take_up_cleaning_share_and_ever_bought_from_the_export_alone(store, tmp_path):
    kind, db = store
    if kind != "sqlite":
        pytest.skip("the figures are the same on both backends (see the byte-identity test)")
    ms = [int(r[0]) for r in db.query("SELECT municipality FROM au_schemes ORDER BY municipality")]
    export(db, ms, tmp_path)
    reach = _read(tmp_path / "reach.csv")
    items = _read(tmp_path / "sales.csv")
    offers = {(r["municipality"], r["offer_id"]): r["fsiii"] for r in _read(tmp_path / "offers.csv")}
    lines = []
    for year in ("2018", "2019", "2020", "2021"):
        rows = [r for r in reach if r["period_type"] == "year" and r["period"] == year]
        recipients = sum(int(r["recipients"]) for r in rows)
        buyers = sum(int(r["buyers"]) for r in rows)
        lines.append(f"{year}: {buyers}/{recipients} = {buyers / recipients:.2%}")
    orders = sum(int(r["orders_started"]) for r in items)
    cleaning = sum(int(r["orders_started"]) for r in items if offers.get((r["municipality"], r["offer_id"])) == "H1.8")
    trial = [r for r in reach if r["period_type"] == "trial"]
    ever = sum(int(r["buyers"]) for r in trial) / sum(int(r["recipients"]) for r in trial)
    print(f"\ntake-up per year (buyers / recipients): {'; '.join(lines)}"
          f"\ncleaning share of purchases (orders): {cleaning}/{orders} = {cleaning / orders:.1%}"
          f"\nshare ever bought over the trial: {ever:.2%}")
    surveys = _read(tmp_path / "surveys.csv")
    assert {r["group"] for r in surveys} == {"buyers", "non_buyers"}
    assert {r["measure"] for r in surveys} == {"safety", "information", "coherence", "practical_help", "personal_care"}
    for r in surveys:
        assert int(r["answered"]) == sum(int(r[f"score_{n}"]) for n in range(1, 6)) <= int(r["responses"])
    assert 0.002 <= sum(int(r["buyers"]) for r in reach if r["period"] == "2020") / sum(
        int(r["recipients"]) for r in reach if r["period"] == "2020") <= 0.012
    assert 0.8 <= cleaning / orders <= 0.97
    assert 0.008 <= ever <= 0.04


def test_the_export_is_byte_identical_on_sqlite_and_postgresql(stores, tmp_path):
    from conftest import pg_ok

    if not pg_ok():
        pytest.skip("PostgreSQL is not reachable")
    outs = []
    for kind in ("sqlite", "postgres"):
        db = stores(kind)
        ms = [int(r[0]) for r in db.query("SELECT municipality FROM au_schemes ORDER BY municipality")]
        out = tmp_path / kind
        manifest = export(db, ms, out, "2020-06-30", "2020-09-01T00:00:00+00:00")
        outs.append((out, manifest))
    (a, ma), (b, mb) = outs
    for f in sorted(p.name for p in a.iterdir() if p.suffix == ".csv"):
        assert (a / f).read_bytes() == (b / f).read_bytes(), f
    assert ma["files"] == mb["files"] and ma["projection_digests"] == mb["projection_digests"]
    # Parquet too: the same bytes on both backends, and the same rows as the CSV files, typed.
    import pyarrow.parquet as pq

    from ledger.projections.evaluation_export import parquet_type

    pqs = []
    for kind in ("sqlite", "postgres"):
        db = stores(kind)
        ms = [int(r[0]) for r in db.query("SELECT municipality FROM au_schemes ORDER BY municipality")]
        pqs.append(export(db, ms, tmp_path / f"{kind}-pq", "2020-06-30", "2020-09-01T00:00:00+00:00", "parquet"))
    assert pqs[0]["files"] == pqs[1]["files"] and len(pqs[0]["files"]) == 6
    for name in pqs[0]["files"]:
        table = pq.read_table(tmp_path / "sqlite-pq" / name)
        assert {f.name: str(f.type) for f in table.schema} == {c: parquet_type(c) for c in table.column_names}
        rows = _read(a / name.replace(".parquet", ".csv"))
        assert table.num_rows == len(rows) == pqs[0]["files"][name]["rows"]
        as_text = [{c: "" if v is None else str(v) for c, v in r.items()} for r in table.to_pylist()]
        assert as_text == rows, name


# -- (D, K) against a store cut at K ----------------------------------------------------------

CUT_SCALE = custom_scale(0.01, (657, 101, 580))


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("cut")
    path = root / "small.jsonl"
    generate(CUT_SCALE, seed=5, out=path, take_up=0.08)
    url = f"sqlite:///{root / 'full.db'}"
    _load(url, path)
    return root, path, url


@settings(max_examples=4, deadline=None)
@example(k=__import__("datetime").date(2021, 6, 1), d_offset=-150)  # late enough that orders are known
@given(k=st.dates(min_value=__import__("datetime").date(2018, 3, 1), max_value=__import__("datetime").date(2022, 3, 1)),
       d_offset=st.integers(min_value=-400, max_value=200))
def test_the_export_at_d_k_equals_the_export_of_a_store_holding_only_what_was_recorded_by_k(small, k, d_offset):
    import datetime
    import tempfile

    root, path, url = small
    known_at = f"{k.isoformat()}T12:00:00+00:00"
    as_of = (k + datetime.timedelta(days=d_offset)).isoformat()
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        tmpd = Path(tmp)
        prefix = tmpd / "prefix.jsonl"
        cutoff = f"{k.isoformat()}T12:00:00Z"
        with open(path, "rb") as src, open(prefix, "wb") as dst:
            for raw in src:
                if orjson.loads(raw)["recorded"] <= cutoff:
                    dst.write(raw)
        cut_url = f"sqlite:///{tmpd / 'cut.db'}"
        _load(cut_url, prefix)
        full, cut = Database(url), Database(cut_url)
        try:
            ms = list(CUT_SCALE.municipalities)
            a = export(full, ms, tmpd / "a", as_of, known_at)
            b = export(cut, ms, tmpd / "b", as_of, None)
        finally:
            full.close()
            cut.close()
        assert a["files"] == b["files"]
        assert a["projection_digests"] == b["projection_digests"]
        # The cut at K is by recorded time; each manifest says how much of its own log was read.
        assert a["log_position"] >= b["log_position"]
        # The per-citizen read as of (D, K) equals the same read on the store cut at K.
        full_l, cut_l = Ledger(Settings(database_url=url)), Ledger(Settings(database_url=cut_url))
        try:
            citizens = [r[0] for r in cut_l.db.query(
                "SELECT DISTINCT citizen_id FROM au_orders ORDER BY citizen_id")][:6]
            for citizen in citizens:
                a_, b_ = citizen_as_of(full_l, citizen, as_of, known_at), citizen_as_of(cut_l, citizen, as_of, None)
                assert a_["log_position"] >= b_["log_position"]  # the head of each store when read
                assert {**a_, "log_position": 0} == {**b_, "known_at": known_at, "log_position": 0}, citizen
        finally:
            full_l.close()
            cut_l.close()


# -- the commands ----------------------------------------------------------------------------


def _cli(url: str, *args: str, code: int = 0) -> str:
    from typer.testing import CliRunner

    from ledger.cli import app

    result = CliRunner().invoke(app, list(args), env={"LEDGER_DATABASE_URL": url})
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def test_the_export_command_writes_the_tables_and_the_manifest(small, tmp_path):
    import json

    _root, _path, url = small
    out = _cli(url, "export", "evaluation", "-m", "all", "--out", str(tmp_path / "ev"), "--as-of", "2020-12-31",
               "--known-at", "2021-01-31")
    assert "reach.csv" in out and "log position" in out
    manifest = json.loads((tmp_path / "ev" / "manifest.json").read_text())
    assert manifest["as_of"] == "2020-12-31" and manifest["known_at"].startswith("2021-01-31T23:59:59")
    assert sorted(manifest["files"]) == ["buyers.csv", "granted_services.csv", "offers.csv", "reach.csv", "sales.csv",
                                         "surveys.csv"]
    assert set(manifest["projection_digests"]) >= {"au_orders", "au_grants"}
    assert max(r["last_day"] for r in _read(tmp_path / "ev" / "reach.csv")) <= "2020-12-31"


@pytest.mark.parametrize("args, message", [
    (("--as-of", "2020-13-01"), "as_of"),
    (("--known-at", "soon"), "--known-at must be"),
    (("--format", "xlsx"), "--format must be csv or parquet"),
    (("-m", "Atlantis"), "unknown municipality"),
])
def test_bad_export_input_exits_2_with_a_message(small, tmp_path, args, message):
    _root, _path, url = small
    base = {"-m": "all"}
    extra = list(args)
    if "-m" in extra:
        base = {}
    flat = [x for kv in base.items() for x in kv]
    assert message in _cli(url, "export", "evaluation", *flat, "--out", str(tmp_path / "x"), *extra, code=2)


def test_parquet_without_pyarrow_exits_2_and_says_how_to_get_it(small, tmp_path, monkeypatch):
    import sys

    _root, _path, url = small
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # what an install without the extra has
    out = _cli(url, "export", "evaluation", "-m", "all", "--out", str(tmp_path / "p"), "--format", "parquet", code=2)
    assert "parquet needs pyarrow" in out and "addon-ledger[parquet]" in out and "--format csv" in out


def test_the_export_command_writes_parquet(small, tmp_path):
    import json

    import pyarrow.parquet as pq

    _root, _path, url = small
    out = _cli(url, "export", "evaluation", "-m", "all", "--out", str(tmp_path / "pq"), "--format", "parquet",
               "--as-of", "2020-12-31")
    assert "reach.parquet" in out
    manifest = json.loads((tmp_path / "pq" / "manifest.json").read_text())
    assert manifest["format"] == "parquet" and "surveys.parquet" in manifest["files"]
    reach = pq.read_table(tmp_path / "pq" / "reach.parquet")
    assert str(reach.schema.field("first_day").type) == "date32[day]"
    assert str(reach.schema.field("recipients").type) == "int64"


def test_the_citizen_as_of_command(small):
    import json

    _root, _path, url = small
    db = Database(url)
    try:
        citizen = db.query("SELECT citizen_id FROM au_orders ORDER BY start LIMIT 1")[0][0]
    finally:
        db.close()
    answer = json.loads(_cli(url, "citizen", "as-of", citizen, "--date", "2021-06-30", "--known-at",
                             "2021-07-01T00:00:00Z"))
    assert answer["citizen_id"] == citizen and answer["orders"] and "balance" in answer
    assert "not recorded" in _cli(url, "citizen", "as-of", citizen, "--date", "2021-06-30", "--known-at",
                                  "2016-01-01", code=2)
    assert "must be a UUID" in _cli(url, "citizen", "as-of", "nobody", "--date", "2021-06-30", code=2)


def test_the_export_at_a_log_position(small, tmp_path):
    import json

    from ledger.projections.reader import head_position

    _root, _path, url = small
    db = Database(url)
    try:
        head = head_position(db)
    finally:
        db.close()
    _cli(url, "export", "evaluation", "-m", "all", "--out", str(tmp_path / "at"), "--at-position", str(head))
    assert json.loads((tmp_path / "at" / "manifest.json").read_text())["log_position"] == head
    assert "position-passed" in _cli(url, "export", "evaluation", "-m", "all", "--out", str(tmp_path / "x"),
                                     "--at-position", "1", code=2)
    assert "position-ahead-of-log" in _cli(url, "export", "evaluation", "-m", "all", "--out", str(tmp_path / "y"),
                                           "--at-position", str(head + 100), code=2)
    assert "not both" in _cli(url, "export", "evaluation", "-m", "all", "--out", str(tmp_path / "z"),
                              "--at-position", str(head), "--known-at", "2020-01-01", code=2)
