"""Progress bars for long steps, shown only on a terminal (never in logs, pipes or tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

Callback = Callable[[int, int], None]


class Bars:
    """Hands out one bar per step; `enabled=False` (not a terminal) hands out no-op callbacks."""

    def __init__(self, console: Console, enabled: bool | None = None) -> None:
        self.console = console
        self.enabled = console.is_terminal if enabled is None else enabled

    @contextmanager
    def step(self, label: str) -> Iterator[Callback]:
        if not self.enabled:
            yield _ignore
            return
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=self.console, transient=True) as bar:
            task = bar.add_task(label, total=None)

            def update(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            yield update


def _ignore(done: int, total: int) -> None:
    return None
