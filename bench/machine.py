"""What the benchmarks say about the machine beside every figure: load average, cores, busy or not.

The machine is shared: a figure without the load it was measured under means little. Each benchmark prints
`load_line("before")` and `load_line("after")`, warns with `busy_warning()` when the one-minute load is
above the number of cores, and gives CPU time per record (which a busy machine inflates less than the
rate, though steal and cache sharing still inflate it).
"""

from __future__ import annotations

import os
import resource


def load_line(when: str) -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {when}: {one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"


def busy_warning() -> str | None:
    """A warning when the one-minute load average is above the cores (others' work shares them), else None."""
    one = os.getloadavg()[0]
    cores = os.cpu_count() or 1
    if one <= cores:
        return None
    return (f"WARNING: the machine is busy (load {one:.1f} on {cores} cores): rates below are pessimistic;"
            " compare the ratios within this run, and CPU per record rather than rates")


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """User + system CPU seconds of this process (or its waited-for children)."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime
