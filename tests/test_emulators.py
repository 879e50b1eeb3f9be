"""The prod path's building blocks against local emulators: GCS (fake-gcs-server) and BigQuery
(bqemulator), both real server processes started by netflix_devtools.emulators.

- google-cloud-storage uploads and downloads;
- Spark (its own JVM with the GCS connector, see tests/emulator_spark_job.py) reads a CSV from
  gs:// and writes and reads Parquet there;
- google-cloud-bigquery loads that Parquet from gs:// into a per-run staging table, moves it into
  the target in one multi-statement transaction, MERGEs, and a failing statement inside a
  transaction leaves the target as it was.

The clients come from ``netflix_core.gcp`` (``storage_client`` / ``bigquery_client``), and Spark's
configuration from ``netflix_core.spark``, as in prod: anonymous credentials and the emulators'
endpoints only because the settings name STORAGE_EMULATOR_HOST and BIGQUERY_EMULATOR_HOST.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from google.api_core.exceptions import BadRequest

from netflix_core.gcp import bigquery_client, storage_client
from netflix_core.settings import Settings
from netflix_devtools.emulators import bigquery_emulator, fake_gcs_server
from tests.emulator_fixtures import GcpEmulators, emulated_prod_settings

pytestmark = pytest.mark.emulators

REPO = Path(__file__).resolve().parent.parent
PROJECT = "netflix-test"
BUCKET = "netflix-test-lake"
DATASET = "analytics"

CSV_TEXT = (
    "user_id,movie_id,watch_date,watched_at,minutes\n"
    "user_00001,movie_0001,2024-06-15,2024-06-15 20:30:00,42.5\n"
    "user_00002,movie_0002,2024-06-15,2024-06-15 23:59:59,10.0\n"
    "user_00003,movie_0001,2024-06-16,2024-06-16 00:00:01,95.25\n"
)
UTC = timezone.utc  # noqa: UP017 - the name reads as the rows below use it
# The CSV's rows as BigQuery returns them (DATE -> date, TIMESTAMP -> aware datetime in UTC).
CSV_ROWS = [
    ("user_00001", "movie_0001", date(2024, 6, 15), datetime(2024, 6, 15, 20, 30, tzinfo=UTC), 42.5),
    ("user_00002", "movie_0002", date(2024, 6, 15), datetime(2024, 6, 15, 23, 59, 59, tzinfo=UTC), 10.0),
    ("user_00003", "movie_0001", date(2024, 6, 16), datetime(2024, 6, 16, 0, 0, 1, tzinfo=UTC), 95.25),
]
COLUMN_NAMES = ("user_id", "movie_id", "watch_date", "watched_at", "minutes")
COLUMNS = ", ".join(COLUMN_NAMES)


def watch_schema():
    from google.cloud import bigquery

    # In the Parquet files' column order: bqemulator loads Parquet by position, not by name.
    return [
        bigquery.SchemaField("user_id", "STRING", mode="REQUIRED"),
        bigquery.SchemaField("movie_id", "STRING", mode="REQUIRED"),
        bigquery.SchemaField("watch_date", "DATE"),
        bigquery.SchemaField("watched_at", "TIMESTAMP"),
        bigquery.SchemaField("minutes", "FLOAT64"),
    ]


# ----------------------------------------------------------------------------------------------
# Fixtures: both emulators for the module, the clients, the Spark run, the staging table
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gcs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fake-gcs-server's filesystem root, and bqemulator's root for gs:// URIs."""
    return tmp_path_factory.mktemp("gcs")


@pytest.fixture(scope="module")
def emulators(gcs_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GcpEmulators]:
    """This module's own pair: objects as files, so that bqemulator's load jobs read gs:// URIs."""
    logs = tmp_path_factory.mktemp("emulator_logs")
    with (
        fake_gcs_server(gcs_root, log_path=logs / "fake-gcs-server.log") as gcs_url,
        bigquery_emulator(PROJECT, gcs_root=gcs_root, log_path=logs / "bqemulator.log") as bigquery_url,
    ):
        yield GcpEmulators(gcs_url, bigquery_url)


@pytest.fixture(scope="module")
def settings(emulators: GcpEmulators, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return emulated_prod_settings(emulators, PROJECT, BUCKET, tmp_path_factory.mktemp("emulators"))


@pytest.fixture(scope="module")
def gcs(settings: Settings):
    client = storage_client(settings)
    client.create_bucket(BUCKET)
    return client


@pytest.fixture(scope="module")
def bq(settings: Settings):
    client = bigquery_client(settings)
    client.create_dataset(DATASET)
    return client


@dataclass(frozen=True)
class SparkRun:
    csv_uri: str
    parquet_uri: str
    result: dict


@pytest.fixture(scope="module")
def spark_run(emulators: GcpEmulators, gcs, tmp_path_factory: pytest.TempPathFactory) -> SparkRun:
    """The CSV uploaded with the Storage client; Spark reads it and writes Parquet to gs://."""
    run_id = uuid.uuid4().hex[:8]
    csv_name = f"raw/watch_history/{run_id}.csv"
    gcs.bucket(BUCKET).blob(csv_name).upload_from_string(CSV_TEXT, content_type="text/csv")
    scratch = tmp_path_factory.mktemp("emulator_spark")
    run = SparkRun(f"gs://{BUCKET}/{csv_name}", f"gs://{BUCKET}/staging/watch_history/{run_id}", {})
    result_json = scratch / "result.json"
    completed = subprocess.run(
        [sys.executable, "-m", "tests.emulator_spark_job", emulators.gcs_url, run.csv_uri, run.parquet_uri,
         str(result_json), str(scratch)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-4000:]
    return SparkRun(run.csv_uri, run.parquet_uri, json.loads(result_json.read_text()))


@pytest.fixture(scope="module")
def staging_table(bq, spark_run: SparkRun) -> str:
    """Spark's Parquet loaded from gs:// into a staging table of its own (one per run)."""
    from google.cloud import bigquery

    table_id = f"{PROJECT}.{DATASET}.stg_watch_history_{uuid.uuid4().hex[:8]}"
    job = bq.load_table_from_uri(
        f"{spark_run.parquet_uri}/*.parquet",
        table_id,
        # An explicit schema: bqemulator creates the table of a Parquet load only from one.
        job_config=bigquery.LoadJobConfig(source_format="PARQUET", schema=watch_schema()),
    )
    job.result()
    return table_id


def make_target(bq, rows: list[tuple]) -> str:
    from google.cloud import bigquery

    table_id = f"{PROJECT}.{DATASET}.watch_history_{uuid.uuid4().hex[:8]}"
    bq.create_table(bigquery.Table(table_id, schema=watch_schema()))
    if rows:
        # One row of scalar parameters each: bqemulator does not expand UNNEST(@array_of_structs)
        # into columns.
        values, parameters = [], []
        for i, row in enumerate(rows):
            names = [f"{column}_{i}" for column in COLUMN_NAMES]
            values.append("(" + ", ".join(f"@{name}" for name in names) + ")")
            parameters += [
                bigquery.ScalarQueryParameter(name, field.field_type, value)
                for name, field, value in zip(names, watch_schema(), row, strict=True)
            ]
        bq.query(
            f"INSERT INTO `{table_id}` ({COLUMNS}) VALUES {', '.join(values)}",
            job_config=bigquery.QueryJobConfig(query_parameters=parameters),
        ).result()
    return table_id


def table_rows(bq, table_id: str) -> list[tuple]:
    result = bq.query(f"SELECT {COLUMNS} FROM `{table_id}` ORDER BY user_id, movie_id, watch_date").result()
    return [tuple(row.values()) for row in result]


# ----------------------------------------------------------------------------------------------
# (a) Cloud Storage
# ----------------------------------------------------------------------------------------------


def test_storage_upload_download(gcs, gcs_root: Path):
    bucket = gcs.bucket(BUCKET)
    bucket.blob("smoke/hello.txt").upload_from_string(b"hello, gcs")
    payload = os.urandom(600 * 1024)
    # chunk_size makes the upload resumable (two chunks of 256 KiB and a last one).
    bucket.blob("smoke/blob.bin", chunk_size=256 * 1024).upload_from_string(payload)

    assert bucket.blob("smoke/hello.txt").download_as_bytes() == b"hello, gcs"
    assert bucket.blob("smoke/blob.bin").download_as_bytes() == payload
    assert sorted(blob.name for blob in gcs.list_blobs(BUCKET, prefix="smoke/")) == [
        "smoke/blob.bin",
        "smoke/hello.txt",
    ]
    # The filesystem backend keeps gs://BUCKET/NAME as ROOT/BUCKET/NAME, which is how bqemulator
    # resolves the gs:// URIs of load jobs (BQEMU_GCS_LOCAL_ROOT).
    assert (gcs_root / BUCKET / "smoke" / "blob.bin").read_bytes() == payload


# ----------------------------------------------------------------------------------------------
# (b) Spark on gs://
# ----------------------------------------------------------------------------------------------


def test_spark_reads_csv_and_writes_parquet_on_gcs(gcs, spark_run: SparkRun):
    expected = [
        {
            "user_id": user,
            "movie_id": movie,
            "watch_date": day.isoformat(),
            # Spark's TIMESTAMP is a local time in the session time zone (UTC here), without offset.
            "watched_at": at.replace(tzinfo=None).isoformat(),
            "minutes": minutes,
        }
        for user, movie, day, at, minutes in CSV_ROWS
    ]
    assert spark_run.result["csv_rows"] == expected
    assert spark_run.result["parquet_rows"] == expected
    assert spark_run.result["parquet_schema"] == [
        ["user_id", "string"],
        ["movie_id", "string"],
        ["watch_date", "date"],
        ["watched_at", "timestamp"],
        ["minutes", "double"],
    ]
    prefix = spark_run.parquet_uri.removeprefix(f"gs://{BUCKET}/") + "/"
    names = [blob.name.removeprefix(prefix) for blob in gcs.list_blobs(BUCKET, prefix=prefix)]
    assert "_SUCCESS" in names
    assert len([name for name in names if name.endswith(".parquet")]) == 2


# ----------------------------------------------------------------------------------------------
# (c) BigQuery: load from gs://, transaction, MERGE, rollback
# ----------------------------------------------------------------------------------------------


def test_load_parquet_from_gcs_into_staging(bq, staging_table: str):
    table = bq.get_table(staging_table)
    # BigQuery answers with the legacy name FLOAT, bqemulator with the FLOAT64 it was given.
    legacy = {"FLOAT": "FLOAT64", "INTEGER": "INT64", "BOOLEAN": "BOOL"}
    assert [(field.name, legacy.get(field.field_type, field.field_type)) for field in table.schema] == [
        ("user_id", "STRING"),
        ("movie_id", "STRING"),
        ("watch_date", "DATE"),
        ("watched_at", "TIMESTAMP"),
        ("minutes", "FLOAT64"),
    ]
    assert table.num_rows == 3
    assert table_rows(bq, staging_table) == CSV_ROWS


def test_transaction_replaces_the_staged_dates(bq, staging_table: str):
    kept = ("user_00009", "movie_0009", date(2024, 6, 14), datetime(2024, 6, 14, 12, 0, tzinfo=UTC), 1.0)
    replaced = ("user_00008", "movie_0008", date(2024, 6, 15), datetime(2024, 6, 15, 8, 0, tzinfo=UTC), 2.0)
    target = make_target(bq, [kept, replaced])

    bq.query(
        f"""
        BEGIN TRANSACTION;
        DELETE FROM `{target}` WHERE watch_date IN (SELECT DISTINCT watch_date FROM `{staging_table}`);
        INSERT INTO `{target}` ({COLUMNS}) SELECT {COLUMNS} FROM `{staging_table}`;
        COMMIT TRANSACTION;
        """
    ).result()

    assert table_rows(bq, target) == sorted([*CSV_ROWS, kept])


def test_merge_updates_and_inserts(bq, staging_table: str):
    stale = ("user_00001", "movie_0001", date(2024, 6, 15), datetime(2024, 6, 15, 1, 0, tzinfo=UTC), 5.0)
    other = ("user_00007", "movie_0007", date(2024, 6, 15), datetime(2024, 6, 15, 9, 0, tzinfo=UTC), 7.0)
    target = make_target(bq, [stale, other])

    job = bq.query(
        f"""
        MERGE `{target}` T
        USING `{staging_table}` S
        ON T.user_id = S.user_id AND T.movie_id = S.movie_id AND T.watch_date = S.watch_date
        WHEN MATCHED THEN UPDATE SET watched_at = S.watched_at, minutes = S.minutes
        WHEN NOT MATCHED THEN INSERT ({COLUMNS}) VALUES (S.user_id, S.movie_id, S.watch_date, S.watched_at, S.minutes)
        """
    )
    job.result()

    assert job.num_dml_affected_rows == 3  # one updated, two inserted
    assert table_rows(bq, target) == sorted([*CSV_ROWS, other])


def test_failing_statement_rolls_the_transaction_back(bq, staging_table: str):
    before = [("user_00009", "movie_0009", date(2024, 6, 15), datetime(2024, 6, 15, 12, 0, tzinfo=UTC), 1.0)]
    target = make_target(bq, before)

    with pytest.raises(BadRequest, match="staged batch rejected"):
        bq.query(
            f"""
            BEGIN TRANSACTION;
            DELETE FROM `{target}` WHERE TRUE;
            INSERT INTO `{target}` ({COLUMNS}) SELECT {COLUMNS} FROM `{staging_table}`;
            SELECT ERROR('staged batch rejected');
            COMMIT TRANSACTION;
            """
        ).result()

    assert table_rows(bq, target) == before


# ----------------------------------------------------------------------------------------------
# The context managers leave nothing running
# ----------------------------------------------------------------------------------------------


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        urllib.request.urlopen(url, timeout=2).close()
        return True
    except urllib.error.HTTPError:
        return True  # it answered, if only with an error
    except OSError:
        return False


def test_emulators_stop_on_exit(tmp_path: Path):
    with fake_gcs_server(tmp_path / "gcs") as gcs_url, bigquery_emulator("stop-test") as bigquery_url:
        assert _answers(f"{gcs_url}/storage/v1/b")
        assert _answers(f"{bigquery_url}/readyz")
    assert not _answers(f"{gcs_url}/storage/v1/b")
    assert not _answers(f"{bigquery_url}/readyz")
