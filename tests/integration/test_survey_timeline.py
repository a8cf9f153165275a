"""Survey answers in the evaluator's timeline, buyers against non-buyers, as of D and as known at K."""

from __future__ import annotations

import pytest

from helpers.history import citizen_with_grant, herning, open_ledger, run
from ledger.projections import all_projections
from ledger.projections import timeline_queries as tq
from ledger.projections.engine import Engine

ROUND = "tilfredshed-657-2019"


@pytest.fixture
def ledger(database_url):
    led = open_ledger(database_url)
    yield led
    led.close()


def _answer(ledger, citizen: str, on: str, recorded: str, **answers: int | None) -> None:
    run(ledger, "record_survey_response", {"citizen_id": citizen, "round_id": ROUND, "answered_on": on,
                                           "answers": answers}, recorded=recorded)


def _surveys(ledger, as_of: str, known_at: str | None = None) -> dict:
    Engine(ledger.db, all_projections()).catch_up()
    (entry,) = tq.timeline(ledger.db, 657, as_of, known_at)["municipalities"]
    return {e["measure"]: e for e in entry["surveys"]}


def test_the_timeline_splits_survey_answers_by_whether_the_citizen_had_bought_before_answering(ledger):
    herning(ledger)
    buyer, late_buyer, never = (citizen_with_grant(ledger) for _ in range(3))
    for who, day in ((buyer, "2019-03-04"), (late_buyer, "2019-11-04")):
        order = run(ledger, "place_order", {"citizen_id": who, "offer_id": "extra-cleaning", "kind": "one_off",
                                            "start": day, "minutes": 60}, recorded=f"{day}T08:00:00+00:00")
        run(ledger, "record_delivery", {"order_id": order.result["order_id"], "date": day, "band": "weekday_day",
                                        "minutes": 60, "units": 1, "staff_id": "s1"},
            recorded=f"{day}T12:00:00+00:00")
    _answer(ledger, buyer, "2019-10-01", "2019-10-10T09:00:00+00:00", safety=5, information=4)
    _answer(ledger, late_buyer, "2019-10-02", "2019-10-10T09:00:00+00:00", safety=3, information=None)
    _answer(ledger, never, "2019-10-03", "2019-12-20T09:00:00+00:00", safety=2, information=2)

    now = _surveys(ledger, "2019-12-31")
    assert set(now) == {"safety", "information", "coherence", "practical_help", "personal_care"}
    safety = now["safety"]
    assert safety["round_id"] == ROUND
    assert safety["buyers"] == {"responses": 1, "answered": 1, "scores": [0, 0, 0, 0, 1], "mean_score": "5.0"}
    # Bought only after answering: a non-buyer in this round.
    assert safety["non_buyers"] == {"responses": 2, "answered": 2, "scores": [0, 1, 1, 0, 0], "mean_score": "2.5"}
    assert now["information"]["non_buyers"]["answered"] == 1
    assert now["coherence"]["buyers"] == {"responses": 1, "answered": 0, "scores": [0] * 5, "mean_score": None}
    # As known at K: the third answer was recorded later; as of D: answers after D are not yet given.
    assert _surveys(ledger, "2019-12-31", "2019-11-30")["safety"]["non_buyers"]["responses"] == 1
    assert _surveys(ledger, "2019-10-01")["safety"]["non_buyers"]["responses"] == 0
    assert _surveys(ledger, "2019-09-30") == {}
    # Everyone's counts pre-summed with the timeline's totals, the buyers' counted: the same as
    # counting every response (the query before, ADR 0022 round 6), at any (D, K).
    from ledger.projections.survey_queries import surveys_at
    from tests.helpers.timeline_oracle import counted_surveys

    for d in ("2019-10-01", "2019-10-02", "2019-12-31"):
        for k in (tq.known_key("2019-10-10"), "2019-10-10T08:59:59.999999", tq.known_key("2019-12-20"), tq.KNOWN_NOW):
            totals = tq.totals_at(ledger.db, [657], [d], k)[d]
            assert surveys_at(ledger.db, [657], d, k, totals) == counted_surveys(ledger.db, [657], d, k), (d, k)


def test_the_timeline_command_prints_the_surveys_section_as_csv(ledger, database_url):
    from typer.testing import CliRunner

    from ledger.cli import app

    herning(ledger)
    who = citizen_with_grant(ledger)
    _answer(ledger, who, "2019-10-01", "2019-10-10T09:00:00+00:00", safety=4)
    result = CliRunner().invoke(app, ["timeline", "-m", "657", "--as-of", "2019-12-31", "-f", "csv", "--section",
                                      "surveys"], env={"LEDGER_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ("municipality,round_id,measure,group,responses,answered,score_1,score_2,score_3,score_4,"
                        "score_5,mean_score")
    assert f"657,{ROUND},safety,non_buyers,1,1,0,0,0,1,0,4.0" in lines
