"""Writing the Parquet lake: whole tables, month slices, and the shared ``rejected_rows`` table."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import DateType, StringType, StructField, StructType

REJECTED_ROWS = "rejected_rows"
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


def delete_path(spark: SparkSession, path: str) -> None:
    """Deletes a lake folder through Hadoop's file system API, so gs:// works like a local path."""
    filesystem, hadoop_path = _filesystem(spark, path)
    if filesystem.exists(hadoop_path):
        filesystem.delete(hadoop_path, True)


def path_exists(spark: SparkSession, path: str) -> bool:
    filesystem, hadoop_path = _filesystem(spark, path)
    return bool(filesystem.exists(hadoop_path))


def write_table(df: DataFrame, path: str) -> None:
    df.write.mode("overwrite").parquet(path)


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
