"""The store's contract, run against a SQLite file and a real PostgreSQL schema alike."""

from __future__ import annotations

import threading
import uuid

import orjson
import pytest

from ledger.domain.errors import (AlreadyExists, ConcurrencyConflict, IdempotencyMismatch, InvalidInput, NotFound,
                                  RuleViolated, StaleVersion)
from ledger.domain.order import Order
from ledger.store.chain import GENESIS, link
from tests.helpers.history import citizen_with_grant, herning, open_ledger, run, stored_rows


@pytest.fixture
def app(database_url):
    ledger = open_ledger(database_url)
    yield ledger
    ledger.close()


def test_stored_state_is_plain_json_with_both_times(app):
    herning(app)
    for _, _, _, topic, state in stored_rows(app):
        data = orjson.loads(state)
        assert "timestamp" in data and "effective" in data, topic
        assert data["municipality"] == 657
        assert data["command_id"] and data["actor"] and data["role"]


def test_aggregates_reload_from_the_store_equal_to_what_was_saved(app):
    herning(app)
    cid = citizen_with_grant(app)
    placed = run(app, "place_order", {"citizen_id": cid, "offer_id": "extra-cleaning", "kind": "recurring",
                                      "every_weeks": 2, "start": "2018-07-02", "minutes": 60},
                 recorded="2018-06-20T10:00:00+00:00")
    order_id = uuid.UUID(placed.result["order_id"])
    fresh = open_ledger(app.settings.database_url)
    try:
        order = fresh.repository.get(order_id)
        assert isinstance(order, Order)
        assert (order.start, order.end, order.every_weeks, order.minutes) == ("2018-07-02", "2021-12-31", 2, 60)
        assert order.quoted == {"price_ore": 35400, "vat_class": "exempt", "unit": "hour",
                                "price_ref": placed.result["quoted"]["price_ref"]}
    finally:
        fresh.close()


def test_a_retried_command_returns_the_first_result_and_records_nothing(app):
    herning(app)
    cid = citizen_with_grant(app)
    payload = {"citizen_id": cid, "amount": 12500, "date": "2018-08-01", "method": "bank_transfer"}
    first = run(app, "receive_payment", payload, "2018-08-01T10:00:00+00:00", command_id="pay-1")
    before = stored_rows(app)
    again = run(app, "receive_payment", payload, "2018-08-01T10:00:00+00:00", command_id="pay-1")
    assert again.replayed and again.result == first.result and again.position == first.position
    assert stored_rows(app) == before


def test_the_same_command_id_with_another_payload_is_refused(app):
    herning(app)
    cid = citizen_with_grant(app)
    run(app, "receive_payment", {"citizen_id": cid, "amount": 100, "date": "2018-08-01", "method": "cash"},
        "2018-08-01T10:00:00+00:00", command_id="pay-2")
    with pytest.raises(IdempotencyMismatch):
        run(app, "receive_payment", {"citizen_id": cid, "amount": 101, "date": "2018-08-01", "method": "cash"},
            "2018-08-01T10:00:00+00:00", command_id="pay-2")


@pytest.mark.parametrize("command_type, payload, error", [
    ("receive_payment", {"citizen_id": str(uuid.uuid4()), "amount": 100, "date": "2018-08-01", "method": "cash"}, NotFound),
    ("receive_payment", {"citizen_id": "CID", "amount": -5, "date": "2018-08-01", "method": "cash"}, InvalidInput),
    ("receive_payment", {"citizen_id": "CID", "amount": 10.5, "date": "2018-08-01", "method": "cash"}, InvalidInput),
    ("place_order", {"citizen_id": "CID", "offer_id": "extra-cleaning", "kind": "one_off", "start": "2017-01-05",
                     "minutes": 60}, RuleViolated),
    ("place_order", {"citizen_id": "CID", "offer_id": "no-such-item", "kind": "one_off", "start": "2018-07-05",
                     "minutes": 60}, NotFound),
    ("place_order", {"citizen_id": "CID", "offer_id": "extra-cleaning", "kind": "one_off", "start": "2018-13-05",
                     "minutes": 60}, InvalidInput),
    ("award_grant", {"citizen_id": "CID", "fsiii": "H9.99", "section": "83", "amount": {"minutes_per_week": 30},
                     "valid_from": "2018-01-01"}, InvalidInput),
    ("establish_scheme", {"municipality": 999, "name": "x", "window_start": "2018-01-01", "window_end": "2018-02-01",
                          "sections": ["83"], "minimum_minutes": 30, "increment_minutes": 30}, InvalidInput),
    ("establish_scheme", {"municipality": 657, "name": "again", "window_start": "2018-01-01",
                          "window_end": "2018-02-01", "sections": ["83"], "minimum_minutes": 30,
                          "increment_minutes": 30}, AlreadyExists),
])
def test_a_refused_command_changes_nothing(app, command_type, payload, error):
    herning(app)
    cid = citizen_with_grant(app)
    payload = {k: (cid if v == "CID" else v) for k, v in payload.items()}
    before = stored_rows(app)
    with pytest.raises(error):
        run(app, command_type, payload, "2018-08-01T10:00:00+00:00")
    assert stored_rows(app) == before


def test_an_order_needs_an_active_grant_under_a_covered_section(app):
    herning(app)
    cid = citizen_with_grant(app)
    run(app, "end_grant", {"citizen_id": cid, "grant_id": "cleaning", "last_day": "2018-06-30"})
    with pytest.raises(RuleViolated) as refused:
        run(app, "place_order", {"citizen_id": cid, "offer_id": "extra-cleaning", "kind": "one_off",
                                 "start": "2018-07-05", "minutes": 60})
    assert refused.value.rule == "no-active-grant"


def test_an_order_needs_the_municipal_provider_where_the_scheme_says_so(app):
    herning(app)
    cid = citizen_with_grant(app, provider="private:Hjemmehjælp A/S")
    with pytest.raises(RuleViolated) as refused:
        run(app, "place_order", {"citizen_id": cid, "offer_id": "extra-cleaning", "kind": "one_off",
                                 "start": "2018-07-05", "minutes": 60})
    assert refused.value.rule == "provider-not-municipal"


def test_no_delivery_outside_the_order_or_of_implausible_length(app):
    herning(app)
    cid = citizen_with_grant(app)
    order = run(app, "place_order", {"citizen_id": cid, "offer_id": "extra-cleaning", "kind": "one_off",
                                     "start": "2018-07-05", "minutes": 60}).result["order_id"]
    with pytest.raises(RuleViolated):
        run(app, "record_delivery", {"order_id": order, "date": "2018-07-06", "band": "weekday_day", "minutes": 60,
                                     "staff_id": "s-1"}, "2018-07-07T10:00:00+00:00")
    with pytest.raises(InvalidInput):
        run(app, "record_delivery", {"order_id": order, "date": "2018-07-05", "band": "weekday_day",
                                     "minutes": 30 * 60, "staff_id": "s-1"}, "2018-07-07T10:00:00+00:00")
    with pytest.raises(NotFound):
        run(app, "record_delivery", {"order_id": str(uuid.uuid4()), "date": "2018-07-05", "band": "weekday_day",
                                     "minutes": 60, "staff_id": "s-1"}, "2018-07-07T10:00:00+00:00")


def test_a_stale_expected_version_is_refused(app):
    herning(app)
    cid = citizen_with_grant(app)
    order = run(app, "place_order", {"citizen_id": cid, "offer_id": "extra-cleaning", "kind": "recurring",
                                     "every_weeks": 1, "start": "2018-07-02", "minutes": 60}).result["order_id"]
    from ledger.domain.base import Context
    with pytest.raises(StaleVersion):
        app.execute("change_order", {"order_id": order, "effective": "2018-08-01", "every_weeks": 2},
                    Context("t", "administrator", "stale-1"), expected_versions={uuid.UUID(order): 7})


def test_two_writers_racing_on_one_aggregate_one_wins_and_nothing_is_lost(database_url):
    setup = open_ledger(database_url)
    herning(setup)
    cid = citizen_with_grant(setup)
    order = run(setup, "place_order", {"citizen_id": cid, "offer_id": "extra-cleaning", "kind": "recurring",
                                       "every_weeks": 1, "start": "2018-07-02", "minutes": 60}).result["order_id"]
    writers = [open_ledger(database_url) for _ in range(2)]
    from ledger.domain.order import Order as O
    loaded = [w.repository.get(uuid.UUID(order)) for w in writers]
    assert all(isinstance(o, O) for o in loaded)
    barrier = threading.Barrier(2)
    outcomes: list[object] = [None, None]

    def write(i: int) -> None:
        from ledger.domain.base import Context
        ctx = Context("t", "administrator", f"race-{i}")
        loaded[i].change(ctx, __import__("datetime").date(2018, 8, 1), i + 2, None, None)
        barrier.wait()
        try:
            writers[i].save(loaded[i])
            outcomes[i] = "won"
        except Exception as e:  # noqa: BLE001 - the test inspects the type
            outcomes[i] = e

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert outcomes.count("won") == 1
    loser = next(o for o in outcomes if o != "won")
    from eventsourcing.persistence import IntegrityError
    assert isinstance(loser, IntegrityError)
    final = setup.repository.get(uuid.UUID(order))
    assert final.version == 2 and final.every_weeks in (2, 3)
    for w in writers:
        w.close()
    setup.close()


def test_a_lost_race_through_the_application_is_a_clear_conflict(database_url):
    a, b = open_ledger(database_url), open_ledger(database_url)
    herning(a)
    cid = citizen_with_grant(a)
    from ledger.application.ledger import Submission
    from ledger.domain.base import Context
    # b holds a copy of the citizen from before a's change (as a long import would in its cache).
    stale = {uuid.UUID(cid): b.repository.get(uuid.UUID(cid))}
    run(a, "change_residence", {"citizen_id": cid, "effective": "2018-09-01", "residence": "nursing_home"})
    before = stored_rows(a)
    with pytest.raises(ConcurrencyConflict):
        b.execute_batch([Submission("change_residence", {"citizen_id": cid, "effective": "2018-09-02",
                                                         "residence": "own_home"}, Context("t", "administrator", "late"))],
                        cache=stale)
    assert stored_rows(a) == before
    assert b.prior_commands(["late"]) == {}
    a.close()
    b.close()


def test_every_stored_event_is_chained_in_order(app):
    herning(app)
    citizen_with_grant(app)
    rows = stored_rows(app)
    chain = app.db.query("SELECT position, notification_id, hash FROM ledger_chain ORDER BY position")
    assert [c[0] for c in chain] == list(range(1, len(rows) + 1))
    previous = GENESIS
    for (pos, nid, h), (rid, oid, ver, topic, state) in zip(chain, rows):
        assert nid == rid
        previous = link(previous, pos, oid, ver, topic, state)
        assert bytes(h) == previous


def test_queries_in_one_go_answer_as_each_query_alone(app):
    herning(app)
    cid = citizen_with_grant(app)
    statements = [("SELECT count(*) FROM ledger_chain", []),
                  ("SELECT command_id FROM ledger_commands ORDER BY command_id", []),
                  ("SELECT position FROM ledger_chain WHERE position > ? ORDER BY position", [2])]
    assert app.db.queries(statements) == [app.db.query(text, params) for text, params in statements]
    assert app.db.queries([]) == []
    ids = [c for (c,) in app.db.query("SELECT command_id FROM ledger_commands")] + ["never-given"]
    assert app.prior_from(app.db.queries(app.prior_statements(ids))) == app.prior_commands(ids)
    assert set(app.prior_commands(ids)) == set(ids) - {"never-given"} and cid


def test_the_group_commits_look_up_gives_what_the_application_would_ask(app):
    """The writer's one round trip before a group (its log check and the group's command records,
    ADR 0030) answers what `execute_batch` would have asked on its own, and the group is stored
    the same."""
    from ledger.application.group_commit import GroupCommit, _Aggregates
    from ledger.application.ledger import Submission
    from ledger.domain.base import Context

    herning(app)
    cid = citizen_with_grant(app)
    done = run(app, "change_residence", {"citizen_id": cid, "effective": "2018-09-01", "residence": "nursing_home"})
    cache = _Aggregates(100)
    found, prior = cache.fresh(app, [], [done.command_id, "new-one"])
    assert prior == app.prior_commands([done.command_id, "new-one"]) and done.command_id in prior
    writer = GroupCommit(app, threads=1)
    writer._local.aggregates = cache
    again = Submission("change_residence", {"citizen_id": cid, "effective": "2018-09-01", "residence": "nursing_home"},
                       Context("tester", "administrator", done.command_id))
    new = Submission("change_residence", {"citizen_id": cid, "effective": "2018-10-01", "residence": "own_home"},
                     Context("tester", "administrator", "new-one"))
    replayed, stored = writer._store([again, new])
    assert replayed.replayed and replayed.result == done.result
    assert not stored.replayed and stored.position is not None
    assert set(app.prior_commands(["new-one"])) == {"new-one"}


def test_a_save_that_fails_after_its_events_went_in_stores_nothing_and_the_next_save_works(app, monkeypatch):
    """A failure between the events' insert and the commit (here: writing the command records)
    leaves nothing of the save, on either backend, and the connection it used is clean for the next
    save (PostgreSQL: BEGIN and COMMIT are statements of the save's one pipeline, ADR 0030)."""
    import ledger.store.recorders as recorders

    herning(app)
    before = stored_rows(app)
    rows = recorders._command_rows

    def failing(commands, position):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(recorders, "_command_rows", failing)
    for _ in range(3):  # more than the pool's connections would hide
        with pytest.raises(RuntimeError, match="disk on fire"):
            citizen_with_grant(app)
    monkeypatch.setattr(recorders, "_command_rows", rows)
    assert stored_rows(app) == before
    assert app.db.query("SELECT count(*) FROM ledger_chain")[0][0] == len(before)
    cid = citizen_with_grant(app)
    assert app.repository.get(uuid.UUID(cid)).version >= 1
    chain = app.db.query("SELECT position FROM ledger_chain ORDER BY position")
    assert [c[0] for c in chain] == list(range(1, len(stored_rows(app)) + 1))
