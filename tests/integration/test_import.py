"""`ledger import`: generated history through the application's rules, on SQLite and PostgreSQL.

A bad line stops the import with its line number and stores nothing of its batch; a re-run skips
what is stored; every generated line passes the rules.
"""

from __future__ import annotations

from pathlib import Path
from uuid import UUID

import orjson
import pytest
from typer.testing import CliRunner

from ledger.application import Ledger
from ledger.cli import app
from ledger.domain.assessment import assessment_id
from ledger.generate import custom_scale, generate
from ledger.importer import Importer, LineRejected
from ledger.settings import Settings

# Herning and Aabenraa only (their published rules), 1 % of their recipients: a few hundred lines.
SMALL = custom_scale(0.01, (657, 580))


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    path = tmp_path_factory.mktemp("import") / "small.jsonl"
    return path, generate(SMALL, seed=11, out=path, take_up=0.05)  # so few recipients must buy more to buy at all


@pytest.fixture
def ledger(database_url):
    led = Ledger(Settings(database_url=database_url))
    yield led
    led.close()


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh store for a module-scoped fixture (the conftest's `database_url` is per test)."""
    from conftest import drop_pg_schema, fresh_pg_url, pg_ok

    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('store') / 'ledger.db'}"
    if not pg_ok():
        pytest.skip("PostgreSQL is not reachable")
    url = fresh_pg_url()
    request.addfinalizer(lambda: drop_pg_schema(url))
    return url


@pytest.fixture(scope="module", params=BACKENDS)
def imported(request, history, tmp_path_factory):
    """The small history imported once per backend (the tests that use it only read, or store nothing)."""
    led = Ledger(Settings(database_url=_store_url(request, tmp_path_factory)))
    report = Importer(led, batch_size=200).run(history[0])
    yield led, report
    led.close()


@pytest.fixture(scope="module", params=BACKENDS)
def empty(request, tmp_path_factory):
    """A store that must stay empty: every test using it is refused before anything is stored."""
    led = Ledger(Settings(database_url=_store_url(request, tmp_path_factory)))
    yield led
    led.close()


def stored_commands(ledger: Ledger) -> int:
    return ledger.db.query("SELECT count(*) FROM ledger_commands")[0][0]


def write(path: Path, raw_lines: list[bytes]) -> Path:
    path.write_bytes(b"".join(line.rstrip(b"\n") + b"\n" for line in raw_lines))
    return path


def test_every_generated_line_imports_cleanly(history, imported):
    path, summary = history
    ledger, report = imported
    assert report.applied == summary["lines"] == report.lines
    assert report.replayed == 0
    assert report.events == ledger.chain_head()["position"] > summary["lines"]
    assert stored_commands(ledger) == summary["lines"]
    # Identities went to the erasable store, and only there.
    registrations = [orjson.loads(raw) for raw in path.read_bytes().splitlines() if b'"register_citizen"' in raw]
    first = registrations[0]["payload"]
    assert ledger.identity.get(first["citizen_id"]) == first["identity"]
    assert ledger.db.query("SELECT count(*) FROM identity_records")[0][0] == len(registrations)


def test_corrections_name_a_stored_event_of_the_same_grant(history, imported):
    path, _ = history
    ledger, _ = imported
    found = 0
    for raw in path.read_bytes().splitlines():
        line = orjson.loads(raw)
        if line["type"] != "correct_grant":
            continue
        found += 1
        aggregate, version = line["payload"]["corrects"].rsplit(":", 1)
        assert UUID(aggregate) == assessment_id(line["payload"]["citizen_id"])
        named = next(e for e in ledger.history(UUID(aggregate)) if e["version"] == int(version))
        assert named["event"] in ("GrantAwarded", "GrantReassessed", "GrantCorrected")
        assert named["grant_id"] == line["payload"]["grant_id"]
    assert found


def test_a_second_import_of_the_same_file_stores_nothing(history, imported):
    path, summary = history
    ledger, _ = imported
    head = ledger.chain_head()
    again = Importer(ledger, batch_size=300).run(path)
    assert (again.applied, again.replayed, again.events) == (0, summary["lines"], 0)
    assert ledger.chain_head() == head


def _bad_reassessment(raw: bytes) -> bytes:
    line = orjson.loads(raw)
    line["command_id"] = "bad-1"
    line["type"] = "reassess_grant"
    line["actor"] = {"id": "assessor-1", "role": "assessor"}
    line["payload"] = {"citizen_id": str(UUID(int=1)), "grant_id": "g-none", "effective": "2019-01-01",
                       "amount": {"minutes_per_week": 60}}
    return orjson.dumps(line)


def test_a_line_the_rules_refuse_stops_the_import_and_nothing_of_its_batch_is_stored(history, ledger, tmp_path):
    path, _ = history
    raw = path.read_bytes().splitlines()
    bad_at = 150  # in the second batch of 100 (lines 101–200)
    file = write(tmp_path / "bad.jsonl", [*raw[:bad_at - 1], _bad_reassessment(raw[bad_at - 1]), *raw[bad_at:]])
    importer = Importer(ledger, batch_size=100)
    with pytest.raises(LineRejected) as refused:
        importer.run(file)
    assert refused.value.line_no == bad_at
    assert "not-found" in refused.value.reason and "no citizen" in refused.value.reason
    assert stored_commands(ledger) == 100  # the first batch only
    registered_in_batch_2 = [orjson.loads(r)["payload"]["citizen_id"] for r in raw[100:bad_at - 1]
                             if b'"register_citizen"' in r]
    for citizen in registered_in_batch_2:
        assert ledger.identity.get(citizen) is None  # no identity of a refused batch either


def test_a_rerun_after_fixing_the_line_skips_what_is_stored_and_finishes(history, ledger, tmp_path):
    path, summary = history
    raw = path.read_bytes().splitlines()
    file = write(tmp_path / "bad.jsonl", [*raw[:149], _bad_reassessment(raw[149]), *raw[150:]])
    with pytest.raises(LineRejected):
        Importer(ledger, batch_size=100).run(file)
    report = Importer(ledger, batch_size=100).run(path)
    assert report.replayed == 100 and report.applied == summary["lines"] - 100
    assert stored_commands(ledger) == summary["lines"]


@pytest.mark.parametrize("line, reason", [
    (b"{not json", "not valid JSON"),
    (b'["a list"]', "must be a JSON object"),
    (b'{"type": "fly_to_the_moon", "command_id": "x", "recorded": "2019-01-01T00:00:00Z", '
     b'"actor": {"id": "a", "role": "administrator"}, "payload": {}}', "unknown command type 'fly_to_the_moon'"),
    (b'{"type": "register_citizen", "command_id": "x", "recorded": "2019-01-01T00:00:00", '
     b'"actor": {"id": "a", "role": "assessor"}, "payload": {}}', "no UTC offset"),
    (b'{"type": "register_citizen", "command_id": "x", "recorded": "2019-01-01T00:00:00Z", '
     b'"actor": {"id": "a", "role": "provider_staff"}, "payload": {}}', "may not give register_citizen"),
    (b'{"type": "register_citizen", "command_id": "x", "recorded": "2019-01-01T00:00:00Z", '
     b'"actor": {"id": "a", "role": "assessor"}, "payload": {"municipality": 657}}', "invalid-input"),
    (b'{"type": "register_citizen", "command_id": "x", "recorded": "2019-01-01T00:00:00Z", "extra": 1, '
     b'"actor": {"id": "a", "role": "assessor"}, "payload": {}}', "unknown extra"),
    (b'{"type": "register_citizen", "command_id": "x", "recorded": "2999-01-01T00:00:00Z", '
     b'"actor": {"id": "a", "role": "assessor"}, "payload": {}}', "in the future"),
    # Parsers differ on a repeated key (the last or the first wins): refused, as the API refuses it.
    (b'{"type": "receive_payment", "command_id": "x", "recorded": "2019-01-01T00:00:00Z", '
     b'"actor": {"id": "a", "role": "billing_clerk"}, "payload": {"amount": 100, "amount": 300}}',
     "the key 'amount' appears twice"),
])
def test_a_malformed_line_is_refused_with_its_number_and_reason(history, empty, tmp_path, line, reason):
    path, _ = history
    raw = path.read_bytes().splitlines()
    file = write(tmp_path / "bad.jsonl", [*raw[:5], line, *raw[5:20]])
    with pytest.raises(LineRejected) as refused:
        Importer(empty, batch_size=100).run(file)
    assert refused.value.line_no == 6
    assert reason in refused.value.reason
    assert stored_commands(empty) == 0


def test_ledger_import_exits_2_naming_the_file_and_line(history, tmp_path):
    path, _ = history
    database_url = f"sqlite:///{tmp_path / 'cli.db'}"
    raw = path.read_bytes().splitlines()
    file = write(tmp_path / "bad.jsonl", [*raw[:3], b"{oops", *raw[3:10]])
    result = CliRunner().invoke(app, ["import", str(file), "--db", database_url], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert f"{file}:4: not valid JSON" in result.output
    assert "Traceback" not in result.output
    ok = CliRunner().invoke(app, ["import", str(path), "--db", database_url, "--batch", "500"])
    assert ok.exit_code == 0, ok.output
    assert "commands applied" in ok.output


def test_a_command_id_reused_for_another_payload_is_refused_at_its_line(history, empty, tmp_path):
    path, _ = history
    raw = path.read_bytes().splitlines()
    first = next(i for i, r in enumerate(raw) if b'"award_grant"' in r)
    twin = orjson.loads(raw[first])
    twin["payload"]["section"] = "83a"
    file = write(tmp_path / "twin.jsonl", [*raw[:first + 1], orjson.dumps(twin)])
    with pytest.raises(LineRejected) as refused:
        Importer(empty, batch_size=100).run(file)
    assert refused.value.line_no == first + 2
    assert "idempotency-mismatch" in refused.value.reason
    assert stored_commands(empty) == 0


def test_the_documented_example_line_is_a_valid_command():
    from datetime import datetime, timezone

    from ledger.application import commands as cmds
    from ledger.importer import parse_line

    doc = (Path(__file__).resolve().parents[2] / "docs" / "import-format.md").read_text(encoding="utf-8")
    example = next(line for line in doc.splitlines() if line.startswith('{"type"'))
    sub = parse_line(example.encode(), 1, datetime.now(timezone.utc))
    cmds.parse(sub.command_type, sub.payload)


def test_aggregates_loaded_ahead_equal_the_stores_own_loads(history, imported):
    """The import loads a batch's aggregates with one query; they must be what the store gives."""
    from ledger.importer import AggregateCache, prefetch, touched
    from ledger.importer import parse_line as parse

    path, _ = history
    ledger, _ = imported
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc)
    subs = [parse(raw, n, now) for n, raw in enumerate(path.read_bytes().splitlines()[:400], start=1)]
    cache = AggregateCache(10_000)
    ids = {i for sub in subs for i in touched(sub)}
    prefetch(ledger, cache, ids)
    assert cache and not cache.absent & set(cache)

    def public(agg):
        return agg.version, {k: v for k, v in vars(agg).items() if not k.startswith("_")}

    for uid, agg in cache.items():
        assert public(agg) == public(ledger.repository.get(uid)), uid
    assert cache.get(UUID(int=5)) is None


def test_a_run_reads_the_same_rows_through_the_window_or_past_it(imported):
    """The import's invoice runs read through a scan window (ADR 0024); a stretch longer than the
    window keeps (a municipality's first run, over the whole history) is read past it. Either way a
    run gets exactly the rows the plain scan gives, and a long read leaves the window as it was."""
    from ledger.application.commands.billing import BILLABLE
    from ledger.application.commands.rerating import CITIZEN_TRIGGERS, MUNICIPAL_TRIGGERS
    from ledger.application.scan_window import ScanWindow

    ledger, _ = imported
    names = (*BILLABLE, *MUNICIPAL_TRIGGERS, *CITIZEN_TRIGGERS)
    head = ledger.db.query(f"SELECT max({ledger.db.position_column}) FROM {ledger.db.events_table}")[0][0]
    stretches = [(0, head), (head // 2, head), (head - 40, head), (head // 3, head // 3 + 30), (0, head)]
    try:
        for limit in (50, head // 2, 10 * head):
            ledger.scan_window = ScanWindow(limit=limit)
            for m in (657, 580, None):
                for after, until in stretches:
                    held = ledger.scan_window.hi
                    ledger.scan_window, window = None, ledger.scan_window
                    plain = list(ledger.scan(names, after, until, m))
                    ledger.scan_window = window
                    assert list(ledger.scan(names, after, until, m)) == plain, (limit, m, after, until)
                    if not window.covers(after, until):
                        assert window.hi == held, "a read past the window leaves it alone"
    finally:
        ledger.scan_window = None


def _events_without_chain_hashes(ledger: Ledger) -> dict[tuple[str, int, str], dict]:
    """Every stored event by (aggregate, version, topic), its state with the chain hashes it quotes
    taken out: an invoice run quotes the chain head it read (`chain_head`, and `read`'s `to`) and a
    digest of the slice it read in log order; both depend on how the earlier lines were cut into
    batches (the order of events inside one batch), the positions and counts do not."""
    def strip(value: object) -> object:
        if isinstance(value, dict):
            quoted = {"hash"} if "position" in value else {"hash", "digest"} if "to" in value else set()
            return {k: strip(v) for k, v in value.items() if k not in quoted}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    db = ledger.db
    return {(str(UUID(str(oid))), int(version), topic): strip(orjson.loads(bytes(state)))
            for oid, version, topic, state in db.query(
                f"SELECT originator_id, originator_version, topic, state FROM {db.events_table}")}


def test_an_invoice_run_that_opens_a_batch_decides_as_if_every_line_ran_alone(history, database_url, tmp_path):
    """A run opens a batch and the lines after it join it (ADR 0024): every decision, every
    position a run quotes, equals an import of one command per transaction."""
    path, summary = history
    raw = path.read_bytes().splitlines()
    runs = [i for i, r in enumerate(raw) if b'"run_invoices"' in r]
    assert runs and runs[0] < len(raw) - 1  # lines follow a run, so they share its batch
    alone = Ledger(Settings(database_url=f"sqlite:///{tmp_path / 'alone.db'}"))
    batched = Ledger(Settings(database_url=database_url))
    try:
        Importer(alone, batch_size=1).run(path)
        report = Importer(batched, batch_size=200).run(path)
        assert report.batches < len(runs) + summary["lines"] // 200 + 2
        assert _events_without_chain_hashes(batched) == _events_without_chain_hashes(alone)
        assert batched.chain_head()["position"] == alone.chain_head()["position"]
    finally:
        alone.close()
        batched.close()


def test_the_same_file_gives_the_same_chain_head_on_both_backends(history, imported):
    """Batches are cut by the file alone, so the chain (and its head) is the same on every backend."""
    path, _ = history
    ledger, _ = imported
    reference = Ledger(Settings(database_url=f"sqlite:///{path.parent / 'reference.db'}"))
    try:
        if reference.chain_head()["position"] == 0:
            Importer(reference, batch_size=200).run(path)
        assert ledger.chain_head() == reference.chain_head()
    finally:
        reference.close()


@pytest.fixture
def quick(database_url):
    """A ledger as `ledger import` makes it: no billing digest per run, so the import's batches
    share one connection and one transaction between commits (OneConnection)."""
    led = Ledger(Settings(database_url=database_url, run_billing_digest=False))
    yield led
    led.close()


def _batch_starts(raw: list[bytes], batch_size: int) -> list[int]:
    """Where the importer cuts the file (0-based line indexes): at every invoice run and every
    `batch_size` lines (ADR 0024)."""
    starts, size = [0], 0
    for i, line in enumerate(raw):
        if b'"run_invoices"' in line and size:
            starts.append(i)
            size = 0
        size += 1
        if size >= batch_size:
            starts.append(i + 1)
            size = 0
    return starts


def assert_a_rerun_completes_the_store(ledger: Ledger, path: Path, tmp_path: Path, lines: int) -> None:
    """A re-run of the import completes the store: every line stored, and the chain head an
    uninterrupted import of the same file gives."""
    Importer(ledger, batch_size=200).run(path)
    reference = Ledger(Settings(database_url=f"sqlite:///{tmp_path / 'reference.db'}", run_billing_digest=False))
    try:
        Importer(reference, batch_size=200).run(path)
        assert ledger.chain_head() == reference.chain_head()
        assert stored_commands(ledger) == lines
    finally:
        reference.close()


def test_a_refused_batch_among_batches_of_one_transaction_stores_nothing_of_itself(history, quick, tmp_path,
                                                                                   monkeypatch):
    """The batches of one transaction (a savepoint each, ADR 0024 round-5 amendment): the batches
    before a refused one stay stored, nothing of the refused one is, and a re-run completes the store
    to the chain head of an uninterrupted import."""
    path, summary = history
    raw = path.read_bytes().splitlines()
    starts = _batch_starts(raw, 200)
    # A batch that follows at least two others of the same 200-line commit window.
    start = next(s for a, b, s in zip(starts, starts[1:], starts[2:]) if s - a < 200 and s < len(raw) - 3)
    bad_at = start + 2  # 1-based line number: the batch's second line
    file = write(tmp_path / "bad.jsonl", [*raw[:bad_at - 1], _bad_reassessment(raw[bad_at - 1]), *raw[bad_at:]])
    from ledger.importer import OneConnection

    commits = []
    commit = OneConnection.commit
    monkeypatch.setattr(OneConnection, "commit", lambda self: (commits.append(self._outer), commit(self))[1])
    with pytest.raises(LineRejected) as refused:
        Importer(quick, batch_size=200).run(file)
    assert refused.value.line_no == bad_at
    assert stored_commands(quick) == start
    opened = [c for c in commits if c is not None]
    assert 0 < len(opened) < len([s for s in starts if s <= start])  # batches shared transactions
    stored = {r[0] for r in quick.db.query("SELECT command_id FROM ledger_commands")}
    assert stored == {orjson.loads(r)["command_id"] for r in raw[:start]}
    assert_a_rerun_completes_the_store(quick, path, tmp_path, summary["lines"])


def test_aggregates_read_one_by_one_see_the_open_transaction(history, database_url, tmp_path):
    """With a cache of one aggregate, nearly every read misses it and goes to the store, inside the
    import's open transaction: the store is the one an import with the full cache gives."""
    path, _ = history
    tiny = Ledger(Settings(database_url=database_url, run_billing_digest=False))
    reference = Ledger(Settings(database_url=f"sqlite:///{tmp_path / 'reference.db'}", run_billing_digest=False))
    try:
        Importer(tiny, batch_size=200, cache_size=1).run(path)
        Importer(reference, batch_size=200).run(path)
        assert tiny.chain_head() == reference.chain_head()
    finally:
        tiny.close()
        reference.close()


def test_a_failure_while_appending_a_batch_of_the_open_transaction_leaves_a_store_a_rerun_completes(
        history, quick, tmp_path, monkeypatch):
    """An error inside a batch's savepoint (here: writing its command records, after its events and
    chain rows went in) ends the import with nothing half-stored; a re-run gives the uninterrupted
    import's chain head."""
    import ledger.store.recorders as recorders

    path, summary = history
    rows = recorders._command_rows
    calls = {"n": 0}

    def failing(commands, position):
        calls["n"] += 1
        if calls["n"] == 5:
            raise RuntimeError("disk on fire")
        return rows(commands, position)

    monkeypatch.setattr(recorders, "_command_rows", failing)
    with pytest.raises(RuntimeError, match="disk on fire"):
        Importer(quick, batch_size=200).run(path)
    monkeypatch.setattr(recorders, "_command_rows", rows)
    events = quick.db.query("SELECT count(*) FROM ledger_chain")[0][0]
    assert quick.db.query(f"SELECT count(*) FROM {quick.db.events_table}")[0][0] == events
    if events:
        assert quick.chain_head()["position"] == events
    assert_a_rerun_completes_the_store(quick, path, tmp_path, summary["lines"])


def test_an_erasure_in_an_import_is_scrubbed_after_its_commit(history, quick, tmp_path):
    """An erasure's scrub (PostgreSQL: VACUUM FULL, outside any transaction) runs after the
    transaction that erased is committed, and the import goes on after it."""
    path, _ = history
    raw = path.read_bytes().splitlines()[:120]
    first = next(orjson.loads(r) for r in raw if b'"register_citizen"' in r)
    erase = {"type": "erase_identity", "command_id": "erase-1", "recorded": first["recorded"],
             "actor": {"id": "admin-1", "role": "administrator"},
             "payload": {"citizen_id": first["payload"]["citizen_id"]}}
    file = write(tmp_path / "erase.jsonl", [*raw[:60], orjson.dumps(erase), *raw[60:]])
    report = Importer(quick, batch_size=200).run(file)
    assert report.applied == len(raw) + 1
    assert quick.identity.get(first["payload"]["citizen_id"]) is None
    assert stored_commands(quick) == len(raw) + 1


@pytest.mark.parametrize("where", ["between batches", "inside an append"])
def test_an_interrupted_import_reports_exactly_the_lines_stored(history, quick, monkeypatch, where):
    """Ctrl-C with batches of an open transaction: between two batches the batches done are kept
    (as a commit per batch kept them); inside a batch's append the open transaction is rolled back.
    Either way the report counts what is stored, which is what `ledger import` tells the user."""
    import ledger.store.recorders as recorders

    path, summary = history
    calls = {"n": 0}
    importer = Importer(quick, batch_size=200)
    if where == "between batches":
        def progress(done, total, report):
            calls["n"] += 1
            if calls["n"] == 7:
                raise KeyboardInterrupt
        run = lambda: importer.run(path, progress)  # noqa: E731
    else:
        rows = recorders._command_rows

        def interrupted(commands, position):
            calls["n"] += 1
            if calls["n"] == 7:
                raise KeyboardInterrupt
            return rows(commands, position)

        monkeypatch.setattr(recorders, "_command_rows", interrupted)
        run = lambda: importer.run(path)  # noqa: E731
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.undo()
    stored = stored_commands(quick)
    assert importer.report.applied == stored
    if where == "between batches":
        assert stored > 0  # the batches before the interruption were kept
    again = Importer(quick, batch_size=200).run(path)
    assert again.replayed == stored and again.applied == summary["lines"] - stored


def test_a_batch_whose_append_breaks_a_key_is_rolled_back_to_its_savepoint_and_the_rest_committed(
        history, quick, tmp_path, monkeypatch):
    """A duplicate key inside a batch's append (here: its chain rows repeat the last position, as a
    racing writer's would) rolls back to that batch's savepoint: the import stops at the batch with
    a conflict, the batches before it in the same transaction are committed, and a re-run completes
    the store to the uninterrupted import's chain head."""
    import ledger.store.recorders as recorders

    path, summary = history
    chain_rows = recorders._chain_rows
    calls = {"n": 0}

    def forked(last, ids, events):
        calls["n"] += 1
        rows = chain_rows(last, ids, events)
        if calls["n"] == 6 and last is not None:
            rows[0] = (last[0], *rows[0][1:])  # the position already stored: the chain's key refuses it
        return rows

    monkeypatch.setattr(recorders, "_chain_rows", forked)
    with pytest.raises(LineRejected) as refused:
        Importer(quick, batch_size=200).run(path)
    monkeypatch.undo()
    assert "conflict" in refused.value.reason
    stored = stored_commands(quick)
    assert 0 < stored < summary["lines"]
    chained = quick.db.query("SELECT count(*) FROM ledger_chain")[0][0]
    assert quick.db.query(f"SELECT count(*) FROM {quick.db.events_table}")[0][0] == chained
    assert quick.chain_head()["position"] == chained
    assert_a_rerun_completes_the_store(quick, path, tmp_path, summary["lines"])


def test_after_an_import_the_ledger_reads_and_writes_as_before(history, quick, tmp_path):
    """The import's one connection is installed for the import only: afterwards the ledger's
    queries, the library's reads and the recorder's appends are their own again."""
    path, _ = history
    raw = path.read_bytes().splitlines()[:50]
    db, recorder = quick.db, quick.recorder
    before = (dict(db.__dict__), dict(recorder.__dict__), dict(recorder.datastore.__dict__),
              dict(quick.identity.__dict__))
    Importer(quick, batch_size=200).run(write(tmp_path / "head.jsonl", raw))
    after = (dict(db.__dict__), dict(recorder.__dict__), dict(recorder.datastore.__dict__),
             dict(quick.identity.__dict__))
    assert [sorted(d) for d in after] == [sorted(d) for d in before]
    for name in ("connection", "transaction"):
        assert name not in db.__dict__
    assert stored_commands(quick) == len(raw)
