"""The timeline's totals counted from its grant rows, as timeline_queries.totals_at did before
they were pre-summed (ADR 0022; round 6 made tl_totals): the oracle the pre-summed totals are
compared with, at any (D, K)."""

from __future__ import annotations

from typing import Any

from ledger.projections.timeline_queries import stab_arms


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
