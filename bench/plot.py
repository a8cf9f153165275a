"""One picture of how the read side scales: rebuild rate and query latency against history size.

    python bench/plot.py [bench/results/results.json] [bench/results/scaling.png]

Reads what bench/run.py measured: per backend, the network and national stores (and the synthetic
1x / 4x stores of the timeline4x step, by their log size when known).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def _points(runs: dict[str, Any], backend: str, step: str, value: Any) -> list[tuple[int, float]]:
    out = []
    for scale in ("network", "national"):
        r = runs.get(f"{backend}/{scale}/{step}")
        events = (runs.get(f"{backend}/{scale}/import") or {}).get("events") or (r or {}).get("events")
        v = value(r) if r else None
        if events and v is not None:
            out.append((events, v))
    return sorted(out)


def plot(results: Path, out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = json.loads(results.read_text())["runs"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for backend, style in (("sqlite", "o-"), ("postgres", "s-")):
        for step, key, label in (("rebuild", "rebuild_events_per_second", "rebuild"),
                                 ("rebuild", "raw_events_per_second", "raw read+decode"),
                                 ("peer", "events_per_second", "library runner")):
            pts = _points(runs, backend, step, lambda r, k=key: r.get(k))
            if pts:
                left.plot(*zip(*pts), style, label=f"{label} ({backend})", alpha=0.85)
        for step, label in (("timeline", "timeline p95"), ("audit", "audit p95")):
            if step == "timeline":
                pts = _points(runs, backend, step, lambda r: (r.get("all") or {}).get("p95_ms"))
            else:
                pts = _points(runs, backend, step, lambda r: r.get("p95_ms"))
            if pts:
                right.plot(*zip(*pts), style, label=f"{label} ({backend})", alpha=0.85)
        four = runs.get(f"{backend}/synthetic/timeline4x") or {}
        syn = four.get("synthetic") or {}
        pts = [(syn[k].get("events") or syn[k].get("log_events"), (syn[k].get("all") or {}).get("p95_ms"))
               for k in ("x1", "x4") if isinstance(syn.get(k), dict)]
        pts = [p for p in pts if p[0] and p[1] is not None]
        if pts:
            right.plot(*zip(*pts), style.replace("-", "--"), label=f"timeline p95, synthetic 1x/4x ({backend})")
    left.set(xscale="log", yscale="log", xlabel="events in the log", ylabel="events per second",
             title="Rebuilding every projection")
    right.set(xscale="log", yscale="log", xlabel="events in the log", ylabel="milliseconds", title="Query latency (p95)")
    right.axhline(50, color="grey", linestyle=":", linewidth=1)
    right.text(right.get_xlim()[0], 51, " 50 ms target (timeline, national)", color="grey", fontsize=8)
    left.axhline(100_000, color="grey", linestyle=":", linewidth=1)
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "results" / "results.json"
    dst = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "results" / "scaling.png"
    print(plot(src, dst))
