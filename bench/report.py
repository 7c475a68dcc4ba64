"""The benchmark's results as Markdown tables, each goal next to its figure."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from bench.bots import FULL, FULL_POSTGRES, FULL_UNCACHED, MINIMAL, MINIMAL_STOCK, PLAIN_HIKARI
from bench.stats import ratio

if TYPE_CHECKING:
    from bench.runner import Results

IDLE_RSS_GOAL_MIB = 64.0
THROUGHPUT_GOAL = 0.9
P50_GOAL = 1.1
CPU_GOAL = 1.1
FIRST_EDIT_GOAL_MS = 100.0
LOAD_P99_GOAL_MS = 50.0
#: Time a hung command may take beyond its configured timeout to show its message (edits, DB writes).
END_SLACK_S = 1.0


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else ("met" if ok else "**missed**")


def _full_labels(results: Results, variant: str = "plain") -> list[str]:
    """The full bot's labels measured in this run, SQLite first."""
    return [label for label in (FULL, FULL_POSTGRES) if f"{label}/{variant}" in results.samples]


def _ping_rows(results: Results, variant: str, full_label: str = FULL) -> list[str]:
    def m(kind: str, metric: str) -> float:
        return results.median_of(full_label if kind == "full" else kind, variant, metric)

    rows: list[tuple[str, str, int, str, bool | None]] = [
        ("start → READY (s)", "ready_s", 2, "", None),
        ("start → commands synced (s)", "synced_s", 2, "", None),
        ("sequential /ping p50 (ms)", "p50_ms", 2, f"full ≤ {P50_GOAL}× minimal", None),
        ("sequential /ping p90 (ms)", "p90_ms", 2, "", None),
        ("sequential /ping p99 (ms)", "p99_ms", 2, "", None),
        ("burst throughput, 25 users × 8 (/s)", "throughput", 0, f"full ≥ {THROUGHPUT_GOAL}× minimal", None),
        ("bot CPU per interaction (ms)", "cpu_ms_per_interaction", 2, f"full ≤ {CPU_GOAL}× minimal", None),
        ("RSS at READY (MiB)", "rss_ready_mib", 1, f"full ≤ {IDLE_RSS_GOAL_MIB:g} MiB", None),
        ("RSS after the run (MiB)", "rss_after", 1, "", None),
    ]
    out = []
    for label, metric, digits, goal, _ in rows:
        full, minimal = m("full", metric), m("minimal", metric)
        if metric == "rss_after":
            full, minimal = full / 1048576, minimal / 1048576
        r = ratio(full, minimal)
        ok: bool | None = None
        if metric == "p50_ms":
            ok = r <= P50_GOAL
        elif metric == "throughput":
            ok = r >= THROUGHPUT_GOAL
        elif metric == "cpu_ms_per_interaction":
            ok = r <= CPU_GOAL
        elif metric == "rss_ready_mib":
            ok = full <= IDLE_RSS_GOAL_MIB
        out.append(
            f"| {label} | {_fmt(full, digits)} | {_fmt(minimal, digits)} | {_fmt(r, 2)} | {goal} | {_mark(ok)} |"
        )
        if metric == "throughput":
            paired = results.paired_burst_ratio(full_label, MINIMAL, variant)
            out.append(
                f"| burst throughput, full ÷ minimal in the same round (median) | | | {_fmt(paired, 2)} | "
                f"full ≥ {THROUGHPUT_GOAL}× minimal | {_mark(paired >= THROUGHPUT_GOAL)} |"
            )
    return out


BOT_ROWS: tuple[tuple[str, str], ...] = (
    (FULL, "the ORA bot (`python -m ora`)"),
    (FULL_POSTGRES, "the ORA bot on PostgreSQL (`DATABASE_URL`, a fresh database on a local server)"),
    (FULL_UNCACHED, "the ORA bot without `ora.core.linkd_compat` (linkd regenerates resolvers per call)"),
    (MINIMAL, "`bench/minimal_bot.py`, like for like: REST keep-alive, resolvers cached"),
    (MINIMAL_STOCK, "`bench/minimal_bot.py` as hikari and lightbulb ship: no keep-alive, resolvers regenerated"),
    (PLAIN_HIKARI, "`bench/plain_hikari_bot.py`: hikari alone, no lightbulb (keep-alive on)"),
)


def _bot_rows(results: Results, labels: list[tuple[str, str]]) -> list[str]:
    """Every bot of the run, and the full bot's figures as a multiple of each."""
    lines = [
        "| bot | what | p50 (ms) | p99 (ms) | burst (/s) | CPU/interaction (ms) | RSS at READY (MiB) | "
        "full p50 ÷ this | full burst ÷ this | same, paired by round | full CPU ÷ this |",
        "| --- |" + " --- |" * 10,
    ]
    reference = (_full_labels(results) or [FULL])[0]
    full = {
        metric: results.median_of(reference, "plain", metric)
        for metric in ("p50_ms", "throughput", "cpu_ms_per_interaction")
    }
    for label, what in labels:
        values = {
            metric: results.median_of(label, "plain", metric)
            for metric in ("p50_ms", "p99_ms", "throughput", "cpu_ms_per_interaction", "rss_ready_mib")
        }
        cells = [
            _fmt(values["p50_ms"], 2),
            _fmt(values["p99_ms"], 2),
            _fmt(values["throughput"], 0),
            _fmt(values["cpu_ms_per_interaction"], 2),
            _fmt(values["rss_ready_mib"], 1),
            _fmt(ratio(full["p50_ms"], values["p50_ms"]), 2),
            _fmt(ratio(full["throughput"], values["throughput"]), 2),
            _fmt(results.paired_burst_ratio(reference, label), 2),
            _fmt(ratio(full["cpu_ms_per_interaction"], values["cpu_ms_per_interaction"]), 2),
        ]
        lines.append(f"| {label} | {what} | " + " | ".join(cells) + " |")
    return lines


def _variant_rows(results: Results, variants: list[str]) -> list[str]:
    metrics = [
        ("p50 (ms)", "p50_ms", 2),
        ("p99 (ms)", "p99_ms", 2),
        ("burst (/s)", "throughput", 0),
        ("CPU/interaction (ms)", "cpu_ms_per_interaction", 2),
        ("start → synced (s)", "synced_s", 2),
        ("RSS at READY (MiB)", "rss_ready_mib", 1),
    ]
    header = "| bot | variant | " + " | ".join(label for label, _, _ in metrics) + " |"
    lines = [header, "|" + " --- |" * (len(metrics) + 2)]
    for kind in [*_full_labels(results), MINIMAL]:
        base = {metric: results.median_of(kind, "plain", metric) for _, metric, _ in metrics}
        for variant in variants:
            cells = []
            for _, metric, digits in metrics:
                value = results.median_of(kind, variant, metric)
                cell = _fmt(value, digits)
                if variant != "plain" and not math.isnan(base[metric]):
                    cell += f" ({_fmt(ratio(value, base[metric]), 2)}×)"
                cells.append(cell)
            lines.append(f"| {kind} | {variant} | " + " | ".join(cells) + " |")
    return lines


def _privacy_rows(results: Results, labels: list[str]) -> list[str]:
    lines = [
        "| bot | p50 (ms) | p90 (ms) | p99 (ms) | bot CPU per /privacy set (ms) | /ping p50 on the same bot (ms) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label in labels:
        cells = [_fmt(results.privacy_median(label, metric), 2) for metric in ("p50_ms", "p90_ms", "p99_ms")]
        cells.append(_fmt(results.privacy_median(label, "cpu_ms_per_interaction"), 2))
        cells.append(_fmt(results.median_of(label, "plain", "p50_ms"), 2))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _layout_rows(results: Results) -> list[str]:
    here, other = results.imports
    candidate = f"candidate {results.options.get('layout_candidate') or ''}"

    def row(label: str, mine: float, theirs: float, digits: int) -> str:
        return f"| {label} | {_fmt(mine, digits)} | {_fmt(theirs, digits)} | {_fmt(ratio(mine, theirs), 2)} |"

    lines = [
        f"| figure | this tree ({here.commit}) | {other.tree} ({other.commit}) | this ÷ that |",
        "| --- | --- | --- | --- |",
        row("`import ora.app`, fresh interpreter (ms, median)", here.entry_ms, other.entry_ms, 0),
        row(
            "`import ora.app` + the modules it loads by name later (ms, median)", here.features_ms, other.features_ms, 0
        ),
        row(
            "`ora.*` modules' own import time, `-X importtime` self times summed (ms, median)",
            here.own_code_ms,
            other.own_code_ms,
            1,
        ),
        row("modules in `sys.modules` after that", here.modules, other.modules, 0),
        row("of which `ora.*`", here.ora_modules, other.ora_modules, 0),
        row("RSS after that import (MiB)", here.rss_mib, other.rss_mib, 1),
    ]
    if f"{candidate}/plain" in results.samples:
        for label, metric, digits in (
            ("RSS at READY, `python -m ora` on SQLite (MiB)", "rss_ready_mib", 1),
            ("start → READY (s)", "ready_s", 2),
            ("/ping p50 (ms)", "p50_ms", 2),
            ("burst (/s)", "throughput", 0),
            ("bot CPU per /ping (ms)", "cpu_ms_per_interaction", 2),
        ):
            lines.append(
                row(
                    label,
                    results.median_of(FULL, "plain", metric),
                    results.median_of(candidate, "plain", metric),
                    digits,
                )
            )
        lines.append(
            row(
                "/privacy set p50 on SQLite (ms)",
                results.privacy_median(FULL, "p50_ms"),
                results.privacy_median(candidate, "p50_ms"),
                2,
            )
        )
    only_here = sorted(set(here.packages) - set(other.packages))
    only_there = sorted(set(other.packages) - set(here.packages))
    lines += [
        "",
        f"Top-level packages imported only by this tree: {', '.join(only_here) or 'none'}; only by the other: "
        f"{', '.join(only_there) or 'none'}.",
    ]
    return lines


def render(results: Results) -> str:
    machine = results.machine
    lines = [
        "# ORA bot benchmark",
        "",
        f"Machine: {machine['nproc']} CPU(s) ({machine['cpu']}), {machine['memory']} RAM, {machine['os']}; "
        f"Python {machine['python']}, hikari {machine['hikari']}, hikari-lightbulb {machine['lightbulb']}; "
        f"commit {machine['commit']}; started {results.started}, took {results.seconds:.0f} s.",
        f"Command: `{results.command}` (runs: {results.options['runs']}, medians across runs).",
        "",
    ]
    variants = [v for v in results.options["variants"] if any(k.endswith(f"/{v}") for k in results.samples)]
    for full_label in _full_labels(results) if "plain" in variants else []:
        runs = results.options["runs"]
        backend = "PostgreSQL" if full_label == FULL_POSTGRES else "SQLite"
        lines += [
            f"## /ping: the full ORA bot on {backend} against a minimal hikari + lightbulb bot, like for like "
            "(default install)",
            "",
            f"Medians of {runs} run(s). Each run starts every bot afresh, each against its own emulator (one "
            "after another, so start-up times do not compete), then measures them all with the same workload "
            "interleaved in small blocks, so a change in the shared machine's background load hits every bot "
            f"alike. Sequential: {results.options['sequential']} pings per bot (blocks of 25, after 10 warm-up "
            "ones), latency from the INTERACTION_CREATE leaving the emulator to the callback arriving. Burst: 25 "
            f"users each sending 8 pings back to back, median of {results.options['burst_rounds']} bursts per "
            "bot and run. CPU: /proc/<pid>/stat utime+stime over the bot's own blocks. The minimal bot here is "
            "set up as the ORA bot is: REST keep-alive on and lightbulb's dependency resolvers cached "
            "(`ora.core.linkd_compat`)."
            + (
                " PostgreSQL: one local server for the run (fsync off, as `ora.testing.postgres` starts it), a fresh "
                "database for each start of the bot."
                if full_label == FULL_POSTGRES
                else ""
            ),
            "",
            f"| metric | {full_label} | minimal | full/minimal | goal | |",
            "| --- | --- | --- | --- | --- | --- |",
            *_ping_rows(results, "plain", full_label),
            "",
        ]
    privacy_labels = [
        label
        for label in sorted({key.rpartition("/")[0] for key in results.samples})
        if not math.isnan(results.privacy_median(label, "p50_ms"))
    ]
    if privacy_labels:
        privacy_labels.sort(key=lambda label: (label not in (FULL, FULL_POSTGRES), label != FULL, label))
        lines += [
            "## /privacy set: a command that writes the database before it answers",
            "",
            f"The ORA bots of the same runs, after the /ping workload: {results.options['sequential']} `/privacy set` "
            "per bot and run, one at a time, mode public and private in turn (one user's row updated each time), "
            "in interleaved blocks of 25 after 10 warm-up ones; latency measured as for /ping (the answer, type 4, "
            "comes after the write). Medians over the runs of each run's percentiles. The CPU is the bot process's "
            "only (PostgreSQL's server process is not counted).",
            "",
            *_privacy_rows(results, privacy_labels),
            "",
        ]
    if len(variants) > 1:
        lines += [
            "## Optional speed-ups (`pip install -e '.[speedups,bench]'`)",
            "",
            "`json` = hikari with orjson + ciso8601; `libs` = json + zstd gateway compression (backports.zstd); "
            "`uvloop` = uvloop's event loop only; `speedups` = libs + uvloop (all of the extra). Ratios against "
            "`plain` in brackets.",
            "",
            *_variant_rows(results, variants),
            "",
        ]
    labels = [(label, what) for label, what in BOT_ROWS if f"{label}/plain" in results.samples]
    layout = results.options.get("layout_candidate")
    labels += [
        (
            f"candidate {name}",
            f"the ORA bot imported from `{path}/ora` (`--compare-layout`)"
            if name == layout
            else "the ORA bot imported from a patched copy of `ora/` (`--candidate`)",
        )
        for name, path in (results.options.get("candidates") or {}).items()
    ]
    if len(labels) > 2 or any(label.startswith("candidate ") for label, _ in labels):
        lines += [
            "## Every bot of the run (plain install)",
            "",
            "Same run, same medians. The last columns give the full bot's figure divided by the row's: above 1 for "
            "p50 and CPU (below 1 for burst) means the full bot is slower than that row. *Paired by round*: the "
            "median of the full bot's burst ÷ the row's burst in the same round (the two ran within seconds of each "
            "other), less sensitive to the shared machine's drifting load than the ratio of medians.",
            "",
            *_bot_rows(results, labels),
            "",
        ]
    if len(results.imports) == 2:
        lines += [
            "## Layout: this tree against another copy of `ora/` (`--compare-layout`)",
            "",
            f"Import times: {results.imports[0].runs} fresh interpreters per tree, alternating, median (the speed-up "
            "libraries hidden, as for the bots). *Modules it loads by name later*: the older layout's lightbulb "
            "extensions (`EXTENSIONS`), which `ora.app` does not import itself; the newer one imports its features "
            "with `ora.app`. The other rows come from the /ping run above, where the other tree's bot ran as a "
            "candidate on SQLite next to this tree's `full`.",
            "",
            *_layout_rows(results),
            "",
        ]
    for variant, why in results.skipped_variants.items():
        lines.append(f"- variant `{variant}` skipped: {why}")
    if results.chat:
        lines += [
            "## /chat streaming (issue 4): first token → first visible edit, REST calls per 4,000-character answer",
            "",
            "| LLM output | answers | first edit after first token, median (ms) | max (ms) | REST calls | "
            "edits | follow-ups | messages | goal | |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for chat in results.chat:
            ok = chat.first_edit_delay_ms <= FIRST_EDIT_GOAL_MS
            lines.append(
                f"| {chat.description} | {chat.answers} | {_fmt(chat.first_edit_delay_ms, 1)} | "
                f"{_fmt(chat.first_edit_delay_max_ms, 1)} | {_fmt(chat.rest_calls, 0)} | {_fmt(chat.edits, 0)} | "
                f"{_fmt(chat.followups, 0)} | {_fmt(chat.messages, 0)} | ≤ {FIRST_EDIT_GOAL_MS:g} ms | {_mark(ok)} |"
            )
        lines += [
            "",
            "REST calls count the deferral, every edit of the reply and every follow-up (create or edit).",
            "",
        ]
    load = results.load
    if load is not None:
        chat_ok = load.chats_ended_clearly == load.chats and load.chat_end_max_s <= load.chat_timeout_s + END_SLACK_S
        data_ok = load.datasets_ended_clearly == load.datasets and (
            load.datasets == 0 or load.dataset_end_max_s <= load.dataset_budget_s + END_SLACK_S
        )
        lines += [
            "## Slow and dead dependencies under load (issue 6)",
            "",
            f"{load.chats} `/chat` on an LLM that never answers (LLM_READ_TIMEOUT={load.chat_timeout_s:g} s, "
            f"CHAT_MAX_CONCURRENT={load.chats}) and {load.datasets} `/dataset add` of 256 KiB on an ORA that answers "
            f"500 after 1 s (ORA_API_TIMEOUT=2 s, 2 attempts) in flight; `/ping` one after another until all ended.",
            "",
            "| figure | value | goal | |",
            "| --- | --- | --- | --- |",
            f"| /ping p50 / p90 (ms), {load.pings} pings | {_fmt(load.p50_ms, 2)} / {_fmt(load.p90_ms, 2)} | | |",
            f"| /ping p99 (ms) | {_fmt(load.p99_ms, 2)} | < {LOAD_P99_GOAL_MS:g} ms | "
            f"{_mark(load.p99_ms < LOAD_P99_GOAL_MS)} |",
            f"| /ping max (ms) | {_fmt(load.max_ms, 2)} | | |",
            f"| /chat ended with the timeout message | {load.chats_ended_clearly}/{load.chats}, last after "
            f"{_fmt(load.chat_end_max_s, 2)} s | all, ≤ {load.chat_timeout_s:g} s + {END_SLACK_S:g} s | "
            f"{_mark(chat_ok)} |",
            f"| /dataset add ended with 'Upload to ORA failed' | {load.datasets_ended_clearly}/{load.datasets}, last "
            f"after {_fmt(load.dataset_end_max_s, 2)} s | all, ≤ {load.dataset_budget_s:g} s budget + "
            f"{END_SLACK_S:g} s | {_mark(data_ok)} |",
        ]
        if load.datasets_skipped:
            lines.append(f"| /dataset add | skipped: {load.datasets_skipped} | | |")
        lines.append("")
    if results.dataset:
        lines += ["## Datasets (bench/bench_dataset.py)", "", results.dataset, ""]
    lines += [f"- {note}" for note in results.notes]
    return "\n".join(lines).rstrip() + "\n"
