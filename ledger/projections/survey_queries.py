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
    return table in _existing(db, (table,))


def _existing(db: Any, tables: Sequence[str]) -> set[str]:
    """Which of `tables` exist (one statement for all: a read asks on every call)."""
    marks = ", ".join("?" for _ in tables)
    if db.is_postgres:
        sql = f"SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename IN ({marks})"
    else:
        sql = f"SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ({marks})"
    return {r[0] for r in db.query(sql, list(tables))}


def _mean(total: int, n: int) -> str | None:
    """`mean_one_decimal` of n integers from their sum."""
    if not n:
        return None
    return f"{(total * 10 + n // 2) // n / 10:.1f}"


def surveys_at(db: Any, municipalities: Sequence[int], as_of: str, known: str,
               totals: dict[tuple[int, str], list[int]], suffix: str = "") -> dict[int, list[dict[str, Any]]]:
    """Per municipality: one entry per survey round and measure, with the buyers' and the
    non-buyers' responses, answers, count of each score 1-5 and mean. `known` is a recorded key
    (timeline_queries.known_key). No survey table (a store built before it, or a projection set
    without it): no surveys.

    Everyone's counts come pre-summed with the timeline's totals on D at K (`totals`, from
    timeline_queries.totals_at: "r:<round>" responses, "q:<round>|<measure>|<score>" answers);
    the buyers' (few) are counted in the database from their own responses, and the non-buyers'
    are everyone's less the buyers'."""
    out: dict[int, list[dict[str, Any]]] = {m: [] for m in municipalities}
    if not municipalities:
        return out
    tables = _existing(db, ("sv_responses", f"tl_deliveries{suffix}"))
    if "sv_responses" not in tables:
        return out
    everyone: dict[tuple[int, str], list[int]] = {}  # (municipality, round) -> [responses, *answers by measure and score]
    for (m, key), (n, _) in totals.items():
        kind, _, name = key.partition(":")
        if kind == "r":
            everyone.setdefault((m, name), [0] * (1 + 5 * len(MEASURES)))[0] += n
        elif kind == "q":
            round_id, measure, score = name.rsplit("|", 2)
            everyone.setdefault((m, round_id), [0] * (1 + 5 * len(MEASURES)))[
                1 + 5 * MEASURES.index(measure) + int(score) - 1] += n
    bought: dict[tuple[int, str], list[int]] = {}
    if everyone and f"tl_deliveries{suffix}" in tables:
        marks = ", ".join("?" for _ in municipalities)
        cells = ", ".join(f"SUM(CASE WHEN r.{m} = {n} THEN 1 ELSE 0 END)" for m in MEASURES for n in range(1, 6))
        # The buyers' responses: a respondent's first delivery known at K (delivered, not a free
        # klippekort hour) on or before the day they answered. The few buyers drive, each one's
        # responses read by sv_responses (citizen_id): CROSS JOIN keeps SQLite to that order;
        # PostgreSQL reorders joins, and its plan (a hash join over every response of the
        # municipalities answered by D: 22,788 at national for ~600 buyers) took twice as long, so
        # there each buyer's responses are a LATERAL subquery (OFFSET 0 keeps it from being
        # flattened back into a join).
        responses = (f"sv_responses r WHERE r.citizen_id = f.citizen_id AND r.municipality IN ({marks}) "
                     "AND f.first <= r.answered_on AND r.answered_on <= ? AND r.recorded_from <= ?")
        if db.is_postgres:
            responses = f"LATERAL (SELECT * FROM {responses} OFFSET 0) r"
        for m, round_id, *counts in db.query(
                f"SELECT r.municipality, r.round_id, COUNT(*), {cells} FROM (SELECT citizen_id, MIN(date) AS first "
                f"FROM tl_deliveries{suffix} WHERE municipality IN ({marks}) AND status = 'delivered' AND klippekort = 0 "
                f"AND recorded_from <= ? AND recorded_to > ? GROUP BY citizen_id) f CROSS JOIN {responses} "
                "GROUP BY r.municipality, r.round_id",
                [*municipalities, known, known, *municipalities, as_of, known]):
            bought[(int(m), round_id)] = [int(v or 0) for v in counts]
    for (m, round_id), counts in sorted(everyone.items()):
        if not counts[0] or m not in out:
            continue
        of_buyers = bought.get((m, round_id), [0] * len(counts))
        groups = {GROUPS[0]: of_buyers, GROUPS[1]: [a - b for a, b in zip(counts, of_buyers)]}
        for i, measure in enumerate(MEASURES):
            entry: dict[str, Any] = {"round_id": round_id, "measure": measure}
            for group, found in groups.items():
                scores = found[1 + 5 * i: 1 + 5 * (i + 1)]
                answered = sum(scores)
                entry[group] = {"responses": found[0], "answered": answered, "scores": scores,
                                "mean_score": _mean(sum(n * s for n, s in zip(scores, range(1, 6))), answered)}
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
