"""`python -m bench`: the ORA bot against a minimal hikari + lightbulb bot, in the same run on the same machine.

For each run (3 by default; medians reported) and each speed-up variant, the full bot (on SQLite, on PostgreSQL
or both: `--database`) and the minimal bot are started in turn against a fresh emulator and measured with the same
`/ping` workload, then the full bots with `/privacy set` (a database write). With `--compare-layout DIR`, the full
bot from DIR's `ora/` joins the run as a candidate and both trees' import times are measured. Then `/chat`
streaming (issue 4), dependencies under load (issue 6) and, when `bench/bench_dataset.py` exists, its benchmark.
Results go to stdout as Markdown and to `bench/out/` (Markdown and JSON).

PostgreSQL: one throwaway server (`ora.testing.postgres.PostgresServer`) for the whole run, stopped at its end
(errors included); every start of the full bot on it gets a fresh database as `DATABASE_URL`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime
import importlib
import importlib.util
import inspect
import json
import math
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast, get_args

import hikari
import lightbulb

from bench import command_costs, procstat
from bench.bots import BASELINES, FULL_ON, MINIMAL, PROFILE_TARGETS, BotSpec
from bench.chat import PROFILES, ChatFigures, measure_chat
from bench.harness import BENCH_DIR, REPO_ROOT, Database, RunningBot, Variant, add_site_dirs, running_bot
from bench.layout import ImportFigures, measure_imports
from bench.load import LOAD_ENV, LoadFigures, measure_load
from bench.pings import PingFigures, measure_interleaved
from bench.profiling import profile_burst
from bench.report import render
from bench.stats import median
from ora.testing.postgres import PostgresServer

OUT_DIR = BENCH_DIR / "out"
DEFAULT_SITE = OUT_DIR / "site-speedups"
VARIANT_NEEDS: dict[str, tuple[str, ...]] = {
    "plain": (),
    "json": ("orjson", "ciso8601"),
    "libs": ("orjson", "ciso8601", "backports.zstd"),
    "uvloop": ("uvloop",),
    "speedups": ("orjson", "ciso8601", "backports.zstd", "uvloop"),
}
DATABASE_CHOICES: dict[str, tuple[Database, ...]] = {
    "sqlite": ("sqlite",),
    "postgresql": ("postgresql",),
    "both": ("sqlite", "postgresql"),
}
#: `--compare-layout DIR` adds DIR as this candidate (unless a `--candidate` already names DIR)
LAYOUT_CANDIDATE = "other layout"
IMPORT_RUNS = 15
IMPORT_QUICK_RUNS = 3
SEQUENTIAL_BLOCK = 25
DATASET_MIB = 25.0
DATASET_QUICK_MIB = 5.0


@dataclass
class Options:
    runs: int
    sequential: int
    users: int
    per_user: int
    burst_rounds: int
    chat_answers: int
    load_pings: int
    variants: tuple[Variant, ...]
    site_dirs: tuple[Path, ...]
    skip: frozenset[str]
    candidates: dict[str, Path]
    quick: bool
    out_dir: Path
    no_baselines: bool = False
    profile: str | None = None
    costs: bool = False
    #: the full bot's store(s): the first one also serves /chat and the load test
    databases: tuple[Database, ...] = ("sqlite",)
    #: `--compare-layout DIR`: the other tree (also in `candidates`) and the name it has there
    compare_layout: Path | None = None
    layout_candidate: str = ""


@dataclass
class Sample:
    """One bot, one variant, one run."""

    ready_s: float
    synced_s: float
    serving_s: float
    rss_ready_mib: float
    pings: PingFigures


@dataclass
class Results:
    machine: dict[str, str]
    command: str
    options: dict[str, Any]
    started: str
    seconds: float = 0.0
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    skipped_variants: dict[str, str] = field(default_factory=dict)
    chat: list[ChatFigures] = field(default_factory=list)
    load: LoadFigures | None = None
    dataset: str = ""
    #: `--compare-layout`: this tree first, then the other one
    imports: list[ImportFigures] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def paired_burst_ratio(self, label: str, other: str, variant: str = "plain") -> float:
        """Median over runs of the median over rounds of `label`'s burst throughput ÷ `other`'s in that round."""
        per_run: list[float] = []
        for mine, theirs in zip(
            self.samples.get(f"{label}/{variant}", []), self.samples.get(f"{other}/{variant}", []), strict=False
        ):
            rates = zip(mine.pings.burst_rates, theirs.pings.burst_rates, strict=False)
            per_run.append(median([a / b for a, b in rates if b > 0]))
        return median(per_run)

    def median_of(self, kind: str, variant: str, metric: str) -> float:
        values: list[float] = []
        for sample in self.samples.get(f"{kind}/{variant}", []):
            holder: Any = sample.pings if hasattr(sample.pings, metric) else sample
            values.append(float(getattr(holder, metric)))
        return median(values)

    def privacy_median(self, label: str, metric: str, variant: str = "plain") -> float:
        """Median over runs of one `/privacy set` figure of `label` (NaN where it was not measured)."""
        return median(
            [
                float(getattr(sample.pings.privacy, metric))
                for sample in self.samples.get(f"{label}/{variant}", [])
                if sample.pings.privacy is not None
            ]
        )


def parse_options(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--quick", action="store_true", help="one short run of everything (a smoke test)")
    parser.add_argument("--runs", type=int, default=None, help="runs per bot and variant (default 3, quick 1)")
    parser.add_argument(
        "--variants",
        default="plain,speedups",
        help="comma-separated: plain, json (orjson+ciso8601), libs (json + zstd gateway compression), uvloop, "
        "speedups (libs + uvloop); default plain,speedups",
    )
    parser.add_argument(
        "--site",
        action="append",
        type=Path,
        default=[],
        help=f"extra package folder for the speed-up variants (default {DEFAULT_SITE.relative_to(REPO_ROOT)} "
        "if it exists; create it with: pip install --target bench/out/site-speedups orjson ciso8601 "
        "backports.zstd uvloop)",
    )
    parser.add_argument(
        "--candidate",
        action="append",
        default=[],
        metavar="NAME=DIR",
        help="also measure the full bot imported from DIR/ora (a copy of ora/ with a change to evaluate), "
        "interleaved with the others; repeatable",
    )
    parser.add_argument(
        "--no-baselines",
        action="store_true",
        help="measure only the full and the like-for-like minimal bot, without the full bot with linkd's "
        "resolver regeneration, the stock minimal bot and plain hikari",
    )
    parser.add_argument(
        "--profile",
        nargs="?",
        const="full",
        choices=sorted(PROFILE_TARGETS),
        help="instead of the benchmark: cProfile one burst (25 users × 8 /ping) of this bot (default full) and "
        "write bench/out/profile-NAME.pstats and .txt",
    )
    parser.add_argument(
        "--costs",
        action="store_true",
        help="instead of the benchmark: time the ORA bot's own per-command code inside real /ping invocations "
        "(bench/command_costs.py) and write bench/out/command-costs.txt",
    )
    parser.add_argument(
        "--database",
        choices=sorted(DATABASE_CHOICES),
        default="sqlite",
        help="the full bot's store: sqlite (default: a file per start), postgresql (a fresh database per start on "
        "one throwaway local server for the run), or both (two full bots in every run, labelled 'full' and "
        "'full, PostgreSQL'; /chat and load stay on SQLite)",
    )
    parser.add_argument(
        "--compare-layout",
        type=Path,
        default=None,
        metavar="DIR",
        help="compare this tree's ora/ with DIR/ora/ (e.g. a worktree of an older commit): import time of ora.app "
        "in fresh interpreters, and DIR's full bot as a candidate in the /ping run (RSS at READY, latency)",
    )
    parser.add_argument("--bursts", type=int, default=None, help="burst rounds per run (default 7, quick 2)")
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to skip: pings, privacy, imports, chat, load, dataset"
    )
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="where to write results (default bench/out)")
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    variants = tuple(name.strip() for name in str(args.variants).split(",") if name.strip())
    unknown = [name for name in variants if name not in get_args(Variant)]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {get_args(Variant)}")
    site_dirs = tuple(path.resolve() for path in args.site) or ((DEFAULT_SITE,) if DEFAULT_SITE.is_dir() else ())
    candidates = _candidates(parser, args.candidate)
    compare_layout: Path | None = None
    layout_candidate = ""
    if args.compare_layout is not None:
        compare_layout = args.compare_layout.resolve()
        if not (compare_layout / "ora" / "app.py").is_file():
            parser.error(f"--compare-layout {args.compare_layout}: expected DIR/ora/app.py")
        named = [name for name, path in candidates.items() if path == compare_layout]
        layout_candidate = named[0] if named else LAYOUT_CANDIDATE
        candidates.setdefault(layout_candidate, compare_layout)
    return Options(
        runs=args.runs or (1 if quick else 3),
        sequential=60 if quick else 300,
        users=25,
        per_user=8,
        burst_rounds=args.bursts or (2 if quick else 7),
        chat_answers=2 if quick else 5,
        load_pings=100 if quick else 300,
        variants=cast("tuple[Variant, ...]", variants),
        site_dirs=site_dirs,
        skip=frozenset(name.strip() for name in str(args.skip).split(",") if name.strip()),
        candidates=candidates,
        quick=quick,
        out_dir=args.out,
        no_baselines=bool(args.no_baselines),
        profile=args.profile,
        costs=bool(args.costs),
        databases=DATABASE_CHOICES[args.database],
        compare_layout=compare_layout,
        layout_candidate=layout_candidate,
    )


def _candidates(parser: argparse.ArgumentParser, specs: list[str]) -> dict[str, Path]:
    candidates: dict[str, Path] = {}
    for spec in specs:
        name, _, folder = spec.partition("=")
        path = Path(folder).resolve()
        if not name or not (path / "ora" / "__init__.py").is_file():
            parser.error(f"--candidate {spec!r}: expected NAME=DIR with DIR/ora/__init__.py")
        candidates[name] = path
    return candidates


def available(variant: str) -> str | None:
    """None if the variant can run here, else why not."""
    missing = [name for name in VARIANT_NEEDS[variant] if importlib.util.find_spec(name) is None]
    if missing:
        return f"not installed: {', '.join(missing)} (pip install -e '.[speedups,bench]', or --site DIR)"
    return None


def describe_machine() -> dict[str, str]:
    machine = procstat.machine_description()
    machine |= {
        "python": platform.python_version(),
        "hikari": hikari.__version__,
        "lightbulb": lightbulb.__version__,
        "os": platform.platform(),
    }
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    machine["commit"] = commit or "unknown"
    return machine


@contextlib.contextmanager
def postgres_server(needed: bool) -> Iterator[PostgresServer | None]:
    """One throwaway PostgreSQL server for the whole run when `needed`; stopped (folder removed) on exit."""
    if not needed:
        yield None
        return
    server = PostgresServer.find()
    if server is None:
        raise SystemExit("--database postgresql: no PostgreSQL binaries found (apt-get install postgresql)")
    log("starting a throwaway PostgreSQL server")
    try:
        server.start()
        log(f"PostgreSQL on 127.0.0.1:{server.port}")
        yield server
    finally:
        server.stop()
        log("PostgreSQL stopped")


def run_order(variants: Sequence[Variant], options: Options) -> list[tuple[BotSpec, Variant]]:
    """Every (bot, variant) of one /ping run, before the per-run rotation."""
    order: list[tuple[BotSpec, Variant]] = []
    for variant in variants:
        order += [(BotSpec("full", FULL_ON[database], database=database), variant) for database in options.databases]
        order.append((BotSpec("minimal", MINIMAL), variant))
    if "plain" in variants and not options.no_baselines:
        order += [(spec, "plain") for spec in BASELINES]
    order += [(BotSpec("full", f"candidate {name}", source=path), "plain") for name, path in options.candidates.items()]
    return order


async def ping_run(
    run: int, variants: Sequence[Variant], options: Options, postgres: PostgresServer | None
) -> dict[str, Sample]:
    """Start every (bot, variant) one after another, then measure them all with interleaved /ping blocks (and the
    full bots with /privacy set blocks)."""
    order = run_order(variants, options)
    shift = run % len(order)  # a different bot goes first in each run
    order = order[shift:] + order[:shift]
    async with contextlib.AsyncExitStack() as stack:
        bots: list[RunningBot] = []
        for spec, variant in order:
            log(f"run {run + 1}/{options.runs}: starting the {spec.label} bot ({variant})")
            bot = running_bot(
                spec.kind,
                variant,
                site_dirs=options.site_dirs,
                ora_source=spec.source,
                label=spec.label,
                extra_env=spec.env,
                postgres=postgres if spec.database == "postgresql" else None,
            )
            bots.append(await stack.enter_async_context(bot))
        log(f"run {run + 1}/{options.runs}: /ping on {len(bots)} bots, interleaved")
        figures = await measure_interleaved(
            bots,
            sequential=options.sequential,
            block=SEQUENTIAL_BLOCK,
            users=options.users,
            per_user=options.per_user,
            bursts=options.burst_rounds,
            privacy=0 if "privacy" in options.skip else options.sequential,
        )
        return {
            f"{bot.label}/{bot.variant}": Sample(
                ready_s=bot.startup.ready,
                synced_s=bot.startup.synced,
                serving_s=bot.startup.serving,
                rss_ready_mib=bot.startup.rss_ready / procstat.MIB,
                pings=pings,
            )
            for bot, pings in zip(bots, figures, strict=True)
        }


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def run_dataset_bench(options: Options) -> str:
    """`bench/bench_dataset.py` (written separately): its `run(...)` if it has one, else run it as a script."""
    if not (BENCH_DIR / "bench_dataset.py").exists():
        return ""
    try:
        module = importlib.import_module("bench.bench_dataset")
    except Exception as error:  # its own bug must not lose the rest of the results
        return f"bench/bench_dataset.py could not be imported: {error!r}"
    runner = getattr(module, "run", None)
    if callable(runner):
        known: dict[str, Any] = {
            "quick": options.quick,
            "runs": options.runs,
            "size_mib": DATASET_QUICK_MIB if options.quick else DATASET_MIB,
            "site_dirs": options.site_dirs,
        }
        parameters = inspect.signature(runner).parameters
        missing = [
            name
            for name, parameter in parameters.items()
            if name not in known and parameter.default is inspect.Parameter.empty
        ]
        if missing:
            return f"bench_dataset.run needs parameters this runner does not know: {missing}"
        kwargs = {name: value for name, value in known.items() if name in parameters}
        try:
            result = runner(**kwargs)
            if inspect.isawaitable(result):
                result = await result
        except Exception as error:  # reported in the results instead of losing the other figures
            return f"bench_dataset.run failed: {error!r}"
        render_result = getattr(module, "report", None)
        if callable(render_result) and not isinstance(result, str):
            return f"```text\n{render_result(result)}\n```"
        return _as_markdown(result)
    command = [sys.executable, "-m", "bench.bench_dataset", *(["--quick"] if options.quick else [])]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with asyncio.timeout(900):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        return "bench.bench_dataset did not finish within 15 minutes (killed)"
    return output.decode("utf-8", "replace").strip()


def _as_markdown(result: object) -> str:
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    if isinstance(result, dict):
        rows = "\n".join(f"| {key} | {value} |" for key, value in result.items())
        return f"| figure | value |\n| --- | --- |\n{rows}"
    return str(result)


async def run_benchmark(options: Options, command: str) -> Results:
    add_site_dirs(options.site_dirs)
    results = Results(
        machine=describe_machine(),
        command=command,
        options={
            key: (str(value) if isinstance(value, Path) else value)
            for key, value in dataclasses.asdict(options).items()
            if key not in {"site_dirs", "skip", "out_dir", "candidates", "profile", "costs", "compare_layout"}
        }
        | {
            "candidates": {name: str(path) for name, path in options.candidates.items()},
            "compare_layout": str(options.compare_layout) if options.compare_layout is not None else None,
        },
        started=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    )
    started = time.monotonic()
    variants: list[Variant] = []
    for variant in options.variants:
        why = available(variant)
        if why is None:
            variants.append(variant)
        else:
            results.skipped_variants[variant] = why
            log(f"variant {variant} skipped: {why}")
    with postgres_server("postgresql" in options.databases) as postgres:
        # /chat and the load test run once, on the first store chosen (SQLite unless --database postgresql).
        chat_postgres = postgres if options.databases[0] == "postgresql" else None
        if "pings" not in options.skip:
            for run in range(options.runs):
                for key, sample in (await ping_run(run, variants, options, postgres)).items():
                    results.samples.setdefault(key, []).append(sample)
        if "chat" not in options.skip:
            log("/chat streaming")
            async with running_bot("full", "plain", site_dirs=options.site_dirs, postgres=chat_postgres) as bot:
                for profile in PROFILES:
                    results.chat.append(await measure_chat(bot, profile, options.chat_answers))
        if "load" not in options.skip:
            log("dependencies under load")
            async with running_bot(
                "full", "plain", site_dirs=options.site_dirs, extra_env=LOAD_ENV, postgres=chat_postgres
            ) as bot:
                results.load = await measure_load(bot, pings=options.load_pings)
    if options.compare_layout is not None and "imports" not in options.skip:
        runs = IMPORT_QUICK_RUNS if options.quick else IMPORT_RUNS
        log(f"import time of ora.app: {runs} fresh interpreters per tree, alternating")
        results.imports = await asyncio.to_thread(measure_imports, [REPO_ROOT, options.compare_layout], runs)
    if "dataset" not in options.skip:
        log("bench_dataset")
        results.dataset = await run_dataset_bench(options)
    results.seconds = time.monotonic() - started
    return results


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value


def write(results: Results, markdown: str, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    paths = [out_dir / f"results-{stamp}.md", out_dir / f"results-{stamp}.json"]
    paths[0].write_text(markdown + "\n", encoding="utf-8")
    paths[1].write_text(json.dumps(_jsonable(dataclasses.asdict(results)), indent=2) + "\n", encoding="utf-8")
    (out_dir / "latest.md").write_text(markdown + "\n", encoding="utf-8")
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    options = parse_options(argv)
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    if options.costs:
        text = asyncio.run(command_costs.measure())
        options.out_dir.mkdir(parents=True, exist_ok=True)
        (options.out_dir / "command-costs.txt").write_text(text + "\n", encoding="utf-8")
        print(text)
        return 0
    if options.profile is not None:
        text = asyncio.run(profile_burst(PROFILE_TARGETS[options.profile], options.profile, options.out_dir))
        print(text)
        return 0
    results = asyncio.run(run_benchmark(options, command.strip()))
    markdown = render(results)
    print(markdown)
    for path in write(results, markdown, options.out_dir):
        log(f"wrote {path}")
    return 0
