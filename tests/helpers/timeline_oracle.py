"""The timeline's totals counted from its grant rows, as timeline_queries.totals_at did before
they were pre-summed (ADR 0022; round 6 made tl_totals), and the survey answers as
survey_queries.surveys_at did: the oracles the pre-summed totals are compared with, at any (D, K)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.domain.values import SURVEY_MEASURES as MEASURES
from ledger.projections.survey_queries import GROUPS, _exists, _mean
from ledger.projections.timeline_queries import stab_arms


def of_grants(totals: dict[tuple[int, str], list[int]]) -> dict[tuple[int, str], list[int]]:
    """The grants' totals ("c:" and "s:" keys) of a timeline_queries.totals_at day, without the
    surveys' ("r:", "q:")."""
    return {key: v for key, v in totals.items() if key[1][:2] in ("c:", "s:")}


def counted_totals(db: Any, ms: list[int], day: str, k: str, suffix: str = "") -> dict[tuple[int, str], list[int]]:
    """(municipality, key) -> [citizens, weekly minutes] on `day` as known at K, counted in SQL
    over the grant rows believed at K and valid on the day."""
    columns = "municipality, citizen_id, fsiii, section, weekly_minutes"
    marks = ", ".join("?" for _ in ms)
    rows_sql, params = stab_arms(f"tl_grants{suffix}", columns, f"municipality IN ({marks})", ms, day, k)
    sections = "string_agg(DISTINCT section, ',')" if db.is_postgres else "group_concat(DISTINCT section)"
    sql = (f"WITH a AS (SELECT {columns} FROM ({rows_sql}) x) "
           "SELECT 'c', municipality, fsiii, COUNT(DISTINCT citizen_id), SUM(weekly_minutes) FROM a "
           "GROUP BY municipality, fsiii UNION ALL "
           "SELECT 's', municipality, sections, COUNT(*), 0 FROM "
           f"(SELECT municipality, citizen_id, {sections} AS sections FROM a GROUP BY municipality, citizen_id) p "
           "GROUP BY municipality, sections")
    out: dict[tuple[int, str], list[int]] = {}
    for kind, m, name, citizens, minutes in db.query(sql, params):
        if kind == "s":  # the database lists a citizen's sections in no particular order
            name = ",".join(sorted(name.split(",")))
        v = out.setdefault((int(m), f"{kind}:{name}"), [0, 0])
        v[0] += int(citizens)
        v[1] += int(minutes or 0)
    return out


def counted_surveys(db: Any, municipalities: Sequence[int], as_of: str, known: str, suffix: str = ""
               ) -> dict[int, list[dict[str, Any]]]:
    """survey_queries.surveys_at as it was before everyone's counts were pre-summed: every
    response counted in the database, one row per (municipality, round, group)."""
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
