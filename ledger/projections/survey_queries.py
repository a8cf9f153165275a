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

from ledger.domain.values import SURVEY_MEASURES as MEASURES

GROUPS = ("buyers", "non_buyers")


def mean_one_decimal(values: Sequence[int]) -> str | None:
    """The mean to one decimal, rounded half up, exactly from integers (no float differences)."""
    return _mean(sum(values), len(values))


def _exists(db: Any, table: str) -> bool:
    if db.is_postgres:
        return bool(db.query("SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?", [table]))
    return bool(db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table]))


def _mean(total: int, n: int) -> str | None:
    """`mean_one_decimal` of n integers from their sum."""
    if not n:
        return None
    return f"{(total * 10 + n // 2) // n / 10:.1f}"


def surveys_at(db: Any, municipalities: Sequence[int], as_of: str, known: str, suffix: str = ""
               ) -> dict[int, list[dict[str, Any]]]:
    """Per municipality: one entry per survey round and measure, with the buyers' and the
    non-buyers' responses, answers, count of each score 1-5 and mean. `known` is a recorded key
    (timeline_queries.known_key). No survey table (a store built before it, or a projection set
    without it): no surveys.

    Counted in the database, one row per (municipality, round, group): a network read at
    national size has ~12k responses, which cost more to fetch than to count."""
    out: dict[int, list[dict[str, Any]]] = {m: [] for m in municipalities}
    if not municipalities or not _exists(db, "sv_responses"):
        return out
    marks = ", ".join("?" for _ in municipalities)
    params: list[Any] = []
    if _exists(db, f"tl_deliveries{suffix}"):
        # A respondent's first delivery known at K (delivered, not a free klippekort hour).
        first = (f"LEFT JOIN (SELECT citizen_id, MIN(date) AS first FROM tl_deliveries{suffix} "
                 f"WHERE municipality IN ({marks}) AND status = 'delivered' AND klippekort = 0 "
                 "AND recorded_from <= ? AND recorded_to > ? GROUP BY citizen_id) f ON f.citizen_id = r.citizen_id")
        buyer = "CASE WHEN f.first IS NOT NULL AND f.first <= r.answered_on THEN 1 ELSE 0 END"
        params += [*municipalities, known, known]
    else:
        first, buyer = "", "0"
    cells = ", ".join(f"COUNT(r.{m}), COALESCE(SUM(r.{m}), 0), "
                      + ", ".join(f"SUM(CASE WHEN r.{m} = {n} THEN 1 ELSE 0 END)" for n in range(1, 6))
                      for m in MEASURES)
    rows = db.query(
        f"SELECT r.municipality, r.round_id, {buyer} AS buyer, COUNT(*), {cells} FROM sv_responses r {first} "
        f"WHERE r.municipality IN ({marks}) AND r.answered_on <= ? AND r.recorded_from <= ? "
        "GROUP BY r.municipality, r.round_id, buyer", [*params, *municipalities, as_of, known])
    groups: dict[tuple[int, str], dict[str, tuple[Any, ...]]] = {}
    for m, round_id, bought, responses, *figures in rows:
        groups.setdefault((int(m), round_id), {})[GROUPS[0] if int(bought) else GROUPS[1]] = (responses, *figures)
    for (m, round_id), by_group in sorted(groups.items()):
        for i, measure in enumerate(MEASURES):
            entry: dict[str, Any] = {"round_id": round_id, "measure": measure}
            for group in GROUPS:
                found = by_group.get(group)
                if found is None:
                    entry[group] = {"responses": 0, "answered": 0, "scores": [0] * 5, "mean_score": None}
                    continue
                answered, total, *scores = (int(v or 0) for v in found[1 + 7 * i: 1 + 7 * (i + 1)])
                entry[group] = {"responses": int(found[0]), "answered": answered, "scores": scores,
                                "mean_score": _mean(total, answered)}
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
