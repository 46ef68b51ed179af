"""The machine a benchmark ran on, as every script prints it, and the CPU it spent."""

from __future__ import annotations

import os
import platform


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what platform knows."""
    try:
        with open("/proc/cpuinfo") as f:
            return next(line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def memory_gib() -> float:
    """Total RAM in GiB."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def describe() -> str:
    """'2 cores (CPU), 24 GiB RAM, Python 3.x': the start of every benchmark's header."""
    return (f"{os.cpu_count()} cores ({cpu_model()}), {memory_gib():.0f} GiB RAM, Python "
            f"{platform.python_version()}")


def busy_cpu_seconds() -> float | None:
    """CPU seconds all processes have used so far (Linux /proc/stat), else None."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()[1:9]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
