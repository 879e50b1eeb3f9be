"""Scale curve of the batch layer: wall time and peak memory of the backfill against the number of
sessions, in local mode and on a Spark standalone cluster on the same machine.

For each size of --sizes it generates the sessions once (the generator call of benchmarks/batch.py)
and runs `netflix-lambda batch --from 2024-01 --to 2025-12` exactly as benchmarks/batch.py does
(one Dagster run, every asset and check, a fresh lake, warehouse and Dagster instance each time)
on each master of --masters:

  local    SPARK_MASTER=local[*]: the driver's JVM runs every task on the machine's cores;
  cluster  a standalone master and two workers on 127.0.0.1 (netflix_devtools.spark_cluster, as the
           tests run it), each worker offering one core and 1 GiB, so the two 1 GiB executors
           share the machine's two cores; the driver stays in the command's process, reached on
           loopback (SPARK_LOCAL_IP=127.0.0.1). A fresh cluster is started for each run.

Peak memory is sampled every 0.2 s: the resident memory of the command's process tree (Python,
the driver's JVM, its Python workers) plus, on the cluster, the master's and the workers' trees
(the executors are the workers' children), summed in each sample. For each (size, master) it
prints the wall time, sessions/s and the peak against the memory target (< 6 GiB: PASS/MISS),
then for each master how much the time grows per 10x sessions (10x is linear). The curve has no
time target: it shows how the cost grows with the work and where one machine stops being enough.

The table is also written as Markdown (--markdown) and the curve as a hand-drawn SVG (--plot):
time against sessions on both masters (log-log, with a line of linear growth), and peak memory
against sessions with the target. Both are rewritten after every run, so an interrupted run
keeps the rows it measured.

    .venv/bin/python benchmarks/scale.py [--sizes 1000000,10000000,30000000] [--masters local,cluster]
        [--markdown docs/benchmarks/scale-curve.md] [--plot docs/benchmarks/scale-curve.svg] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import html
import itertools
import math
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks._backfill import FIRST_MONTH, LAST_MONTH, backfill_settings, generate_sessions, run_backfill  # noqa: E402
from benchmarks._measure import GIB, TARGET_PEAK_GIB, ArgumentParser, Measurement, verdict  # noqa: E402
from netflix_devtools.spark_cluster import LOOPBACK, SparkClusterError, standalone_cluster  # noqa: E402

DEFAULT_SIZES = (1_000_000, 10_000_000, 30_000_000)
MIN_SESSIONS = 1_000
# The cluster of tests/cluster_fixtures.py: two workers of one core each use the machine's two cores.
WORKERS, CORES_PER_WORKER, MEMORY_PER_WORKER = 2, 1, "1g"
MASTERS = {
    "local": "local[*]",
    "cluster": f"cluster ({WORKERS} workers x {CORES_PER_WORKER} core)",
}
COLORS = {"local": "#1f6fb4", "cluster": "#d9620b"}
DEFAULT_MARKDOWN = ROOT / "docs" / "benchmarks" / "scale-curve.md"
DEFAULT_PLOT = ROOT / "docs" / "benchmarks" / "scale-curve.svg"


@dataclass(frozen=True)
class Run:
    sessions: int
    raw_rows: int
    master: str  # a key of MASTERS
    measurement: Measurement
    log: Path

    @property
    def ok(self) -> bool:
        return self.measurement.returncode == 0

    @property
    def seconds(self) -> float:
        return self.measurement.seconds

    @property
    def peak_gib(self) -> float:
        return self.measurement.peak_rss_bytes / GIB

    @property
    def sessions_per_second(self) -> float:
        return self.sessions / self.seconds

    @property
    def memory_kept(self) -> bool:
        return self.peak_gib < TARGET_PEAK_GIB


# -- running -----------------------------------------------------------------------------------


def run_local(raw: Path, run_dir: Path) -> tuple[Measurement, Path]:
    settings = backfill_settings(raw, run_dir).with_overrides(spark_master="local[*]")
    log = run_dir / "batch.log"
    return run_backfill(settings, log), log


def run_cluster(raw: Path, run_dir: Path) -> tuple[Measurement, Path]:
    print(f"  starting the standalone cluster (master + {WORKERS} workers on {LOOPBACK}) ...", flush=True)
    with standalone_cluster(
        run_dir / "cluster", workers=WORKERS, cores_per_worker=CORES_PER_WORKER, memory_per_worker=MEMORY_PER_WORKER
    ) as cluster:
        settings = backfill_settings(raw, run_dir).with_overrides(spark_master=cluster.master_url)
        log = run_dir / "batch.log"
        measurement = run_backfill(settings, log, extra_environment={"SPARK_LOCAL_IP": LOOPBACK}, also=cluster.pids)
        state = cluster.state()
        ran_there = any(app["cores"] > 0 for app in state["activeapps"] + state["completedapps"])
    if measurement.returncode == 0 and not ran_there:
        raise SparkClusterError(f"the backfill finished but no application had executors on the cluster; log {log}")
    return measurement, log


RUNNERS = {"local": run_local, "cluster": run_cluster}


# -- figures -----------------------------------------------------------------------------------


def growth_per_tenfold(runs: list[Run]) -> float | None:
    """How many times the time grows per 10x sessions: 10 ** the slope of log time against log
    sessions (least squares over the successful runs); None with fewer than two sizes."""
    points = [(math.log10(run.sessions), math.log10(run.seconds)) for run in runs if run.ok]
    if len({x for x, _ in points}) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    return 10**slope


def growth_text(runs: list[Run], master: str) -> str | None:
    mine = sorted((run for run in runs if run.master == master and run.ok), key=lambda run: run.sessions)
    overall = growth_per_tenfold(mine)
    if overall is None:
        return None
    steps = [
        f"{short(a.sessions)}->{short(b.sessions)} x{(b.seconds / a.seconds) ** (1 / math.log10(b.sessions / a.sessions)):.1f}"
        for a, b in itertools.pairwise(mine)
    ]
    detail = f"; between sizes {', '.join(steps)}" if len(steps) > 1 else ""
    return f"time x{overall:.1f} per 10x sessions (x10 is linear){detail}"


def short(number: float) -> str:
    """1000000 -> 1M, 60000 -> 60k, 2500000 -> 2.5M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if number >= size:
            return f"{number / size:.3g}{suffix}"
    return f"{number:.3g}"


def table_rows(runs: list[Run]) -> list[tuple[str, ...]]:
    rows = []
    for run in runs:
        if run.ok:
            figures = (f"{run.seconds:.1f} s", f"{run.sessions_per_second:,.0f}", f"{run.peak_gib:.2f} GiB")
            rows.append(
                (f"{run.sessions:,}", f"{run.raw_rows:,}", MASTERS[run.master], *figures, verdict(run.memory_kept))
            )
        else:
            failed = f"exit {run.measurement.returncode} after {run.seconds:.0f} s"
            rows.append((f"{run.sessions:,}", f"{run.raw_rows:,}", MASTERS[run.master], "FAILED", "", "", failed))
    return rows


HEADER = ("sessions", "raw rows", "master", "wall time", "sessions/s", "peak memory", f"< {TARGET_PEAK_GIB} GiB")


def print_table(runs: list[Run], masters: list[str]) -> None:
    rows = [HEADER, *table_rows(runs)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(HEADER))]
    for row in rows:
        cells = [cell.rjust(width) if column in (0, 1, 3, 4, 5) else cell.ljust(width)
                 for column, (cell, width) in enumerate(zip(row, widths))]  # fmt: skip
        print("  ".join(cells).rstrip())
    print()
    for master in masters:
        print(f"{MASTERS[master]}: {growth_text(runs, master) or 'time growth needs two sizes that ran'}")


def markdown(runs: list[Run], masters: list[str], plot: Path, markdown_path: Path) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    lines = [
        "<!-- Written by benchmarks/scale.py; run it again rather than editing by hand. -->",
        f"**Batch backfill scale curve** (`benchmarks/scale.py`: `netflix-lambda batch` over {FIRST_MONTH}..{LAST_MONTH}), "
        f"measured {when} on {os.cpu_count()} cores and {memory:.0f} GiB of memory. Peak memory is the whole "
        "process tree's resident memory, on the cluster with the master's and workers' (executors included).",
        "",
        "| " + " | ".join(HEADER) + " |",
        "| ---: | ---: | --- | ---: | ---: | ---: | --- |",
        *("| " + " | ".join(row) + " |" for row in table_rows(runs)),
        "",
    ]
    for master in masters:
        growth = growth_text(runs, master)
        if growth:
            lines.append(f"- {MASTERS[master]}: {growth}.")
    picture = Path(os.path.relpath(plot.resolve(), markdown_path.resolve().parent)).as_posix()
    lines += ["", f"![Wall time and peak memory of the backfill against sessions]({picture})", ""]
    return "\n".join(lines)


# -- the SVG plot ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    low: float
    high: float
    log: bool
    start: float  # pixels
    end: float

    def __call__(self, value: float) -> float:
        if self.log:
            value, low, high = math.log10(value), math.log10(self.low), math.log10(self.high)
        else:
            low, high = self.low, self.high
        return self.start + (value - low) / (high - low) * (self.end - self.start)


def log_ticks(low: float, high: float) -> list[float]:
    """1, 2, 5 times the powers of ten between ``low`` and ``high`` (and 3 on a short range)."""
    for steps in ((1, 2, 5), (1, 2, 3, 5)):
        ticks = [
            m * 10**exponent
            for exponent in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1)
            for m in steps
            if low <= m * 10**exponent <= high
        ]
        if len(ticks) >= 4:
            break
    return ticks


def linear_ticks(high: float) -> list[float]:
    step = next(s for s in (0.5, 1, 2, 5, 10, 20, 50) if high / s <= 8)
    return [index * step for index in range(int(high / step) + 1)]


def svg_plot(runs: list[Run], masters: list[str]) -> str:
    width, height = 960, 470
    top, bottom = 78, 368
    panels = ((80, 440), (560, 920))  # x pixel ranges of the time and memory panels
    done = [run for run in runs if run.ok]
    sizes = sorted({run.sessions for run in runs})
    x_low, x_high = sizes[0] / 1.6, sizes[-1] * 1.6
    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="26" text-anchor="middle" font-size="16" font-weight="bold">'
        f"Batch backfill ({FIRST_MONTH}..{LAST_MONTH}) against the number of sessions</text>",
    ]
    failed = [run for run in runs if not run.ok]
    if failed:
        names = ", ".join(f"{short(run.sessions)} on {run.master}" for run in failed)
        out.append(
            f'<text x="{width / 2}" y="46" text-anchor="middle" fill="#b22222">failed runs, not plotted: '
            f"{html.escape(names)}</text>"
        )

    def frame(panel: tuple[int, int], x: Axis, y: Axis, y_ticks: list[float], y_label, title: str, y_title: str):
        left, right = panel
        out.append(
            f'<text x="{(left + right) / 2}" y="{top - 12}" text-anchor="middle" font-weight="bold">{title}</text>'
        )
        for tick in y_ticks:
            py = y(tick)
            out.append(f'<line x1="{left}" y1="{py:.1f}" x2="{right}" y2="{py:.1f}" stroke="#e3e3e3"/>')
            out.append(f'<text x="{left - 6}" y="{py + 4:.1f}" text-anchor="end">{y_label(tick)}</text>')
        for size in sizes:
            px = x(size)
            out.append(f'<line x1="{px:.1f}" y1="{top}" x2="{px:.1f}" y2="{bottom}" stroke="#e3e3e3"/>')
            out.append(f'<text x="{px:.1f}" y="{bottom + 16}" text-anchor="middle">{short(size)}</text>')
        out.append(
            f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" fill="none" stroke="#555"/>'
        )
        out.append(f'<text x="{(left + right) / 2}" y="{bottom + 36}" text-anchor="middle">sessions (log scale)</text>')
        middle = (top + bottom) / 2
        out.append(
            f'<text x="{left - 56}" y="{middle}" text-anchor="middle" transform="rotate(-90 {left - 56} {middle})">'
            f"{y_title}</text>"
        )

    def series(x: Axis, y: Axis, value, label):
        # At each size the highest point is labelled above it, the others below: no overlap.
        highest = {
            size: max((run for run in done if run.sessions == size), key=value)
            for size in sizes
            if any(run.sessions == size for run in done)
        }
        for master in masters:
            mine = sorted((run for run in done if run.master == master), key=lambda run: run.sessions)
            if not mine:
                continue
            color = COLORS[master]
            points = " ".join(f"{x(run.sessions):.1f},{y(value(run)):.1f}" for run in mine)
            out.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
            for run in mine:
                px, py = x(run.sessions), y(value(run))
                out.append(marker(master, px, py))
                out.append(
                    f'<text x="{px:.1f}" y="{py + (-9 if highest[run.sessions] is run else 18):.1f}" '
                    f'text-anchor="middle" fill="{color}" stroke="white" stroke-width="3" paint-order="stroke" '
                    f'font-size="11">{label(run)}</text>'
                )

    # Time, log-log, with a line of linear growth from the smallest size that ran.
    left, right = panels[0]
    x = Axis(x_low, x_high, True, left, right)
    times = [run.seconds for run in done] or [1.0, 10.0]
    y = Axis(min(times) / 1.8, max(times) * 1.8, True, bottom, top)
    out.append(
        f'<clipPath id="time-panel"><rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}"/></clipPath>'
    )
    frame(panels[0], x, y, log_ticks(y.low, y.high), lambda tick: f"{tick:g} s", "Wall time", "wall time (log scale)")
    if done:
        first = min(done, key=lambda run: (run.sessions, run.master != "local"))
        out.append(
            f'<line x1="{x(x_low):.1f}" y1="{y(first.seconds * x_low / first.sessions):.1f}" '
            f'x2="{x(x_high):.1f}" y2="{y(first.seconds * x_high / first.sessions):.1f}" '
            'stroke="#999" stroke-dasharray="4 4" clip-path="url(#time-panel)"/>'
        )
    series(x, y, lambda run: run.seconds, lambda run: f"{run.seconds:.0f} s")

    # Peak memory, linear, with the target.
    left, right = panels[1]
    x = Axis(x_low, x_high, True, left, right)
    peaks = [run.peak_gib for run in done] or [0.0]
    y = Axis(0, max(*peaks, TARGET_PEAK_GIB) * 1.15, False, bottom, top)
    frame(panels[1], x, y, linear_ticks(y.high), lambda tick: f"{tick:g}", "Peak memory", "peak resident memory (GiB)")
    target_y = y(TARGET_PEAK_GIB)
    out.append(
        f'<line x1="{left}" y1="{target_y:.1f}" x2="{right}" y2="{target_y:.1f}" stroke="#b22222" '
        'stroke-width="1.5" stroke-dasharray="6 4"/>'
    )
    series(x, y, lambda run: run.peak_gib, lambda run: f"{run.peak_gib:.1f}")

    # Legend.
    legend_y = height - 26
    entries = [(master, MASTERS[master]) for master in masters]
    at = 80
    for master, text in entries:
        color = COLORS[master]
        out.append(
            f'<line x1="{at}" y1="{legend_y}" x2="{at + 28}" y2="{legend_y}" stroke="{color}" stroke-width="2"/>'
        )
        out.append(marker(master, at + 14, legend_y))
        out.append(f'<text x="{at + 36}" y="{legend_y + 4}">{html.escape(text)}</text>')
        at += 44 + 7 * len(text)
    out.append(f'<line x1="{at}" y1="{legend_y}" x2="{at + 28}" y2="{legend_y}" stroke="#999" stroke-dasharray="4 4"/>')
    out.append(f'<text x="{at + 36}" y="{legend_y + 4}">linear growth (time x10 per 10x sessions)</text>')
    at += 44 + 7 * 42
    out.append(
        f'<line x1="{at}" y1="{legend_y}" x2="{at + 28}" y2="{legend_y}" stroke="#b22222" stroke-width="1.5" '
        'stroke-dasharray="6 4"/>'
    )
    out.append(f'<text x="{at + 36}" y="{legend_y + 4}">memory target &lt; {TARGET_PEAK_GIB} GiB</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def marker(master: str, x: float, y: float) -> str:
    color = COLORS[master]
    if master == "cluster":
        return f'<rect x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" fill="{color}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{color}"/>'


# -- command line ------------------------------------------------------------------------------


def parse_arguments() -> argparse.Namespace:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="sessions, comma-separated")
    parser.add_argument("--masters", default="local,cluster", help="local, cluster or both (default local,cluster)")
    parser.add_argument("--markdown", type=Path, default=DEFAULT_MARKDOWN, help="where to write the Markdown table")
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help="where to write the SVG plot")
    parser.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a new temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and every run's output")
    args = parser.parse_args()
    try:
        sizes = [int(size.strip().replace("_", "")) for size in args.sizes.split(",") if size.strip()]
    except ValueError:
        parser.error(f"--sizes must be whole numbers of sessions separated by commas, not {args.sizes!r}")
    if not sizes or min(sizes) < MIN_SESSIONS:
        parser.error(f"--sizes needs at least one size, each at least {MIN_SESSIONS:,} sessions")
    args.sizes = sorted(set(sizes))
    masters = [master.strip() for master in args.masters.split(",") if master.strip()]
    unknown = [master for master in masters if master not in MASTERS]
    if unknown or not masters:
        parser.error(f"--masters takes local, cluster or both, not {args.masters!r}")
    args.masters = [master for master in MASTERS if master in masters]
    for option, path, suffix in (("--markdown", args.markdown, ".md"), ("--plot", args.plot, ".svg")):
        if path.suffix != suffix:
            parser.error(f"{option} must name a {suffix} file, not {path}")
        if path.is_dir() or any(parent.exists() and not parent.is_dir() for parent in path.parents):
            parser.error(
                f"{option} {path} cannot be written (a folder is in the way, or a file where a folder should be)"
            )
    if (
        args.workdir is not None
        and args.workdir.exists()
        and (not args.workdir.is_dir() or any(args.workdir.iterdir()))
    ):
        parser.error(f"--workdir {args.workdir} must be a new or empty folder")
    return args


def write_outputs(runs: list[Run], args: argparse.Namespace) -> None:
    for path in (args.markdown, args.plot):
        path.parent.mkdir(parents=True, exist_ok=True)
    args.plot.write_text(svg_plot(runs, args.masters))
    args.markdown.write_text(markdown(runs, args.masters, args.plot, args.markdown))


def shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main() -> int:
    args = parse_arguments()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="netflix-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    total = len(args.sizes) * len(args.masters)
    print(
        f"{total} backfills: {', '.join(f'{size:,}' for size in args.sizes)} sessions on "
        f"{' and '.join(MASTERS[master] for master in args.masters)}; scratch folder {workdir}",
        flush=True,
    )
    runs: list[Run] = []
    try:
        for size in args.sizes:
            raw = workdir / f"raw-{size}"
            raw_rows = generate_sessions(raw, size)
            for master in args.masters:
                print(f"[{len(runs) + 1}/{total}] {size:,} sessions on {MASTERS[master]} ...", flush=True)
                run_dir = workdir / f"run-{size}-{master}"
                run_dir.mkdir()
                measurement, log = RUNNERS[master](raw, run_dir)
                runs.append(Run(size, raw_rows, master, measurement, log))
                run = runs[-1]
                if run.ok:
                    print(
                        f"  {run.seconds:.1f} s, {run.sessions_per_second:,.0f} sessions/s, peak {run.peak_gib:.2f} GiB "
                        f"(< {TARGET_PEAK_GIB} GiB: {verdict(run.memory_kept)})",
                        flush=True,
                    )
                else:
                    print(
                        f"  FAILED with exit code {measurement.returncode} after {run.seconds:.0f} s; log {log}",
                        flush=True,
                    )
                write_outputs(runs, args)
                if not args.keep and run.ok:
                    shutil.rmtree(run_dir, ignore_errors=True)
            if not args.keep:
                shutil.rmtree(raw, ignore_errors=True)
    except SparkClusterError as error:
        print(f"scale curve stopped: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted after {len(runs)} of {total} runs; scratch folder kept: {workdir}", file=sys.stderr)
        return 130

    print()
    print_table(runs, args.masters)
    kept = sum(run.ok and run.memory_kept for run in runs)
    print(f"memory target < {TARGET_PEAK_GIB} GiB: {kept} of {total} runs PASS")
    print(f"wrote {shown(args.markdown)} and {shown(args.plot)}")
    failed = [run for run in runs if not run.ok]
    if failed:
        print(f"{len(failed)} run(s) failed; their logs are kept under {workdir}")
    elif not args.keep and args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
