"""`python -m bench --profile [NAME]`: cProfile exactly one /ping burst of one bot, and summarise it.

The bot is started under `bench/launch.py` with `BENCH_PROFILE_OUT` (cProfile armed but off), warmed up with
ten pings and one unprofiled burst, then SIGUSR1 turns the profiler on, one burst (25 users × 8 /ping) runs,
and SIGUSR2 turns it off and writes the statistics. Written to `bench/out/profile-NAME.pstats` (open it with
`python -m pstats`, snakeviz, …) and `bench/out/profile-NAME.txt` (this module's summary).

cProfile adds a roughly constant cost per Python call, so absolute times are inflated (CPU per interaction
under the profiler is reported next to the one without); the ranking is what it is for.
"""

from __future__ import annotations

import json
import pstats
import signal
import sys
import sysconfig
from collections import defaultdict
from pathlib import Path

from bench import procstat
from bench.bots import BotSpec
from bench.harness import REPO_ROOT, running_bot
from bench.pings import burst, warm_up

USERS = 25
PER_USER = 8
SIGNAL_TIMEOUT = 30.0
OWN_CODE = REPO_ROOT / "ora"
STDLIB = Path(sysconfig.get_paths()["stdlib"])

FuncKey = tuple[str, int, str]
FuncStats = tuple[int, int, float, float, dict[FuncKey, tuple[int, int, float, float]]]


async def profile_burst(spec: BotSpec, name: str, out_dir: Path) -> str:
    pstats_path = _fresh_output(out_dir, name)
    env = {**spec.env, "BENCH_PROFILE_OUT": str(pstats_path)}
    async with running_bot(spec.kind, "plain", ora_source=spec.source, label=spec.label, extra_env=env) as bot:
        await warm_up(bot.emulator)
        await burst(bot.emulator, USERS, PER_USER)
        plain_cpu_before = procstat.cpu_seconds(bot.pid)
        plain_seconds = await burst(bot.emulator, USERS, PER_USER)
        plain_cpu = procstat.cpu_seconds(bot.pid) - plain_cpu_before

        mark = len(bot.process.stdout_lines)
        bot.process.process.send_signal(signal.SIGUSR1)
        await bot.process.wait_for_line("bench: profiling", start=mark, timeout=SIGNAL_TIMEOUT)
        cpu_before = procstat.cpu_seconds(bot.pid)
        seconds = await burst(bot.emulator, USERS, PER_USER)
        cpu = procstat.cpu_seconds(bot.pid) - cpu_before
        mark = len(bot.process.stdout_lines)
        bot.process.process.send_signal(signal.SIGUSR2)
        await bot.process.wait_for_line("bench: profile written", start=mark, timeout=SIGNAL_TIMEOUT)
    interactions = USERS * PER_USER
    header = [
        f"Profile of one burst of the {spec.label} bot: {USERS} users × {PER_USER} /ping = {interactions} "
        f"interactions; command: python -m bench --profile {name}",
        f"Without the profiler (the burst before): {interactions / plain_seconds:.0f}/s, "
        f"{plain_cpu * 1000 / interactions:.2f} ms CPU per interaction.",
        f"Under cProfile: {interactions / seconds:.0f}/s, {cpu * 1000 / interactions:.2f} ms CPU per interaction.",
        f"Statistics: {pstats_path.name} (python -m pstats {pstats_path.name}).",
    ]
    header.append(garbage_collection(pstats_path, interactions))
    text = "\n".join([*header, "", summarise(pstats.Stats(str(pstats_path)), interactions)])
    pstats_path.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")  # once, small
    return text


def _fresh_output(out_dir: Path, name: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = (out_dir / f"profile-{name}.pstats").resolve()
    path.unlink(missing_ok=True)
    return path


def garbage_collection(pstats_path: Path, interactions: int) -> str:
    """The collector's pauses during the profiled burst, per generation (not part of cProfile's figures)."""
    gc_file = pstats_path.with_name(pstats_path.name + ".gc.json")
    pauses: dict[str, list[float]] = json.loads(gc_file.read_text())
    total = sum(sum(durations) for durations in pauses.values())
    parts = ", ".join(
        f"generation {gen}: {len(durations)} × {sum(durations) * 1000 / max(1, len(durations)):.1f} ms"
        for gen, durations in sorted(pauses.items())
    )
    return f"Garbage collector during the burst: {total * 1000 / interactions:.3f} ms per interaction ({parts})."


WATCHED = (
    ("linkd/solver.py", "_codegen_dependency_func"),
    ("linkd/solver.py", "_prepare_kwargs"),
    ("lightbulb/client.py", "handle_application_command_interaction"),
    ("lightbulb/commands/execution.py", "_run"),
    ("hikari/impl/rest.py", "create_interaction_response"),
    ("hikari/impl/entity_factory.py", "deserialize_command_interaction"),
)


def where(filename: str) -> str:
    """The package a function belongs to: `ora`, a distribution in site-packages, a stdlib module, built-ins."""
    if filename.startswith("~") or filename.startswith("<"):
        return "built-ins"
    path = Path(filename)
    if path.is_relative_to(OWN_CODE):
        return "ora"
    parts = path.parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].removesuffix(".py")
    if path.is_relative_to(STDLIB):
        relative = path.relative_to(STDLIB).parts
        return f"stdlib {relative[0].removesuffix('.py')}"
    return "other"


def label(key: FuncKey) -> str:
    filename, line, function = key
    if filename.startswith("~"):
        return function
    path = Path(filename)
    for root in (REPO_ROOT, *(Path(p) for p in sys.path if p)):
        if path.is_relative_to(root):
            path = path.relative_to(root)
            break
    if "site-packages" in path.parts:
        path = Path(*path.parts[path.parts.index("site-packages") + 1 :])
    return f"{path}:{line} {function}"


def summarise(stats: pstats.Stats, interactions: int) -> str:
    raw: dict[FuncKey, FuncStats] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    per_package: dict[str, float] = defaultdict(float)
    for key, entry in raw.items():
        per_package[where(key[0])] += entry[2]

    def ms(seconds: float) -> str:
        return f"{seconds * 1000 / interactions:.3f}"

    lines = [f"Profiled time: {ms(total)} ms per interaction (sum of own time of every function).", ""]
    lines += ["Own time by package (ms per interaction, share):"]
    for package, seconds in sorted(per_package.items(), key=lambda item: -item[1])[:15]:
        lines.append(f"  {ms(seconds):>7}  {seconds / total:6.1%}  {package}")
    lines += ["", "Top 25 functions by own time (ms per interaction, calls per interaction):"]
    for key, entry in sorted(raw.items(), key=lambda item: -item[1][2])[:25]:
        lines.append(f"  {ms(entry[2]):>7}  {entry[1] / interactions:7.2f}  {label(key)}")
    lines += ["", "Selected library call sites by cumulative time (ms per interaction, calls per interaction):"]
    for key, entry in sorted(raw.items(), key=lambda item: -item[1][3]):
        if any(key[0].endswith(path) and key[2] == function for path, function in WATCHED):
            lines.append(f"  {ms(entry[3]):>7}  {entry[1] / interactions:7.2f}  {label(key)}")
    own = [(key, entry) for key, entry in raw.items() if where(key[0]) == "ora" and "/testing/" not in key[0]]
    lines += [
        "",
        "The bot's own code (ora/) by cumulative time, callees included (ms per interaction, calls per "
        "interaction, own time ms):",
    ]
    for key, entry in sorted(own, key=lambda item: -item[1][3])[:20]:
        lines.append(f"  {ms(entry[3]):>7}  {entry[1] / interactions:7.2f}  {ms(entry[2]):>7}  {label(key)}")
    return "\n".join(lines)
