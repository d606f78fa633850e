"""Progress of a long command: a rich bar per kind of item on a terminal, otherwise a plain line
every few seconds (logs, CI, pipes; $MEMIO_PROGRESS_SECONDS sets how many, 0 for a line per
item), both on stderr so stdout stays the command's output."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Mapping
from types import TracebackType
from typing import IO, Any

__all__ = ["Progress"]


class Progress:
    """Counts per label (``facts``, ``messages``...), with `totals` where they are known."""

    def __init__(
        self,
        title: str,
        *,
        totals: Mapping[str, int] | None = None,
        stream: IO[str] | None = None,
        every: float | None = None,
    ) -> None:
        self.title = title
        self.totals = dict(totals or {})
        self.stream = stream or sys.stderr
        self.every = every if every is not None else _seconds_between_lines()
        self.counts: Counter[str] = Counter()
        self._started = time.monotonic()
        self._last_line = self._started
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> Progress:
        if self.stream.isatty():
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
            )
            from rich.progress import Progress as Bar

            self._bar = Bar(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._bar.start()
        return self

    def advance(self, label: str, count: int = 1) -> None:
        self.counts[label] += count
        if self._bar is not None:
            task = self._tasks.get(label)
            if task is None:
                task = self._tasks[label] = self._bar.add_task(
                    f"{self.title} {label}", total=self.totals.get(label), rate=""
                )
            self._bar.update(task, advance=count, rate=f"{self._rate(label):.0f}/s")
            return
        now = time.monotonic()
        if now - self._last_line >= self.every:
            self._last_line = now
            self._print_line()

    def _rate(self, label: str) -> float:
        return self.counts[label] / max(time.monotonic() - self._started, 1e-6)

    def _print_line(self) -> None:
        parts = []
        for label, count in self.counts.items():
            total = self.totals.get(label)
            parts.append(f"{label} {count}" + (f"/{total}" if total is not None else ""))
        elapsed = time.monotonic() - self._started
        rate = sum(self.counts.values()) / max(elapsed, 1e-6)
        print(
            f"{self.title}: {', '.join(parts) or 'starting'} ({rate:.0f} items/s, {elapsed:.0f} s)",
            file=self.stream,
            flush=True,
        )

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif self.counts:
            self._print_line()


def _seconds_between_lines() -> float:
    try:
        return max(0.0, float(os.environ.get("MEMIO_PROGRESS_SECONDS", "5")))
    except ValueError:
        return 5.0
