"""Cost bases for test catalogues: each band's full cost equal to its price (docs/adr/0027)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from ledger.domain.catalogue import catalogue_id


def parts(total: int) -> dict[str, int]:
    """One band's full cost split into its four parts, adding up to `total` exactly."""
    overhead, transport, capital = total * 12 // 100, total * 7 // 100, total * 3 // 100
    return {"wage": total - overhead - transport - capital, "overhead": overhead, "transport": transport,
            "capital": capital}


def at_cost(prices: Mapping[str, int]) -> dict[str, dict[str, int]]:
    """The cost basis per band at which `prices` are each band's full cost."""
    return {band: parts(price) for band, price in prices.items()}


def append_legacy_catalogue_event(db: Any, municipality: int, event: str, fields: Mapping[str, Any],
                                  recorded: str, effective: str) -> str:
    """Append a catalogue event in its version-1 shape (one cost basis for every band), the way a
    writer before docs/adr/0027 stored it, at the catalogue's next version; returns its ref. The
    catalogue must exist. The rule that refuses a price off full cost cannot be met by such an
    event: it is how the audit's tests still see off-cost versions (from old events, upcast)."""
    cat = catalogue_id(municipality)
    oid = str(cat) if db.is_postgres else cat.hex
    state = {"timestamp": recorded, "effective": effective, "municipality": municipality,
             "actor": "legacy-writer", "role": "catalogue_manager", "command_id": str(uuid.uuid4()), **fields}
    with db.transaction() as cur:
        cur.execute(db.sql(f"SELECT max(originator_version) FROM {db.events_table} WHERE originator_id = ?"), [oid])
        version = int(cur.fetchone()[0]) + 1
        cur.execute(db.sql(f"INSERT INTO {db.events_table} (originator_id, originator_version, topic, state) "
                           "VALUES (?, ?, ?, ?)"),
                    [oid, version, f"ledger.domain.catalogue:Catalogue.{event}", orjson.dumps(state)])
    return f"{cat}:{version}"
