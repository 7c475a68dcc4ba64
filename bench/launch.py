"""Run a bot with or without the optional speed-ups, in one and the same environment.

    python bench/launch.py plain -m ora                 # hikari without orjson/ciso8601/zstd; asyncio loop
    python bench/launch.py speedups bench/minimal_bot.py # every speed-up that is installed, uvloop included

Modes: `plain` hides orjson, ciso8601, backports.zstd and uvloop from imports (hikari then falls back to the
standard library's json, datetime parsing and zlib), so one environment with `.[speedups,bench]` installed measures
every way. `libs` keeps hikari's optional libraries but not uvloop; `uvloop` is the reverse; `speedups` is
both. Where uvloop is used, its event loop policy is installed before the bot starts: this is what
`ora.app.main` would do if it adopted uvloop, so the bench measures that change before anyone makes it.

Two switches for the benchmark, from the environment:

- `BENCH_LINKD_COMPAT=off`: the ORA bot runs without `ora.core.linkd_compat` (linkd regenerating its dependency
  resolvers on every call, as before the layer), for the before/after comparison.
- `BENCH_PROFILE_OUT=FILE`: cProfile is armed but off; SIGUSR1 turns it on (the bot prints `bench: profiling`),
  SIGUSR2 turns it off and writes the statistics to FILE (`bench: profile written`), and the garbage
  collector's pauses in between (which cProfile does not see) to FILE.gc.json. `python -m bench
  --profile` uses this to profile exactly one burst.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import importlib
import json
import logging
import os
import runpy
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

#: hikari imports these opportunistically (`try: import … except ModuleNotFoundError`).
LIBRARY_MODULES = ("orjson", "ciso8601", "backports.zstd")
#: mode -> (modules hidden, whether uvloop's policy is installed)
MODES: dict[str, tuple[tuple[str, ...], bool]] = {
    "plain": ((*LIBRARY_MODULES, "uvloop"), False),
    "libs": (("uvloop",), False),
    "json": (("backports.zstd", "uvloop"), False),
    "uvloop": (LIBRARY_MODULES, True),
    "speedups": ((), True),
}


def _hide(modules: tuple[str, ...]) -> None:
    for name in modules:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises ModuleNotFoundError


def _use_uvloop() -> bool:
    try:
        uvloop: Any = importlib.import_module("uvloop")
    except ModuleNotFoundError:
        return False
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return True


def _leave_linkd_compat_off() -> None:
    try:
        compat: Any = importlib.import_module("ora.core.linkd_compat")
    except ModuleNotFoundError:  # a candidate copy of ora/ without the layer
        return

    def off(*_: object) -> bool:
        logging.getLogger("ora.core.linkd_compat").info("left off by the benchmark (BENCH_LINKD_COMPAT=off)")
        return False

    compat.cache_injection_resolvers = off  # before ora.app imports it


def _arm_profiler(out: Path) -> None:
    profiler = cProfile.Profile()
    collections: dict[int, list[float]] = {0: [], 1: [], 2: []}  # cProfile does not see the garbage collector
    started: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            collections[info["generation"]].append(time.perf_counter() - started[0])

    def start(_: int, __: FrameType | None) -> None:
        for durations in collections.values():
            durations.clear()
        gc.callbacks.append(on_gc)
        profiler.enable()
        print("bench: profiling", flush=True)

    def stop(_: int, __: FrameType | None) -> None:
        profiler.disable()
        gc.callbacks.remove(on_gc)
        gc_file = out.with_name(out.name + ".gc.json")
        gc_file.write_text(json.dumps({str(gen): durations for gen, durations in collections.items()}))
        partial = out.with_name(out.name + ".part")
        profiler.dump_stats(partial)
        partial.replace(out)
        print("bench: profile written", flush=True)

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] not in MODES:
        sys.exit(f"usage: launch.py {{{'|'.join(MODES)}}} (-m MODULE | SCRIPT) [ARGS…]")
    hidden, uvloop = MODES[argv[0]]
    rest = argv[1:]
    _hide(hidden)
    if uvloop and not _use_uvloop():
        sys.exit("launch.py: uvloop is not installed (pip install -e '.[speedups,bench]')")
    if os.environ.get("BENCH_LINKD_COMPAT") == "off":
        _leave_linkd_compat_off()
    if profile_out := os.environ.get("BENCH_PROFILE_OUT"):
        _arm_profiler(Path(profile_out))
    if rest[0] == "-m":
        sys.argv = [rest[1], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(rest)
        runpy.run_path(rest[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
