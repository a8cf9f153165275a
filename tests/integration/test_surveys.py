"""Survey responses as facts: both times, pseudonymous, one per citizen and round; bad answers refused."""

from __future__ import annotations

import pytest

from helpers.history import open_ledger, run
from ledger.domain.errors import LedgerError
from ledger.domain.survey import SurveyResponse, survey_response_id

CITIZEN = "00000000-0000-4000-8000-000000000abc"


@pytest.fixture
def ledger(database_url):
    led = open_ledger(database_url)
    yield led
    led.close()


def _citizen(ledger) -> None:
    run(ledger, "register_citizen", {"citizen_id": CITIZEN, "municipality": 657, "effective": "2018-01-01",
                                     "residence": "own_home", "identity": {"cpr": "001399-0000",
                                                                           "name": "Test Testesen (testperson)"}})


def test_a_response_is_recorded_with_both_times_and_no_identity(ledger):
    _citizen(ledger)
    run(ledger, "record_survey_response", {"citizen_id": CITIZEN, "round_id": "tilfredshed-657-2019",
                                           "answered_on": "2019-10-05", "answers": {"safety": 4, "information": 5,
                                                                                    "coherence": None}},
        recorded="2019-10-20T10:00:00+00:00")
    r = ledger.repository.get(survey_response_id("tilfredshed-657-2019", CITIZEN))
    assert isinstance(r, SurveyResponse)
    assert r.answers == {"safety": 4, "information": 5, "coherence": None, "practical_help": None,
                         "personal_care": None}
    assert r.answered_on == "2019-10-05" and r.municipality == 657
    (event,) = list(ledger.repository.event_store.get(r.id))
    assert event.timestamp.isoformat().startswith("2019-10-20T10:00:00")
    assert "Testesen" not in repr(event.__dict__) and "001399" not in repr(event.__dict__)


@pytest.mark.parametrize("answers, message", [
    ({"safety": 6}, "1-5"), ({"safety": 0}, "1-5"), ({"happiness": 3}, "unknown survey measures"),
    ({"safety": None}, "at least one measure"),
])
def test_bad_answers_are_refused_and_store_nothing(ledger, answers, message):
    _citizen(ledger)
    with pytest.raises(LedgerError) as e:
        run(ledger, "record_survey_response", {"citizen_id": CITIZEN, "round_id": "r1", "answered_on": "2019-10-05",
                                               "answers": answers})
    assert message in str(e.value)
    assert ledger.repository.event_store.get(survey_response_id("r1", CITIZEN)) is not None
    assert not list(ledger.repository.event_store.get(survey_response_id("r1", CITIZEN)))


def test_a_second_answer_to_the_same_round_is_refused(ledger):
    _citizen(ledger)
    payload = {"citizen_id": CITIZEN, "round_id": "r1", "answered_on": "2019-10-05", "answers": {"safety": 3}}
    run(ledger, "record_survey_response", payload)
    with pytest.raises(LedgerError, match="already answered"):
        run(ledger, "record_survey_response", payload)
