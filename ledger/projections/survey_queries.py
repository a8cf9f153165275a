"""Survey answers as of (D, K), buyers against non-buyers (the evaluator's timeline; ADR 0021).

A respondent is a buyer when a delivery to them (delivered, not withdrawn, not a free klippekort
hour), dated on or before the day they answered, is known at K: the export's definition
(docs/evaluation-export.md, surveys.csv). The answers come from the survey read model
(`sv_responses`, surveys.py), the deliveries from the timeline's bitemporal `tl_deliveries`; both are
filtered by K, so the figures are those the records showed at K.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.domain.survey import MEASURES

GROUPS = ("buyers", "non_buyers")


def mean_one_decimal(values: Sequence[int]) -> str | None:
    """The mean to one decimal, rounded half up, exactly from integers (no float differences)."""
    if not values:
        return None
    return f"{(sum(values) * 10 + len(values) // 2) // len(values) / 10:.1f}"


def _exists(db: Any, table: str) -> bool:
    if db.is_postgres:
        return bool(db.query("SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?", [table]))
    return bool(db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table]))


def surveys_at(db: Any, municipalities: Sequence[int], as_of: str, known: str, suffix: str = ""
               ) -> dict[int, list[dict[str, Any]]]:
    """Per municipality: one entry per survey round and measure, with the buyers' and the
    non-buyers' responses, answers, count of each score 1-5 and mean. `known` is a recorded key
    (timeline_queries.known_key). No survey table (a store built before it, or a projection set
    without it): no surveys."""
    out: dict[int, list[dict[str, Any]]] = {m: [] for m in municipalities}
    if not municipalities or not _exists(db, "sv_responses"):
        return out
    marks = ", ".join("?" for _ in municipalities)
    responses = db.query(
        f"SELECT municipality, citizen_id, round_id, answered_on, {', '.join(MEASURES)} FROM sv_responses "
        f"WHERE municipality IN ({marks}) AND answered_on <= ? AND recorded_from <= ? "
        "ORDER BY round_id, response_id", [*municipalities, as_of, known])
    if not responses:
        return out
    first: dict[str, str] = {}
    if _exists(db, f"tl_deliveries{suffix}"):
        first = {c: d for c, d in db.query(
            f"SELECT citizen_id, MIN(date) FROM tl_deliveries{suffix} WHERE municipality IN ({marks}) "
            "AND status = 'delivered' AND klippekort = 0 AND recorded_from <= ? AND recorded_to > ? "
            "GROUP BY citizen_id", [*municipalities, known, known])}
    cells: dict[tuple[int, str, str, str], list[int | None]] = {}
    for m, citizen, round_id, answered_on, *answers in responses:
        bought = first.get(citizen)
        group = "buyers" if bought is not None and bought <= answered_on else "non_buyers"
        for measure, value in zip(MEASURES, answers):
            cells.setdefault((int(m), round_id, measure, group), []).append(None if value is None else int(value))
    rounds = sorted({(m, r) for m, r, _, _ in cells})
    for m, round_id in rounds:
        for measure in MEASURES:
            entry: dict[str, Any] = {"round_id": round_id, "measure": measure}
            for group in GROUPS:
                values = cells.get((m, round_id, measure, group), [])
                given = [v for v in values if v is not None]
                entry[group] = {"responses": len(values), "answered": len(given),
                                "scores": [sum(1 for v in given if v == s) for s in range(1, 6)],
                                "mean_score": mean_one_decimal(given)}
            out[m].append(entry)
    return out


SURVEY_COLUMNS = ("municipality", "round_id", "measure", "group", "responses", "answered", "score_1", "score_2",
                  "score_3", "score_4", "score_5", "mean_score")


def survey_rows(municipality: Any, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`surveys_at` entries as flat rows, one per round, measure and group (the columns of the
    export's surveys.csv)."""
    out = []
    for e in entries:
        for group in GROUPS:
            g = e[group]
            if g["responses"]:
                out.append({"municipality": municipality, "round_id": e["round_id"], "measure": e["measure"],
                            "group": group, "responses": g["responses"], "answered": g["answered"],
                            **{f"score_{n}": g["scores"][n - 1] for n in range(1, 6)}, "mean_score": g["mean_score"]})
    return out
