"""``netflix-lambda batch``: the whole batch layer for a range of months, as one Dagster run.

The run lands in the persistent Dagster instance (``DAGSTER_HOME``, ``.dagster_home`` by
default) that ``make dagster`` opens too. The terminal shows a progress bar and one line per
asset; ``--verbose`` adds Dagster's own event log.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from dataclasses import dataclass, field

import dagster as dg
from dagster._core.utils import make_new_run_id
from tqdm import tqdm

from netflix_assets.definitions import batch_job, build_definitions
from netflix_assets.partitions import monthly_partitions
from netflix_cli.instance import open_instance
from netflix_core.settings import Settings

MONTH = re.compile(r"^\d{4}-\d{2}$")
POLL_SECONDS = 0.5
WATCHED_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_SKIPPED,
    dg.DagsterEventType.ASSET_MATERIALIZATION,
    dg.DagsterEventType.ASSET_CHECK_EVALUATION,
}


class UsageError(ValueError):
    """A mistake in the command's arguments: one line, exit code 2."""


def partition_range(from_month: str | None, to_month: str | None) -> tuple[str, str]:
    """Partition keys for ``--from``/``--to`` (YYYY-MM, inclusive); all partitions by default."""
    keys = monthly_partitions.get_partition_keys()
    chosen = []
    for given, default in ((from_month, keys[0]), (to_month, keys[-1])):
        if given is None:
            chosen.append(default)
            continue
        if not MONTH.match(given):
            raise UsageError(f"months are written YYYY-MM, not {given!r}")
        key = f"{given}-01"
        if key not in keys:
            raise UsageError(f"{given} is outside the monthly partitions ({keys[0][:7]} to {keys[-1][:7]})")
        chosen.append(key)
    if chosen[0] > chosen[1]:
        raise UsageError(f"--from {chosen[0][:7]} is after --to {chosen[1][:7]}")
    return chosen[0], chosen[1]


@dataclass
class StepOutcome:
    asset: str = ""
    started: float | None = None
    rows: int | None = None
    partitions: int = 0
    checks_passed: int = 0
    checks_failed: list[str] = field(default_factory=list)


class RunWatcher:
    """Follows the run's event log and prints one line per finished asset above a progress bar."""

    def __init__(
        self, instance: dg.DagsterInstance, run_id: str, steps: int, label: str = "batch", partitions: str = "months"
    ) -> None:
        self.instance, self.run_id, self.partition_unit = instance, run_id, partitions
        self.outcomes: dict[str, StepOutcome] = {}
        self.failed: list[str] = []
        self.skipped: list[str] = []
        # disable=None: no bar when stdout is not a terminal, so a log file gets the lines alone.
        self.bar = tqdm(
            total=steps, unit="asset", desc=label, leave=False, dynamic_ncols=True, file=sys.stdout, disable=None
        )
        self._cursor: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._follow, daemon=True)

    def __enter__(self) -> RunWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read_new_events()
        self.bar.close()

    def _follow(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self._read_new_events()

    def _read_new_events(self) -> None:
        connection = self.instance.get_records_for_run(self.run_id, cursor=self._cursor, of_type=WATCHED_EVENTS)
        self._cursor = connection.cursor
        for record in connection.records:
            self._on_event(record.event_log_entry)

    def _on_event(self, entry) -> None:
        event, step = entry.dagster_event, entry.step_key
        outcome = self.outcomes.setdefault(step, StepOutcome(asset=step))
        if event.event_type == dg.DagsterEventType.STEP_START:
            outcome.started = entry.timestamp
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.event_specific_data.materialization
            outcome.asset = materialization.asset_key.to_user_string()
            outcome.partitions += 1
            rows = materialization.metadata.get("dagster/row_count")
            outcome.rows = rows.value if rows is not None else outcome.rows
        elif event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            evaluation = event.event_specific_data
            if outcome.asset == step:  # a check of its own: named after what it checks
                outcome.asset = f"{evaluation.asset_key.path[-1]}:{evaluation.check_name}"
            if evaluation.passed:
                outcome.checks_passed += 1
            else:
                outcome.checks_failed.append(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
        elif event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            self._finished(step, outcome, entry.timestamp)
        elif event.event_type == dg.DagsterEventType.STEP_FAILURE:
            self.failed.append(step)
            message = event.step_failure_data.error.message.strip().splitlines()[-1]
            self.bar.write(f"  FAILED  {step}: {message}")
            self.bar.update()
        elif event.event_type == dg.DagsterEventType.STEP_SKIPPED:
            self.skipped.append(step)
            self.bar.write(f"  skipped {step}: an upstream asset failed or a blocking check did not pass")
            self.bar.update()

    def _finished(self, step: str, outcome: StepOutcome, at: float) -> None:
        seconds = at - outcome.started if outcome.started else 0.0
        rows = f"{outcome.rows:,} rows" if outcome.rows is not None else ""
        months = f"{outcome.partitions} {self.partition_unit}" if outcome.partitions > 1 else ""
        checks = outcome.checks_passed + len(outcome.checks_failed)
        verdict = f"checks {outcome.checks_passed}/{checks} passed" if checks else ""
        self.bar.write(f"  {outcome.asset:<58} {rows:>13} {months:>10} {verdict:>20} {seconds:>7.1f} s")
        for failed in outcome.checks_failed:
            self.bar.write(f"    CHECK FAILED {failed}")
        self.bar.update()


@dataclass(frozen=True)
class RangeRun:
    """A finished run of an asset job over a range of partitions."""

    run_id: str
    result: dg.ExecuteInProcessResult
    steps: int
    failed_steps: int
    seconds: float

    @property
    def checks(self) -> list[dg.AssetCheckEvaluation]:
        return self.result.get_asset_check_evaluations()

    def summary(self, command: str) -> str:
        checks = self.checks
        passed = len([c for c in checks if c.passed])
        status = "succeeded" if self.result.success else "FAILED"
        return (
            f"{command} {status} in {self.seconds:.0f} s: {self.steps - self.failed_steps} of {self.steps} steps "
            f"done, {passed} of {len(checks)} checks passed"
        )


def execute_range(
    settings: Settings, job_name: str, first: str, last: str, verbose: bool = False, partitions: str = "months"
) -> RangeRun:
    """Runs ``job_name`` over the partition keys ``first`` to ``last`` as one run in the persistent
    instance, with a progress bar and one line per asset (``verbose``: Dagster's event log too)."""
    job = build_definitions(settings).resolve_job_def(job_name)
    steps = len(job.graph.node_defs)
    run_id = make_new_run_id()
    # Dagster's per-event console log is the Dagster UI's job; the terminal gets a line per asset.
    run_config = {} if verbose else {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    started = time.monotonic()
    label = job_name.removesuffix("_job")
    with open_instance(settings) as instance, RunWatcher(instance, run_id, steps, label, partitions) as watcher:
        result = job.execute_in_process(
            run_config=run_config,
            instance=instance,
            run_id=run_id,
            raise_on_error=False,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        )
    failed = len(watcher.failed) + len(watcher.skipped)
    return RangeRun(run_id, result, steps, failed, time.monotonic() - started)


def print_run_location(settings: Settings, run: RangeRun) -> None:
    print(f"run {run.run_id} is in the Dagster instance at {settings.dagster_home} (`make dagster` shows it)")


def run_batch(settings: Settings, first: str, last: str, verbose: bool = False) -> bool:
    """Runs batch_job over the partition keys ``first`` to ``last``; True when it succeeded."""
    print(f"batch: months {first[:7]} to {last[:7]} in one run; raw files from {settings.raw_uri}")
    run = execute_range(settings, batch_job.name, first, last, verbose)
    print(f"{run.summary('batch')}; warehouse {settings.warehouse_description}")
    print_run_location(settings, run)
    return run.result.success
