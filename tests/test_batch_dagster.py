"""The batch layer as Dagster assets: one-run backfills, partition replacement, blocking checks,
asset checks (SPEC section 9) and the command line (SPEC section 8)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import Counter
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from netflix_assets.assets.lake import fact_watch_sessions
from netflix_assets.assets.processed import processed_assets
from netflix_assets.definitions import build_definitions
from netflix_assets.resources import resources_for
from netflix_core.lake import staged
from tests.conftest import (
    HEADERS,
    MONTHLY_TABLES,
    PROCESSED_COLUMNS,
    PROCESSED_GRAIN,
    assert_tables_equal,
    clean_session,
    make_settings,
    month_keys,
    raw_tuple_of_json,
    read_lake_rows,
    read_rejected,
    warehouse_rows,
)
from tests.oracle import Oracle

MONTHLY_ASSETS = [
    ["lake", "fact_watch_sessions"],
    *(["netflix_processed", table] for table in MONTHLY_TABLES),
]
ALL_ASSETS = [
    *(["raw", table] for table in HEADERS),
    ["lake", "dim_users"],
    ["lake", "dim_movies"],
    ["lake", "fact_reviews"],
    ["lake", "fact_searches"],
    *MONTHLY_ASSETS,
    ["netflix_processed", "cohort_retention"],
]
# SPEC section 9, as named by netflix_assets/checks.py and assets/raw.py.
EXPECTED_CHECKS = {
    *{(f"raw/{table}", "has_expected_columns") for table in HEADERS},
    ("lake/dim_users", "user_id_not_null_and_unique"),
    ("lake/dim_movies", "movie_id_not_null_and_unique"),
    ("lake/fact_watch_sessions", "session_id_not_null_and_unique"),
    ("lake/fact_reviews", "review_id_not_null_and_unique"),
    ("lake/fact_searches", "search_id_not_null_and_unique"),
    ("lake/dim_users", "accepted_values"),
    ("lake/fact_watch_sessions", "accepted_values"),
    ("lake/fact_watch_sessions", "progress_percentage_in_range"),
    ("lake/fact_reviews", "rating_in_range"),
    ("lake/fact_watch_sessions", "referential_integrity"),
    ("lake/fact_reviews", "referential_integrity"),
    ("netflix_processed/monthly_engagement", "reconciles_with_fact_partitions"),
}


def dg_date(text: str) -> date:
    return date.fromisoformat(text)


def _materialized(result) -> dict[str, set]:
    """Asset key -> partitions materialized (None for an unpartitioned asset)."""
    out: dict[str, set] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.event_specific_data.materialization
        out.setdefault(materialization.asset_key.to_user_string(), set()).add(materialization.partition)
    return out


# -- the shared run ------------------------------------------------------------------------------


def test_batch_job_materializes_everything(batch_run):
    result = batch_run.result
    assert result.success, [e.step_failure_data.error.message for e in result.get_step_failure_events()]
    materialized = _materialized(result)
    months = set(month_keys(dg_date(batch_run.first_month), dg_date(batch_run.last_month)))
    for path in ALL_ASSETS:
        key = "/".join(path)
        assert key in materialized, f"{key} was not materialized"
        if path in MONTHLY_ASSETS:
            assert materialized[key] == months, f"{key}: partitions {sorted(materialized[key])[:3]}..."


def test_staged_rows_are_removed_after_each_step(batch_run):
    staging = Path(batch_run.settings.lake_uri) / "_staging"
    assert staging.is_dir(), "the lake steps stage their labeled rows under _staging/"
    left = [str(path.relative_to(staging)) for path in staging.glob("*/*")]
    assert not left, f"staged rows left behind: {left}"


def test_staged_rows_are_removed_when_a_step_fails(spark, tmp_path):
    path = str(tmp_path / "_staging" / "table" / "run")
    with pytest.raises(RuntimeError, match="the step failed"):
        with staged(spark, spark.range(3), path) as rows:
            assert rows.count() == 3
            raise RuntimeError("the step failed")
    assert not Path(path).exists()


def test_checks_pass_on_the_sample(batch_run):
    evaluations = {
        (e.asset_key.to_user_string(), e.check_name): e for e in batch_run.result.get_asset_check_evaluations()
    }
    assert EXPECTED_CHECKS <= set(evaluations), EXPECTED_CHECKS - set(evaluations)
    failed = {key: e.metadata for key, e in evaluations.items() if not e.passed}
    assert not failed
    reconcile = evaluations[("netflix_processed/monthly_engagement", "reconciles_with_fact_partitions")]
    assert reconcile.metadata["months_checked"].value == len(
        month_keys(dg_date(batch_run.first_month), dg_date(batch_run.last_month))
    )


def test_reconciliation_holds(batch_run, spark):
    """monthly_engagement.total_sessions per month = rows of the fact's month partition (recomputed here)."""
    facts = Counter(row["month"] for row in read_lake_rows(spark, batch_run.settings, "fact_watch_sessions"))
    sessions = Counter()
    for row in warehouse_rows(batch_run.settings, "monthly_engagement"):
        sessions[row["month"]] += row["total_sessions"]
    assert sessions == facts


def test_backfill_is_one_run_with_one_spark_session(batch_run, spark):
    result = batch_run.result
    starts = Counter(e.step_key for e in result.all_events if e.event_type_value == "STEP_START")
    for path in MONTHLY_ASSETS:
        assert starts["__".join(path)] == 1, f"{path} ran {starts['__'.join(path)]} times"
    assert {
        e.event_specific_data.materialization.partition
        for e in result.get_asset_materialization_events()
        if e.event_specific_data.materialization.partition
    } == set(month_keys(dg_date(batch_run.first_month), dg_date(batch_run.last_month)))
    # One run in the instance, and every month of every monthly asset was materialized by it.
    instance = batch_run.instance
    assert [run.run_id for run in instance.get_runs()] == [result.run_id]
    for path in MONTHLY_ASSETS:
        key = dg.AssetKey(path)
        assert instance.get_latest_materialization_event(key).run_id == result.run_id
        assert instance.get_materialized_partitions(key) == set(
            month_keys(dg_date(batch_run.first_month), dg_date(batch_run.last_month))
        )
    assert batch_run.spark_sessions, "the assets never asked for a SparkSession"
    assert set(batch_run.spark_sessions) == {(id(spark), spark.sparkContext.applicationId)}
    defs = build_definitions(batch_run.settings)
    for path in MONTHLY_ASSETS:
        assert defs.get_assets_def(dg.AssetKey(path)).backfill_policy == dg.BackfillPolicy.single_run()


# -- re-materializing one month replaces exactly that month -------------------------------------


REPLACED_MONTH = "2024-06-01"


def _modify_month(path: Path, month_prefix: str) -> int:
    """Drops every other session of the month, marks the rest completed, adds three; returns changes.

    Only sessions whose id occurs once in the file are touched, so no other month can change.
    """
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    index = {name: i for i, name in enumerate(header)}
    ids = Counter(row[index["session_id"]] for row in body if len(row) == len(header))
    out, changed, toggle = [], 0, False
    for row in body:
        if len(row) == len(header) and row[index["watch_date"]].startswith(month_prefix) and ids[row[0]] == 1:
            toggle = not toggle
            changed += 1
            if toggle:
                continue
            row = list(row)
            row[index["action"]] = "completed"
        out.append(row)
    for number in range(3):
        watch_date = f"{month_prefix}-1{number} 20:00:00"
        out.append(clean_session(header, f"session_new{number}", watch_date, f"movie_000{number + 1}"))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(out)
    path.write_text(buffer.getvalue())
    return changed


def _month_files(lake: Path) -> dict[str, tuple]:
    return {
        str(p.relative_to(lake)): (p.stat().st_mtime_ns, p.stat().st_size)
        for p in (lake / "fact_watch_sessions").rglob("*.parquet")
    }


def test_rematerializing_a_month_replaces_exactly_that_month(batch_run, sample_raw_dir, spark, tmp_path):
    assert batch_run.result.success
    raw = tmp_path / "raw"
    shutil.copytree(sample_raw_dir, raw)
    shutil.copytree(batch_run.settings.lake_uri, tmp_path / "lake")
    shutil.copyfile(batch_run.settings.duckdb_path, tmp_path / "warehouse.duckdb")
    settings = make_settings(tmp_path, raw=raw)
    month = dg_date(REPLACED_MONTH)

    before = {table: warehouse_rows(settings, table) for table in MONTHLY_TABLES}
    files_before = _month_files(tmp_path / "lake")
    rejected_before = Counter(
        (r["reason"], r["month"], r["raw_row"]) for r in read_rejected(spark, settings, "watch_history")
    )
    assert _modify_month(raw / "watch_history.csv", REPLACED_MONTH[:7]) > 100

    result = dg.materialize(
        [fact_watch_sessions, *[a for a in processed_assets if a.partitions_def is not None]],
        resources=resources_for(settings),
        partition_key=REPLACED_MONTH,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    assert _materialized(result) == {"/".join(path): {REPLACED_MONTH} for path in MONTHLY_ASSETS}

    with Oracle(raw) as oracle:
        for table in MONTHLY_TABLES:
            after = warehouse_rows(settings, table)
            others_after = [r for r in after if r["month"] != month]
            others_before = [r for r in before[table] if r["month"] != month]
            assert others_after == others_before, f"{table}: other months changed"
            this_month = [r for r in after if r["month"] == month]
            expected = [r for r in oracle.table(table, PROCESSED_GRAIN[table]) if r["month"] == month]
            assert_tables_equal(this_month, expected, PROCESSED_COLUMNS[table], f"{table} {month}")
            assert this_month != [r for r in before[table] if r["month"] == month], f"{table}: month unchanged"

        # The lake: the month's fact partition rewritten, every other partition's files untouched.
        files_after = _month_files(tmp_path / "lake")
        marker = f"month={REPLACED_MONTH}"
        assert {k: v for k, v in files_after.items() if marker not in k} == {
            k: v for k, v in files_before.items() if marker not in k
        }
        facts = read_lake_rows(spark, settings, "fact_watch_sessions")
        assert {r["session_id"] for r in facts if r["month"] == month} == {
            key for key, row in oracle.clean_rows("watch_history").items() if row["month"] == month
        }
        # rejected_rows: the month's slice (and the month-less slice) re-derived, the others kept.
        rejected_after = read_rejected(spark, settings, "watch_history")
        assert {r["run_id"] for r in rejected_after if r["month"] == month} <= {result.run_id}
        assert Counter(
            (r["reason"], r["month"], r["raw_row"]) for r in rejected_after if r["month"] not in (month, None)
        ) == Counter({k: v for k, v in rejected_before.items() if k[1] not in (month, None)})
        assert Counter(
            (r["reason"], r["month"], raw_tuple_of_json(r["raw_row"], "watch_history"))
            for r in rejected_after
            if r["month"] == month
        ) == Counter(r for r in oracle.rejected("watch_history") if r[1] == month)


# -- the command line ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory):
    """A small generated dataset of two months for the CLI (the project's generator, all five files)."""
    root = tmp_path_factory.mktemp("cli")
    raw = root / "raw"
    from netflix_devtools.datagen import generate

    generate(raw, users=300, movies=80, sessions=2_000, start="2024-06", end="2024-07", seed=3, progress=False)
    return root


def test_cli_batch_then_query(cli_env, monkeypatch, capsys, spark):
    from netflix_cli.main import main

    monkeypatch.setenv("NETFLIX_ENV", "local")
    monkeypatch.setenv("NETFLIX_RAW_URI", str(cli_env / "raw"))
    monkeypatch.setenv("NETFLIX_LAKE_URI", str(cli_env / "lake"))
    monkeypatch.setenv("NETFLIX_DUCKDB_PATH", str(cli_env / "warehouse.duckdb"))
    monkeypatch.setenv("NETFLIX_CHECKPOINT_URI", str(cli_env / "checkpoints"))
    monkeypatch.setenv("SPARK_MASTER", "local[2]")
    monkeypatch.setenv("DAGSTER_HOME", str(cli_env / "dagster_home"))

    assert main(["batch", "--from", "2024-06", "--to", "2024-07"]) == 0
    printed = capsys.readouterr().out
    assert "in one run" in printed and "succeeded" in printed
    # Captured output is no terminal: one line per asset, no progress bar redrawn with carriage returns.
    assert "\r" not in printed and "asset/s" not in printed
    assert "  lake/fact_watch_sessions " in printed

    assert (
        main(["query", "SELECT * FROM netflix_processed.monthly_active_users ORDER BY month", "--format", "json"]) == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    with Oracle(cli_env / "raw") as oracle:
        expected = oracle.table("monthly_active_users", ["month"])
    expected = [r for r in expected if r["month"].isoformat() in ("2024-06-01", "2024-07-01")]
    assert [line["month"][:10] for line in lines] == [r["month"].isoformat() for r in expected]
    for line, want in zip(lines, expected):
        for column in ("monthly_active_users", "countries", "total_sessions"):
            assert line[column] == want[column], (column, line, want)
        assert line["total_watch_time_minutes"] == pytest.approx(want["total_watch_time_minutes"], rel=1e-9)

    # The other tables of this second, independently generated dataset agree with the oracle too.
    settings = make_settings(cli_env, raw=cli_env / "raw")
    with Oracle(cli_env / "raw") as oracle:
        for table in PROCESSED_GRAIN:
            expected = oracle.table(table, PROCESSED_GRAIN[table])
            if table != "cohort_retention":
                expected = [r for r in expected if r["month"].isoformat() in ("2024-06-01", "2024-07-01")]
            assert_tables_equal(warehouse_rows(settings, table), expected, PROCESSED_COLUMNS[table], table)

    assert main(["query", "SELECT count(*) AS n FROM netflix_processed.cohort_retention", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "n"


def test_cli_batch_rejects_a_bad_month(monkeypatch, capsys, tmp_path):
    from netflix_cli.main import main

    monkeypatch.setenv("NETFLIX_DUCKDB_PATH", str(tmp_path / "w.duckdb"))
    monkeypatch.setenv("NETFLIX_RAW_URI", str(tmp_path / "raw"))
    assert main(["batch", "--from", "2024-13", "--to", "2024-06"]) == 2
    assert "2024-13" in capsys.readouterr().err
    assert main(["batch", "--from", "2024-07", "--to", "2024-06"]) == 2
    assert main(["batch"]) == 2  # no raw files there: one line that says which and how to make them
    assert "missing raw file(s) users.csv" in capsys.readouterr().err
    assert main(["query", "SELECT 1", "--format", "json"]) == 2  # no warehouse yet: a clear message
    assert "no warehouse" in capsys.readouterr().err
