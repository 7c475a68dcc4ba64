"""What a process costs, read from Linux's /proc (no psutil): CPU time and resident memory."""

from __future__ import annotations

import os
import re
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
MIB = 1024 * 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (utime + stime in /proc/<pid>/stat), in seconds."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])  # fields 14 and 15 of proc(5), counted from 'state' = 3
    return (utime + stime) / CLOCK_TICKS


def _status_kib(pid: int, key: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{key}:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else 0


def rss_bytes(pid: int) -> int:
    """Resident set size now (VmRSS)."""
    return _status_kib(pid, "VmRSS") * 1024


def peak_rss_bytes(pid: int) -> int:
    """Peak resident set size so far (VmHWM)."""
    return _status_kib(pid, "VmHWM") * 1024


def machine_description() -> dict[str, str]:
    """nproc, CPU model and memory of this machine, for the results table."""
    model = "unknown"
    with Path("/proc/cpuinfo").open() as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    meminfo = Path("/proc/meminfo").read_text()
    match = re.search(r"^MemTotal:\s+(\d+) kB", meminfo, re.MULTILINE)
    memory = f"{int(match.group(1)) / 1024 / 1024:.1f} GiB" if match else "unknown"
    return {"nproc": str(len(os.sched_getaffinity(0))), "cpu": model, "memory": memory}
