"""A realistic, seeded trial history as an import file (JSON lines, see docs/import-format.md).

    from ledger.generate import SCALES, generate
    summary = generate(SCALES["network"], seed=1, out="network.jsonl")

Same seed, scale and take-up → byte-identical file. Memory stays bounded whatever the scale: each
citizen's life is generated on its own and the lines are put in recorded order by an external sort.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ledger.generate.behaviour import DEFAULT, Behaviour
from ledger.generate.citizen import LEAVE_RATE, Life, Stats
from ledger.generate.clock import iso_date
from ledger.generate.commands import Cmd
from ledger.generate.municipal import invoice_runs, reminder_runs, setup
from ledger.generate.sorting import ExternalSorter
from ledger.generate.world import HISTORY_START, SCALES, Scale, World, custom_scale

__all__ = ["SCALES", "Scale", "custom_scale", "generate", "DEFAULT_TAKE_UP", "Behaviour", "truth_path"]

DEFAULT_TAKE_UP = DEFAULT.take_up  # first purchases per eligible recipient-year (tuned to about 0.5 % buying a year)
YEARS = 5  # 2017–2021: arrivals replace those who leave

Progress = Callable[[str, int, int], None]


def citizens_in(scale: Scale, m: int) -> int:
    """Everyone who is a recipient at some point: the stock at the start plus those who arrive later."""
    stock = scale.recipients(m)
    return stock + round(stock * LEAVE_RATE * YEARS)


def truth_path(out: str | Path) -> Path:
    """Where the simulation's ground truth goes: beside the history, `<out>.truth.json`."""
    path = Path(out)
    return path.with_name(path.name + ".truth.json")


def generate(scale: Scale, seed: int, out: str | Path, take_up: float | None = None,
             progress: Progress | None = None, tmp_dir: str | Path | None = None,
             behaviour: Behaviour | None = None) -> dict[str, Any]:
    """Write the history to `out` (atomically), the simulation's ground truth beside it
    (`truth_path(out)`), and return a summary of what is in them."""
    behaviour = behaviour or DEFAULT
    if take_up is not None:
        behaviour = replace(behaviour, take_up=take_up)
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
                for k, cmd in enumerate(Life(world, m, i, behaviour, reminders, stats, first_runs).run()):
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
        truth = {"seed": seed, "scale": scale.name, "behaviour": behaviour.as_dict(), "cuts": stats.cuts,
                 "substitutions": sorted(stats.substitutions, key=lambda x: (x["municipality"], x["order_id"])),
                 "vat_mismatches": sorted(stats.vat_mismatches, key=lambda x: (x["municipality"], x["order_id"]))}
        tp = truth_path(path)
        tp.with_name(tp.name + ".partial").write_bytes(orjson.dumps(truth, option=orjson.OPT_INDENT_2))
        os.replace(tp.with_name(tp.name + ".partial"), tp)
        if progress is not None:
            progress("writing", written, sorter.count)
    finally:
        sorter.close()
    return {
        "scale": scale.name,
        "recipients_factor": scale.factor,
        "municipalities": len(scale.municipalities),
        "trial_municipalities": sorted(world.trials),
        "seed": seed,
        "take_up": behaviour.take_up,
        "behaviour": behaviour.as_dict(),
        "history": f"{iso_date(HISTORY_START)}..2022-06-30 (recorded)",
        "lines": written,
        "commands": dict(sorted(types.items())),
        "citizens": stats.citizens,
        "recipients_at_start": sum(scale.recipients(m) for m in scale.municipalities),
        "buyers": stats.buyers,
        "orders": stats.orders,
        "deliveries": stats.deliveries,
        "invoices_expected": stats.invoices,
        "cleaning_cuts": stats.cuts,
        "survey_responses": stats.survey_responses,
        "truth": str(truth_path(path)),
        "true_substitutions": truth["substitutions"],
        "true_vat_mismatches": truth["vat_mismatches"],
        "seconds": round(time.perf_counter() - started, 2),
    }
