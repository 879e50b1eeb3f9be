"""The batch layer in prod (NETFLIX_ENV=prod) against the emulators: raw files and the lake on
gs:// (fake-gcs-server, through Spark's GCS connector), the warehouse in BigQuery (bqemulator).

``netflix-lambda batch`` runs as a command in its own process, because gs:// needs a JVM started
with the GCS connector (the session's shared SparkSession has none). The backfill of the sample's
months runs as docker-compose runs it, on a Spark standalone cluster (``spark_cluster``: a master
and two workers on loopback), and must give the five tables of the session's local-mode run
(``batch_run``: the same months over the same files into DuckDB), cell by cell. The month re-run
uses a local master.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from netflix_core import contract
from netflix_core.gcp import split_gcs_uri, storage_client
from netflix_core.settings import Settings
from netflix_core.warehouse import open_warehouse
from netflix_dashboard import data
from netflix_devtools.spark_cluster import StandaloneCluster
from tests.cluster_fixtures import applications, cluster_environment
from tests.conftest import (
    MONTHLY_TABLES,
    PROCESSED_COLUMNS,
    PROCESSED_GRAIN,
    REPO,
    BatchRun,
    assert_tables_equal,
    clean_session,
    contract_rows,
)
from tests.emulator_fixtures import upload_folder
from tests.oracle import Oracle

pytestmark = pytest.mark.emulators

CHANGED_MONTH = date(2024, 6, 1)
CLI = Path(sys.executable).with_name("netflix-lambda")


def run_cli(
    settings: Settings, *args: str, environment: dict[str, str] | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """``netflix-lambda ARGS`` in the environment of ``settings`` (and nothing else of this process's),
    or in ``environment`` when given (one that runs ``settings`` on a cluster)."""
    if environment is None:
        environment = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **settings.to_environ()}
    return subprocess.run([str(CLI), *args], cwd=REPO, env=environment, capture_output=True, text=True, timeout=timeout)


def succeeded(completed: subprocess.CompletedProcess[str]) -> str:
    assert completed.returncode == 0, f"{completed.stdout[-3000:]}\n{completed.stderr[-5000:]}"
    return completed.stdout


@dataclass(frozen=True)
class ProdBatch:
    settings: Settings
    raw: Path  # the files uploaded to the bucket's raw/ prefix
    output: str


@pytest.fixture(scope="module")
def prod_batch(
    prod_settings: Callable[[str], Settings],
    batch_run: BatchRun,
    spark_cluster: StandaloneCluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> ProdBatch:
    """The months of the session's local run, over its raw files uploaded to the bucket, on the cluster."""
    settings = prod_settings("batch")
    raw = tmp_path_factory.mktemp("prod_raw")
    for path in Path(batch_run.settings.raw_uri).iterdir():
        shutil.copyfile(path, raw / path.name)
    upload_folder(settings, raw, settings.raw_uri)
    months = ("--from", batch_run.first_month[:7], "--to", batch_run.last_month[:7])
    output = succeeded(run_cli(settings, "batch", *months, environment=cluster_environment(spark_cluster, settings)))
    assert applications(spark_cluster, "netflix-lambda"), "the backfill did not run on the cluster"
    return ProdBatch(settings, raw, output)


def test_the_prod_backfill_on_the_cluster_equals_the_local_run_cell_by_cell(
    prod_batch: ProdBatch, batch_run: BatchRun
) -> None:
    assert batch_run.result.success
    assert "batch succeeded" in prod_batch.output and "checks passed" in prod_batch.output
    assert f"BigQuery project {prod_batch.settings.gcp_project}" in prod_batch.output
    bigquery, duckdb = open_warehouse(prod_batch.settings), open_warehouse(batch_run.settings)
    for table in contract.BATCH_TABLES:
        expected = contract_rows(duckdb, table)
        assert expected, f"{table.name}: the local run wrote nothing to compare with"
        assert_tables_equal(contract_rows(bigquery, table), expected, list(table.column_names), table.name)


def test_the_lake_is_in_the_bucket(prod_batch: ProdBatch) -> None:
    settings = prod_batch.settings
    client = storage_client(settings)
    bucket, _ = split_gcs_uri(settings.lake_uri)
    parquet = {}
    for table in (contract.DIM_USERS, contract.DIM_MOVIES, contract.FACT_REVIEWS, contract.FACT_SEARCHES,
                  contract.FACT_WATCH_SESSIONS):  # fmt: skip
        names = [blob.name for blob in client.list_blobs(bucket, prefix=f"lake/{table}/")]
        parquet[table] = [name for name in names if name.endswith(".parquet")]
        assert parquet[table], f"{table} has no Parquet file in the bucket"
    months = {name.split("/")[2] for name in parquet[contract.FACT_WATCH_SESSIONS]}
    assert len(months) == 24 and {"month=2024-01-01", "month=2025-12-01"} <= months
    assert not Path(settings.duckdb_path).exists(), "the prod run wrote a DuckDB file"


def test_query_reads_bigquery_and_a_users_mistake_is_one_line(prod_batch: ProdBatch) -> None:
    sql = f"SELECT month, total_sessions FROM {contract.MONTHLY_ACTIVE_USERS.qualified_name} ORDER BY month"
    lines = succeeded(run_cli(prod_batch.settings, "query", sql, "--format", "csv", timeout=120)).splitlines()
    assert lines[0] == "month,total_sessions"
    assert [line.split(",")[0] for line in lines[1:3]] == ["2024-01-01", "2024-02-01"]
    mistake = run_cli(prod_batch.settings, "query", "SELEC nonsense", timeout=120)
    assert mistake.returncode == 2 and "Traceback" not in mistake.stderr
    assert len(mistake.stderr.strip().splitlines()) == 1


def test_the_historical_trends_page_reads_bigquery(prod_batch: ProdBatch) -> None:
    history = data.load_history(open_warehouse(prod_batch.settings))
    for read in (history.engagement, history.cohorts, history.genres, history.content_months):
        assert read.status is data.Status.READY and len(read.frame) > 0, read.table


def _add_sessions(path: Path, month: date, count: int) -> None:
    """Appends ``count`` clean sessions in ``month`` of a known user and movie."""
    with path.open(newline="") as handle:
        header = next(csv.reader(handle))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for number in range(count):
        watch_date = f"{month:%Y-%m}-1{number} 20:00:00"
        writer.writerow(clean_session(header, f"session_prod_{number}", watch_date, f"movie_000{number + 1}"))
    with path.open("a", newline="") as handle:
        handle.write(buffer.getvalue())


def test_rerunning_one_month_replaces_exactly_that_month(prod_batch: ProdBatch, tmp_path: Path) -> None:
    settings = prod_batch.settings
    warehouse = open_warehouse(settings)
    tables = {name: next(t for t in contract.BATCH_TABLES if t.name == name) for name in MONTHLY_TABLES}
    before = {name: contract_rows(warehouse, table) for name, table in tables.items()}
    raw = tmp_path / "raw"
    shutil.copytree(prod_batch.raw, raw)
    _add_sessions(raw / "watch_history.csv", CHANGED_MONTH, 3)
    upload_folder(settings, raw, settings.raw_uri)

    month = f"{CHANGED_MONTH:%Y-%m}"
    succeeded(run_cli(settings, "batch", "--from", month, "--to", month))

    with Oracle(raw) as oracle:
        for name, table in tables.items():
            after = contract_rows(warehouse, table)
            assert [r for r in after if r["month"] != CHANGED_MONTH] == [
                r for r in before[name] if r["month"] != CHANGED_MONTH
            ], f"{name}: another month changed"
            this_month = [r for r in after if r["month"] == CHANGED_MONTH]
            assert this_month != [r for r in before[name] if r["month"] == CHANGED_MONTH], f"{name}: month unchanged"
            expected = [r for r in oracle.table(name, PROCESSED_GRAIN[name]) if r["month"] == CHANGED_MONTH]
            assert_tables_equal(this_month, expected, PROCESSED_COLUMNS[name], f"{name} {CHANGED_MONTH}")
