"""``netflix-lambda batch``: the whole batch layer for a range of months, as one Dagster run."""

from __future__ import annotations

import re

import dagster as dg

from netflix_assets.definitions import build_definitions
from netflix_assets.partitions import monthly_partitions
from netflix_assets.settings import Settings

MONTH = re.compile(r"^\d{4}-\d{2}$")


def partition_range(from_month: str | None, to_month: str | None) -> tuple[str, str]:
    """Partition keys for ``--from``/``--to`` (YYYY-MM, inclusive); all partitions by default."""
    keys = monthly_partitions.get_partition_keys()
    chosen = []
    for given, default in ((from_month, keys[0]), (to_month, keys[-1])):
        if given is None:
            chosen.append(default)
            continue
        if not MONTH.match(given):
            raise ValueError(f"months are written YYYY-MM, not {given!r}")
        key = f"{given}-01"
        if key not in keys:
            raise ValueError(f"{given} is outside the monthly partitions ({keys[0][:7]} to {keys[-1][:7]})")
        chosen.append(key)
    if chosen[0] > chosen[1]:
        raise ValueError(f"--from {chosen[0][:7]} is after --to {chosen[1][:7]}")
    return chosen[0], chosen[1]


def _instance(settings: Settings) -> dg.DagsterInstance:
    # DAGSTER_HOME makes the run visible in `dagster dev`; Dagster reads the variable itself.
    return dg.DagsterInstance.get() if settings.dagster_home else dg.DagsterInstance.ephemeral()


def run_batch(settings: Settings, from_month: str | None = None, to_month: str | None = None) -> bool:
    try:
        first, last = partition_range(from_month, to_month)
    except ValueError as error:
        print(f"netflix-lambda batch: {error}")
        return False
    job = build_definitions(settings).resolve_job_def("batch_job")
    print(f"batch: months {first[:7]} to {last[:7]} in one run; raw files from {settings.raw_uri}")
    with _instance(settings) as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        )
    _print_summary(result, settings)
    return result.success


def _print_summary(result: dg.ExecuteInProcessResult, settings: Settings) -> None:
    # A range run reports one materialization per month, each with the whole run's row count.
    written: dict[str, int | None] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        rows = materialization.metadata.get("dagster/row_count")
        written[materialization.asset_key.to_user_string()] = rows.value if rows is not None else None
    for key, rows in written.items():
        print(f"  materialized {key}" + (f": {rows:,} rows" if rows is not None else ""))
    for evaluation in result.get_asset_check_evaluations():
        if not evaluation.passed:
            print(f"  CHECK FAILED {evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    for event in result.all_events:
        if event.is_step_failure:
            print(f"  FAILED {event.step_key}: {event.step_failure_data.error.message.strip()}")
    status = "succeeded" if result.success else "failed"
    print(f"batch run {result.run_id} {status}; lake {settings.lake_uri}; warehouse {settings.duckdb_path}")
