"""A one-line progress report for long replays: records done, rate, time left; on a terminal only.

The replay runs in worker processes; each adds the records it has read to one shared counter
(`multiprocessing.Value`), and a thread of the parent process rewrites the line on stderr twice a
second. When stderr is not a terminal (a pipe, a log file, a test) nothing is printed.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
import time
from typing import Any, TextIO

_counter: Any = None
"""This process's share of the shared counter (set in each worker process by `attach`)."""


def attach(counter: Any) -> None:
    """Make `counter` the one `advance` adds to (the pool's initializer in each worker process)."""
    global _counter
    _counter = counter


def advance(n: int) -> None:
    """Count n more records read (no-op when no progress is shown)."""
    counter = _counter
    if counter is not None:
        with counter.get_lock():
            counter.value += n


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def line(done: int, total: int, elapsed_s: float) -> str:
    """'replay: 1,200,000 of 4,000,000 records (30 %), 98,000/s, about 29 s left'."""
    rate = done / elapsed_s if elapsed_s > 0 else 0.0
    share = f" ({100 * done // total} %)" if total else ""
    left = f", about {_duration((total - done) / rate)} left" if rate > 0 and total > done else ""
    return f"replay: {done:,} of {total:,} records{share}, {rate:,.0f}/s{left}"


class Progress:
    """Shows the shared counter against `total` on `stream` while the replay runs (a context manager).

    `enabled=None` means: only when `stream` is a terminal.
    """

    def __init__(self, total: int, *, stream: TextIO | None = None, enabled: bool | None = None,
                 interval_s: float = 0.5) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.interval_s = interval_s
        self.counter: Any = multiprocessing.get_context("spawn").Value("q", 0) if self.enabled else None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = 0.0

    def __enter__(self) -> Progress:
        if self.enabled:
            attach(self.counter)  # a replay in this very process counts too
            self._started = time.monotonic()
            self._thread = threading.Thread(target=self._run, name="cshub-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(timeout=5)
        attach(None)
        self._show(final=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self._show()

    def _show(self, final: bool = False) -> None:
        text = line(self.counter.value, self.total, time.monotonic() - self._started)
        self.stream.write(f"\r\x1b[K{text}" + ("\n" if final else ""))
        self.stream.flush()
