"""Replaying the log reproduces the billing read model exactly, on SQLite and PostgreSQL: a rebuild
from zero equals the live projection built in many small catch-ups, and a projection process
killed (SIGKILL) in the middle of a batch resumes to the same tables as an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from ledger.projections import billing_queries as q
from ledger.projections.reader import head_position
from tests.helpers.billing_factories import (HERNING, billing_digests, billing_engine, billing_history, caught_up,
                                             deliver, invoice_run, open_ledger, order, pay, refund)

REPO = Path(__file__).resolve().parents[2]


def test_a_rebuild_from_zero_equals_the_live_projection_table_for_table(database_url):
    ledger = open_ledger(database_url)
    try:
        live = billing_engine(ledger, batch_size=3)
        live.catch_up()  # an empty log first: the live tables exist from the start
        ids = billing_history(ledger)
        live.catch_up(until=head_position(ledger.db) // 2)  # part now, the rest after more commands
        o = order(ledger, ids["citizens"][1], "extra-cleaning", "2019-05-02", minutes=45)
        deliver(ledger, o, "2019-05-02", 45)
        invoice_run(ledger, HERNING, "2019-05")
        pay(ledger, ids["citizens"][1], 1_000_000, "2019-06-03")
        refund(ledger, ids["citizens"][1], 500_000, "2019-06-10")  # part of the credit paid out
        live.catch_up()
        before = billing_digests(live)
        balances = q.balances(ledger.db, HERNING)

        live.rebuild(swap=False)
        assert billing_digests(live, "__rebuild") == before
        live.drop_suffix()
        live.rebuild()  # swapped in: the live tables are now the rebuilt ones
        assert billing_digests(live) == before
        assert q.balances(ledger.db, HERNING) == balances
        assert live.catch_up() == {"billing": head_position(ledger.db)}
        assert billing_digests(live) == before
    finally:
        ledger.close()


# The projection process under test: it counts the events it applies and kills itself with
# SIGKILL after KILL_AFTER of them, wherever that falls inside a batch (no exception, no cleanup).
CRASHING_PROCESS = textwrap.dedent("""
    import os, signal, sys
    from ledger.db import Database
    from ledger.projections.billing import BillingProjection
    from ledger.projections.engine import Engine

    kill_after = int(os.environ["KILL_AFTER"])
    projection = BillingProjection()
    applied = 0

    def counting(handler):
        def apply(event, view):
            global applied
            applied += 1
            if applied > kill_after:
                os.kill(os.getpid(), signal.SIGKILL)
            handler(event, view)
        return apply

    for attr in dir(BillingProjection):
        if attr.startswith("on_"):
            setattr(projection, attr, counting(getattr(projection, attr)))
    db = Database(sys.argv[1])
    Engine(db, [projection], batch_size=int(os.environ["BATCH"])).catch_up()
    db.close()
""")


def _tracked(db) -> int:
    rows = db.query("SELECT position FROM projection_tracking WHERE name = 'billing'")
    return int(rows[0][0]) if rows else 0


def _forget_billing(ledger) -> None:
    """Invoice runs catch the billing projection up to their chain head (ADR 0021): start it from
    zero again, so the crashing process below has the whole history to apply."""
    from ledger.projections.billing import BillingProjection

    with ledger.db.transaction() as cur:
        for table in BillingProjection.tables:
            cur.execute(f"DROP TABLE IF EXISTS {table.name}")
        cur.execute("DELETE FROM projection_tracking WHERE name = 'billing'")


def test_a_projection_killed_mid_batch_resumes_to_the_same_tables_as_an_uninterrupted_run(database_url, tmp_path):
    ledger = open_ledger(database_url)
    try:
        billing_history(ledger)
        _forget_billing(ledger)
        head = head_position(ledger.db)
        script = tmp_path / "crashing_projection.py"
        script.write_text(CRASHING_PROCESS)
        env = {**os.environ, "PYTHONPATH": str(REPO), "KILL_AFTER": "15", "BATCH": "5"}
        kills, positions = 0, []
        while True:  # each run applies some batches, then dies inside the next one
            done = subprocess.run([sys.executable, str(script), database_url], env=env, capture_output=True,
                                  text=True, timeout=120)
            if done.returncode == 0:
                break
            assert done.returncode == -signal.SIGKILL, done.stderr
            kills += 1
            positions.append(_tracked(ledger.db))
            assert kills < 50, "no progress between kills"
        assert kills >= 2
        assert 0 < positions[0] < positions[-1] < head  # committed batches survived each kill
        assert _tracked(ledger.db) == head

        engine = billing_engine(ledger)
        engine.rebuild(swap=False)  # the uninterrupted run, from zero
        assert billing_digests(engine) == billing_digests(engine, "__rebuild")
        # and the figures a user reads are the aggregate's own
        db = caught_up(ledger)
        assert all(b["balance"] == b["invoiced"] + b["fees"] - b["credited"] - b["paid"] for b in q.balances(db, HERNING))
    finally:
        ledger.close()
