"""The survey read model: one row per citizen's answer to a survey round (ADR 0021).

`SurveyResponseRecorded` (ledger/domain/survey.py) is written once per (round, citizen) and never
revised, so one row per response, with the instant it was recorded, serves every (D, K): a read
as of D keeps answers given on or before D, as known at K those recorded by K. Which group a
respondent belongs to (bought before answering or not) is a join at query time with the
timeline's delivery history (survey_queries.py), so it too is as known at K.
"""

from __future__ import annotations

from ledger.domain.values import SURVEY_MEASURES as MEASURES
from ledger.projections.engine import Projection, RawEvent, Table, View
from ledger.projections.reader import recorded_key

RESPONSES = Table(
    "sv_responses",
    {"response_id": "TEXT", "municipality": "INTEGER", "citizen_id": "TEXT", "round_id": "TEXT",
     "answered_on": "TEXT", "recorded_from": "TEXT", **{m: "INTEGER" for m in MEASURES}},
    ("response_id",),
    # By citizen: the timeline's survey read counts the buyers' responses from their own rows
    # (everyone's come pre-summed with the timeline's totals, ADR 0022 round 6).
    indexes=(("municipality", "answered_on"), ("citizen_id",)),
)


class SurveyProjection(Projection):
    name = "surveys"
    version = 1
    tables = (RESPONSES,)
    rebuild_cost = 0.05

    def on_SurveyResponseRecorded(self, e: RawEvent, view: View) -> None:
        s = e.state
        answers = s["answers"]
        view.put(RESPONSES, {"response_id": e.originator_id, "municipality": s["municipality"],
                             "citizen_id": s["citizen_id"], "round_id": s["round_id"], "answered_on": s["effective"],
                             "recorded_from": recorded_key(e.recorded), **{m: answers.get(m) for m in MEASURES}})
