"""`python -m bench --compare-layout DIR`: this tree's `ora/` against the one in DIR (e.g. a worktree of an older
commit): import time in a fresh interpreter here, RSS at READY in the /ping run (DIR runs as a candidate).

Import time: a fresh `python -c` per measurement, with DIR (or this checkout) first on `sys.path`, timing with
`time.perf_counter` around `import ora.app` (the entry module of `python -m ora`), then around importing the
modules the entry module loads later by name (`EXTENSIONS`, lightbulb extensions of the older layout; the newer
one imports its features with `ora.app`), so "entry module + features" is all of the bot's code in both layouts.
The speed-up libraries are hidden as `bench/launch.py plain` hides them (the bot is measured that way too). The
trees alternate (A B, B A, …) after one unmeasured import each (which also writes their bytecode caches).

Most of that time is hikari, lightbulb and aiohttp, the same in both trees and noisy on a shared machine; so each
round also runs the probe under `python -X importtime` and sums the self time of the `ora.*` modules: the cost of
the tree's own code, which is what a layout changes.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.launch import MODES
from bench.stats import median

#: Runs in a fresh interpreter; prints one JSON line. Nothing is imported before the clock starts but `sys`, `time`.
PROBE = """
import sys, time
for name in {hidden!r}:
    sys.modules[name] = None
start = time.perf_counter()
import ora.app
entry = time.perf_counter()
import importlib
for name in getattr(ora.app, "EXTENSIONS", ()):
    importlib.import_module(name)
features = time.perf_counter()
import json, pathlib, re
loaded = [name for name, module in sys.modules.items() if module is not None]  # not the hidden ones
status = pathlib.Path("/proc/self/status").read_text()
rss = int(re.search(r"^VmRSS:\\s+(\\d+) kB", status, re.MULTILINE).group(1)) * 1024
print(json.dumps({{
    "file": ora.__file__,
    "entry_s": entry - start,
    "features_s": features - start,
    "modules": len(loaded),
    "ora_modules": sum(1 for name in loaded if name == "ora" or name.startswith("ora.")),
    "packages": sorted({{name.partition(".")[0] for name in loaded}}),
    "rss": rss,
}}))
"""
IMPORTTIME_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)$")


@dataclass
class ImportFigures:
    """One tree's imports: medians over the runs."""

    tree: str
    commit: str
    runs: int
    entry_ms: float
    features_ms: float
    modules: int
    ora_modules: int
    rss_mib: float
    #: `-X importtime`: the self time of the `ora.*` modules, summed (median over the runs)
    own_code_ms: float = math.nan
    entry_samples_ms: list[float] = field(default_factory=list)
    #: top-level packages in `sys.modules` after the import
    packages: list[str] = field(default_factory=list)


def _commit(tree: Path) -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(tree), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return out or "unknown"


def _probe(tree: Path, *, importtime: bool = False) -> dict[str, Any]:
    """One fresh interpreter importing `ora.app` from `tree`: the probe's figures, plus `own_code_s` (the `ora.*`
    modules' self time) when run under `-X importtime`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    env["PYTHONPATH"] = str(tree)
    hidden = MODES["plain"][0]
    flags = ["-X", "importtime"] if importtime else []
    result = subprocess.run(
        [sys.executable, *flags, "-c", PROBE.format(hidden=hidden)],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"importing ora.app from {tree} failed:\n{result.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    expected = (tree / "ora" / "__init__.py").resolve()
    if Path(str(figures["file"])).resolve() != expected:
        raise RuntimeError(f"the probe imported {figures['file']}, not {expected}")
    if importtime:
        own_us = 0
        for line in result.stderr.splitlines():
            match = IMPORTTIME_LINE.match(line)
            if match and (match.group(4) == "ora" or match.group(4).startswith("ora.")):
                own_us += int(match.group(1))
        figures["own_code_s"] = own_us / 1e6
    return figures


def measure_imports(trees: list[Path], runs: int) -> list[ImportFigures]:
    """`runs` fresh-interpreter imports of each tree, alternating (every other round in reverse order)."""
    samples: dict[Path, list[dict[str, Any]]] = {tree: [] for tree in trees}
    own: dict[Path, list[float]] = {tree: [] for tree in trees}
    for tree in trees:
        _probe(tree)  # warm-up: bytecode caches written, files in the page cache
    for round_index in range(runs):
        for tree in trees if round_index % 2 == 0 else trees[::-1]:
            samples[tree].append(_probe(tree))
            own[tree].append(float(_probe(tree, importtime=True)["own_code_s"]) * 1000.0)
    out: list[ImportFigures] = []
    for tree in trees:
        rows = samples[tree]
        entry = [float(row["entry_s"]) * 1000.0 for row in rows]
        out.append(
            ImportFigures(
                tree=str(tree),
                commit=_commit(tree),
                runs=runs,
                entry_ms=median(entry),
                features_ms=median([float(row["features_s"]) * 1000.0 for row in rows]),
                modules=int(median([float(row["modules"]) for row in rows])),
                ora_modules=int(median([float(row["ora_modules"]) for row in rows])),
                rss_mib=median([float(row["rss"]) / 1048576 for row in rows]),
                own_code_ms=median(own[tree]),
                entry_samples_ms=entry,
                packages=list(rows[-1]["packages"]),
            )
        )
    return out
