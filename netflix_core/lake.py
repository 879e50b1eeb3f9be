"""The Parquet lake: where things are, whole tables, month slices, the shared ``rejected_rows``.

Files are reached through Hadoop's file system API, so a gs:// lake works like a local folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StringType, StructField, StructType

from netflix_core.contract import (
    ARCHIVE_PARTITION_COLUMNS,
    FACT_WATCH_SESSIONS,
    RAW_TABLES,
    REJECTED_ROWS,
    WATCH_EVENTS_ARCHIVE,
)
from netflix_core.gcp import explained_gcp_errors, is_gcs_uri, list_folder, storage_client
from netflix_core.schemas import WATCH_EVENT_ARCHIVE_SCHEMA
from netflix_core.settings import Settings
from netflix_core.transforms.star_schema import fact_watch_sessions_schema


class MissingLakeTableError(RuntimeError):
    """A lake table read before the asset that writes it was materialized."""


@dataclass(frozen=True)
class LakePaths:
    """Where raw inputs are read, the lake is written and streaming checkpoints are kept."""

    raw_uri: str
    lake_uri: str
    checkpoint_uri: str

    @classmethod
    def from_settings(cls, settings: Settings) -> LakePaths:
        return cls(raw_uri=settings.raw_uri, lake_uri=settings.lake_uri, checkpoint_uri=settings.checkpoint_uri)

    def raw_path(self, table: str) -> str:
        return f"{self.raw_uri.rstrip('/')}/{table}.csv"

    def table_path(self, table: str) -> str:
        return f"{self.lake_uri.rstrip('/')}/{table}"

    def staging_path(self, name: str, run_id: str) -> str:
        # Spark and the lake's readers skip folders whose names start with an underscore.
        return f"{self.lake_uri.rstrip('/')}/_staging/{name}/{run_id}"

    def checkpoint_path(self, query_name: str) -> str:
        return f"{self.checkpoint_uri.rstrip('/')}/{query_name}"


def months_between(start: date, end: date) -> list[date]:
    """First days of the months in ``[start, end)``."""
    months, year, month = [], start.year, start.month
    while date(year, month, 1) < end:
        months.append(date(year, month, 1))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
REJECTED_ROWS_SCHEMA = StructType(
    [
        StructField("reason", StringType()),
        StructField("raw_row", StringType()),
        StructField("run_id", StringType()),
        StructField("source_table", StringType()),
        StructField("month", DateType()),
    ]
)


def _filesystem(spark: SparkSession, path: str):
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    return hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()), hadoop_path


def read_text(spark: SparkSession, path: str) -> str:
    """A small file's text (a streaming checkpoint's offset log, say)."""
    filesystem, hadoop_path = _filesystem(spark, path)
    stream = filesystem.open(hadoop_path)
    try:
        return spark.sparkContext._jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def delete_path(spark: SparkSession, path: str) -> None:
    """Deletes a lake folder through Hadoop's file system API, so gs:// works like a local path."""
    filesystem, hadoop_path = _filesystem(spark, path)
    if filesystem.exists(hadoop_path):
        filesystem.delete(hadoop_path, True)


def path_exists(spark: SparkSession, path: str) -> bool:
    filesystem, hadoop_path = _filesystem(spark, path)
    return bool(filesystem.exists(hadoop_path))


# Month-partitioned tables are read with their schema: while the months written so far hold no
# rows, the folder has no Parquet file to take it from, and the table must read as empty.
PARTITIONED_TABLE_SCHEMAS: dict[str, Callable[[SparkSession], StructType]] = {
    FACT_WATCH_SESSIONS: fact_watch_sessions_schema,
}


def read_table(spark: SparkSession, paths: LakePaths, table: str) -> DataFrame:
    path = paths.table_path(table)
    schema = PARTITIONED_TABLE_SCHEMAS.get(table)
    if not path_exists(spark, path):
        raise MissingLakeTableError(f"lake table {table} does not exist yet at {path}: materialize lake/{table} first")
    reader = spark.read if schema is None else spark.read.schema(schema(spark))
    return reader.parquet(path)


def write_table(df: DataFrame, path: str) -> None:
    df.write.mode("overwrite").parquet(path)


@contextmanager
def staged(spark: SparkSession, frame: DataFrame, path: str) -> Iterator[DataFrame]:
    """``frame`` computed once, written to Parquet at ``path`` and read back; deleted on exit.

    For a result that several writes and counts read: Spark's cache of ten million rows cost more
    to build and to read than a Parquet write and columnar reads that take only the columns each
    pass needs.
    """
    write_table(frame, path)
    try:
        yield spark.read.parquet(path)
    finally:
        delete_path(spark, path)


def write_months(spark: SparkSession, df: DataFrame, path: str, months: list[date]) -> None:
    """Replaces exactly the given month partitions: those with rows are overwritten, the rest removed."""
    for month in months:
        delete_path(spark, f"{path}/month={month.isoformat()}")
    df.filter(F.col("month").isin(months)).write.mode("append").partitionBy("month").parquet(path)


def replace_rejected_rows(
    spark: SparkSession,
    lake_path: str,
    source_table: str,
    rejected: DataFrame,
    run_id: str,
    months: list[date] | None = None,
) -> None:
    """Replaces ``source_table``'s slice of ``rejected_rows``: all of it, or the given months plus
    the rows whose month is unknown (re-derived from the same raw file on every run)."""
    base = f"{lake_path}/{REJECTED_ROWS}/source_table={source_table}"
    if months is None:
        delete_path(spark, base)
        slice_ = rejected
    else:
        for month in months:
            delete_path(spark, f"{base}/month={month.isoformat()}")
        delete_path(spark, f"{base}/month={NULL_PARTITION}")
        slice_ = rejected.filter(F.col("month").isNull() | F.col("month").isin(months))
    (
        slice_.withColumn("run_id", F.lit(run_id))
        .select("reason", "raw_row", "run_id", "source_table", "month")
        .write.mode("append")
        .partitionBy("source_table", "month")
        .parquet(f"{lake_path}/{REJECTED_ROWS}")
    )


def read_rejected_rows(spark: SparkSession, lake_path: str) -> DataFrame:
    path = f"{lake_path}/{REJECTED_ROWS}"
    if not path_exists(spark, path):
        return spark.createDataFrame([], REJECTED_ROWS_SCHEMA)
    return spark.read.schema(REJECTED_ROWS_SCHEMA).option("basePath", path).parquet(path)


# --- The archive of watch events (contract section 7b) -------------------------------------------

EVENT_DATE = ARCHIVE_PARTITION_COLUMNS[0]


def archive_micro_batch(events: DataFrame, lake: LakePaths, query_id: str, batch_id: int) -> None:
    """Files one micro-batch's events under ``event_date=D/query_id=Q/batch_id=N/``, replacing
    whatever an earlier attempt at the same batch left there (see ``spark_streaming/sink.py``).

    Dynamic partition overwrite replaces exactly the folders this write produces: the batch's own,
    never another batch's. Each Kafka partition's task writes its own file, so the re-read stays
    parallel: a day gets at most one file per Kafka partition and micro-batch.
    """
    (
        events.withColumns({"query_id": F.lit(query_id), "batch_id": F.lit(batch_id).cast("bigint")})
        .write.mode("overwrite")
        .option("partitionOverwriteMode", "dynamic")
        .partitionBy(*ARCHIVE_PARTITION_COLUMNS)
        .parquet(lake.table_path(WATCH_EVENTS_ARCHIVE))
    )


def archive_days(spark: SparkSession, lake: LakePaths) -> list[date]:
    """The event days the archive holds events of, oldest first."""
    path = lake.table_path(WATCH_EVENTS_ARCHIVE)
    filesystem, hadoop_path = _filesystem(spark, f"{path}/{EVENT_DATE}=*")
    statuses = filesystem.globStatus(hadoop_path) or []
    prefix = f"{EVENT_DATE}="
    return sorted(date.fromisoformat(status.getPath().getName()[len(prefix) :]) for status in statuses)


def read_archive(spark: SparkSession, lake: LakePaths, days: list[date]) -> DataFrame:
    """The archived events of ``days`` (one row per Kafka record read by a checkpoint's query)."""
    path = lake.table_path(WATCH_EVENTS_ARCHIVE)
    folders = [f"{path}/{EVENT_DATE}={day.isoformat()}" for day in days]
    present = [folder for folder in folders if path_exists(spark, folder)]
    if not present:
        return spark.createDataFrame([], WATCH_EVENT_ARCHIVE_SCHEMA)
    return spark.read.schema(WATCH_EVENT_ARCHIVE_SCHEMA).option("basePath", path).parquet(*present)


def missing_raw_files(settings: Settings) -> list[str]:
    """The raw files absent from the raw folder or bucket prefix (another scheme: Spark tells)."""
    expected = [f"{table}.csv" for table in RAW_TABLES]
    if is_gcs_uri(settings.raw_uri):
        with explained_gcp_errors():
            present = {uri.rsplit("/", 1)[1] for uri in list_folder(storage_client(settings), settings.raw_uri)}
    elif "://" in settings.raw_uri:
        return []
    else:
        present = {path.name for path in Path(settings.raw_uri).glob("*.csv") if path.is_file()}
    return [name for name in expected if name not in present]
