"""Invoice runs carry no value taken from the store's notification-id sequence (issue 13).

PostgreSQL's sequence advances for a transaction that is rolled back or killed, so an import that was
interrupted and run again numbers its events differently. The runs remember chain positions
(contiguous, content-derived), so the same history stores byte-identical events whatever gaps the
sequence has: here against a SQLite store of the same history, with the sequence pushed on before
every command (PostgreSQL).
"""

from __future__ import annotations

from ledger.application import Ledger
from ledger.settings import Settings
from tests.integration.test_replay_chain import _run, history_steps


def _events(app: Ledger) -> list[tuple[str, bytes]]:
    rows = app.db.query(f"SELECT e.topic, e.state FROM ledger_chain c JOIN {app.db.events_table} e "
                        f"ON e.{app.db.position_column} = c.notification_id ORDER BY c.position")
    return [(t, bytes(s)) for t, s in rows]


def test_a_history_stores_the_same_events_whatever_gaps_the_id_sequence_has(database_url, tmp_path):
    reference = Ledger(Settings(database_url=f"sqlite:///{tmp_path / 'reference.db'}"))
    gapped = Ledger(Settings(database_url=database_url))
    try:
        for n, (command_type, payload, recorded) in enumerate(history_steps(), start=1):
            _run(reference, n, command_type, payload, recorded)
            if gapped.db.is_postgres:  # what a killed transaction leaves behind
                gapped.db.query(f"SELECT nextval(pg_get_serial_sequence('{gapped.db.events_table}', "
                                "'notification_id')) FROM generate_series(1, 3)")
            _run(gapped, n, command_type, payload, recorded)
        if gapped.db.is_postgres:
            ids = [r[0] for r in gapped.db.query("SELECT notification_id FROM ledger_chain ORDER BY position")]
            assert ids[-1] > len(ids), "the sequence has gaps"
        ours, theirs = _events(gapped), _events(reference)
        assert [t for t, _ in ours] == [t for t, _ in theirs]
        runs = [i for i, (t, _) in enumerate(ours) if t.endswith("InvoiceRunCompleted") or t.endswith("InvoiceIssued")]
        assert runs and all(ours[i] == theirs[i] for i in runs)
        assert ours == theirs
    finally:
        reference.close()
        gapped.close()
