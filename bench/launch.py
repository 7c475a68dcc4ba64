"""Run a bot with or without the optional speed-ups, in one and the same environment.

    python bench/launch.py plain -m ora                 # hikari without orjson/ciso8601/zstd; asyncio loop
    python bench/launch.py speedups bench/minimal_bot.py # every speed-up that is installed, uvloop included

Modes: `plain` hides orjson, ciso8601, backports.zstd and uvloop from imports (hikari then falls back to the
standard library's json, datetime parsing and zlib), so one environment with `.[speedups,bench]` installed measures
every way. `libs` keeps hikari's optional libraries but not uvloop; `uvloop` is the reverse; `speedups` is
both. Where uvloop is used, its event loop policy is installed before the bot starts: this is what
`ora.app.main` would do if it adopted uvloop, so the bench measures that change before anyone makes it.
"""

from __future__ import annotations

import asyncio
import importlib
import runpy
import sys
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


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[0] not in MODES:
        sys.exit(f"usage: launch.py {{{'|'.join(MODES)}}} (-m MODULE | SCRIPT) [ARGS…]")
    hidden, uvloop = MODES[argv[0]]
    rest = argv[1:]
    _hide(hidden)
    if uvloop and not _use_uvloop():
        sys.exit("launch.py: uvloop is not installed (pip install -e '.[speedups,bench]')")
    if rest[0] == "-m":
        sys.argv = [rest[1], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = list(rest)
        runpy.run_path(rest[0], run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
