"""Run one command and report its wall time, CPU time and peak RSS summed over all its processes.

    python bench/summed_rss.py -- ledger-replay verify --db sqlite:////tmp/ledger-bench/national-s1.db

Issue 12 counts memory as the peak, over time, of the RSS of every process of a job added up
(rebuild workers, verify's chain process); `/usr/bin/time` reports one process's peak only. The
sampling is bench/run.py's `SummedRss` (every 0.1 s), so the figures compare with its steps.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import SummedRss, _proc_rss_kib  # noqa: E402 - bench/ is a folder of scripts, not a package


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if not argv:
        print("usage: python bench/summed_rss.py -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    load = os.getloadavg()
    own_kib = _proc_rss_kib(os.getpid())  # this wrapper's own share, left out of the sum
    started = time.perf_counter()
    before = os.times()
    with SummedRss() as summed:
        code = subprocess.call(argv)
    after = os.times()
    report = {
        "command": argv, "exit_code": code, "wall_seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round((after.children_user - before.children_user)
                             + (after.children_system - before.children_system), 1),
        "peak_rss_summed_mib": round((summed.peak_kib - own_kib) / 1024), "processes_at_peak": summed.processes,
        "load_average_at_start": [round(x, 2) for x in load],
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(report), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
