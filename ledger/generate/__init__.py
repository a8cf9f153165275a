"""A realistic, seeded trial history as an import file (JSON lines, see docs/import-format.md).

    from ledger.generate import SCALES, generate
    summary = generate(SCALES["network"], seed=1, out="network.jsonl")

Same seed, scale and take-up → byte-identical file. Memory stays bounded whatever the scale: each
citizen's life is generated on its own and the lines are put in recorded order by an external sort.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ledger.generate.citizen import LEAVE_RATE, Life, Stats
from ledger.generate.clock import iso_date
from ledger.generate.commands import Cmd
from ledger.generate.municipal import invoice_runs, reminder_runs, setup
from ledger.generate.sorting import ExternalSorter
from ledger.generate.world import HISTORY_START, SCALES, Scale, World, custom_scale

__all__ = ["SCALES", "Scale", "custom_scale", "generate", "DEFAULT_TAKE_UP"]

DEFAULT_TAKE_UP = 0.01  # of recipients who start buying in a year (the trials saw about 0.5 %)
YEARS = 5  # 2017–2021: arrivals replace those who leave

Progress = Callable[[str, int, int], None]


def citizens_in(scale: Scale, m: int) -> int:
    """Everyone who is a recipient at some point: the stock at the start plus those who arrive later."""
    stock = scale.recipients(m)
    return stock + round(stock * LEAVE_RATE * YEARS)


def generate(scale: Scale, seed: int, out: str | Path, take_up: float = DEFAULT_TAKE_UP,
             progress: Progress | None = None, tmp_dir: str | Path | None = None) -> dict[str, Any]:
    """Write the history to `out` (atomically) and return a summary of what is in it."""
    started = time.perf_counter()
    world = World(scale, seed)
    prefix = f"s{seed}"
    sorter = ExternalSorter(tmp_dir)
    types: Counter[str] = Counter()
    stats = Stats()
    reminders: set[tuple[int, int]] = set()
    first_runs: dict[int, int] = {}

    def emit(cmd: Cmd, command_id: str) -> None:
        cmd.command_id = f"{prefix}.{command_id}"
        types[cmd.type] += 1
        sorter.add(cmd.t, cmd.line())

    try:
        for m in sorted(world.trials):
            for k, cmd in enumerate(setup(world, m)):
                emit(cmd, f"m{m}.{k}")
        total = sum(citizens_in(scale, m) for m in scale.municipalities)
        done = 0
        for m in scale.municipalities:
            for i in range(citizens_in(scale, m)):
                for k, cmd in enumerate(Life(world, m, i, take_up, reminders, stats, first_runs).run()):
                    emit(cmd, f"c{m}.{i}.{k}")
                done += 1
                if progress is not None and done % 500 == 0:
                    progress("citizens", done, total)
        if progress is not None:
            progress("citizens", total, total)
        by_municipality: dict[int, list[int]] = {}
        for m, day in sorted(reminders):
            by_municipality.setdefault(m, []).append(day)
        for m in sorted(world.trials):
            for cmd in invoice_runs(world, m, first_runs.get(m)):
                emit(cmd, cmd.command_id)
            for cmd in reminder_runs(m, by_municipality.get(m, [])):
                emit(cmd, cmd.command_id)
        path = Path(out)
        partial = path.with_name(path.name + ".partial")
        written = 0
        with open(partial, "wb", buffering=1 << 20) as f:
            for line in sorter.lines():
                f.write(line)
                written += 1
                if progress is not None and written % 20_000 == 0:
                    progress("writing", written, sorter.count)
        os.replace(partial, path)
        if progress is not None:
            progress("writing", written, sorter.count)
    finally:
        sorter.close()
    below_cost = [b for c in world.catalogues.values() for b in c.below_cost]
    return {
        "scale": scale.name,
        "recipients_factor": scale.factor,
        "municipalities": len(scale.municipalities),
        "trial_municipalities": sorted(world.trials),
        "seed": seed,
        "take_up": take_up,
        "history": f"{iso_date(HISTORY_START)}..2022-06-30 (recorded)",
        "lines": written,
        "commands": dict(sorted(types.items())),
        "citizens": stats.citizens,
        "recipients_at_start": sum(scale.recipients(m) for m in scale.municipalities),
        "buyers": stats.buyers,
        "orders": stats.orders,
        "deliveries": stats.deliveries,
        "invoices_expected": stats.invoices,
        "planted_substitution_cases": sorted(stats.planted, key=lambda p: (p["municipality"], p["citizen_id"])),
        "planted_below_cost": [{**b, "sales": [x for x in stats.planted_sales if x["municipality"] == b["municipality"]]}
                               for b in below_cost],
        "seconds": round(time.perf_counter() - started, 2),
    }
