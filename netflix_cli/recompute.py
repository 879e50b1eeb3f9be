"""``netflix-lambda recompute``: the batch view of the speed layer's archive, then the serving view.

By default every *closed* day of the archive is recomputed: a day the speed layer's watermark has
passed, so the speed layer can no longer change its windows (what arrives for it now is late, and
only the batch view counts it). ``--from``/``--to`` narrow the days, and ``--to`` may name a day
that is still open. The days are one Dagster run of ``recompute_job`` (one Spark session),
reconciled with the speed layer by the check ``reconciles_with_speed_layer``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from netflix_assets.assets.serving import RECOMPUTE_JOB_NAME
from netflix_assets.partitions import daily_partitions
from netflix_cli.batch import UsageError, execute_range, print_run_location
from netflix_core import contract
from netflix_core.lake import LakePaths, archive_days
from netflix_core.serving import is_closed, speed_layer_watermark, windows_by_source
from netflix_core.settings import Settings
from netflix_core.spark import spark_conf, start_session
from netflix_core.warehouse import READER_LOCK_TIMEOUT_SECONDS, Warehouse, open_warehouse

DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_day_range(from_day: str | None, to_day: str | None) -> tuple[date | None, date | None]:
    """``--from``/``--to`` (YYYY-MM-DD, inclusive) as days of the daily partitions."""
    keys = daily_partitions.get_partition_keys()
    first_key, last_key = keys[0], keys[-1]
    chosen: list[date | None] = []
    for given in (from_day, to_day):
        if given is None:
            chosen.append(None)
            continue
        if not DAY.match(given):
            raise UsageError(f"days are written YYYY-MM-DD, not {given!r}")
        try:
            day = date.fromisoformat(given)
        except ValueError:
            raise UsageError(f"{given} is not a day of the calendar") from None
        if not first_key <= given <= last_key:
            raise UsageError(f"{given} is outside the daily partitions ({first_key} to {last_key})")
        chosen.append(day)
    first, last = chosen
    if first and last and first > last:
        raise UsageError(f"--from {first} is after --to {last}")
    return first, last


@dataclass(frozen=True)
class Plan:
    days: list[date]  # the archive's days to recompute, oldest first
    watermark: datetime | None

    @property
    def open_days(self) -> list[date]:
        return [day for day in self.days if not is_closed(day, self.watermark)]


def plan_days(archived: list[date], watermark: datetime | None, first: date | None, last: date | None) -> Plan:
    """The archive's days from ``first`` (default: its first) to ``last`` (default: its last closed day)."""
    if last is None:
        closed = [day for day in archived if is_closed(day, watermark)]
        if not closed:
            return Plan([], watermark)
        last = closed[-1]
    first = first or archived[0]
    return Plan([day for day in archived if first <= day <= last], watermark)


def run_recompute(settings: Settings, first: date | None, last: date | None, verbose: bool = False) -> int:
    """Plans the days, runs recompute_job over them, prints what changed; the exit code."""
    lake = LakePaths.from_settings(settings)
    warehouse = open_warehouse(settings, READER_LOCK_TIMEOUT_SECONDS)
    # The run's Spark session, started early to list the archive (gs:// as well as a folder).
    spark = start_session(spark_conf(settings))
    archived = archive_days(spark, lake)
    if not archived:
        raise UsageError(
            f"the archive {lake.table_path(contract.WATCH_EVENTS_ARCHIVE)} holds no event yet: "
            "the streaming job writes it (`netflix-lambda stream`)"
        )
    plan = plan_days(archived, speed_layer_watermark(warehouse), first, last)
    watermark = f"{plan.watermark:%Y-%m-%d %H:%M:%S}" if plan.watermark else "not set (no micro-batch yet)"
    if not plan.days:
        if last is not None:
            raise UsageError(
                f"the archive holds no day from {first or archived[0]} to {last} (it has {archived[0]} to {archived[-1]})"
            )
        if first is not None:
            raise UsageError(
                f"no closed day of the archive from {first} on (the watermark: {watermark}); --to names open days"
            )
        print(
            f"recompute: nothing to do, no day of the archive is closed yet (the speed layer's watermark: {watermark})"
        )
        return 0
    print(
        f"recompute: {len(plan.days)} day(s) of the archive, {plan.days[0]} to {plan.days[-1]}, in one run "
        f"(the speed layer's watermark: {watermark})"
    )
    if plan.open_days:
        print(f"  still open, the speed layer may add to them: {', '.join(map(str, plan.open_days))}")
    run = execute_range(
        settings, RECOMPUTE_JOB_NAME, plan.days[0].isoformat(), plan.days[-1].isoformat(), verbose, partitions="days"
    )
    for evaluation in run.checks:
        metadata = evaluation.metadata
        if "late_events" in metadata:
            print(
                f"  reconciliation: {evaluation.description}; {metadata['late_events'].value} late event(s) the "
                "speed layer dropped are counted by the batch view"
            )
    print(f"{run.summary('recompute')}; {serving_summary(warehouse)}")
    print_run_location(settings, run)
    return 0 if run.result.success else 1


def serving_summary(warehouse: Warehouse) -> str:
    windows = windows_by_source(warehouse)
    return (
        f"{contract.ENGAGEMENT_HEALTH_SERVING}: {windows.get(contract.BATCH_SOURCE, 0)} windows from the batch layer, "
        f"{windows.get(contract.SPEED_SOURCE, 0)} from the speed layer"
    )
