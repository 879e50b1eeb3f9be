"""The Spark half of tests/test_emulators.py, run in a process of its own (its own JVM).

The test session's one SparkSession starts without the GCS connector, and ``spark.jars`` only
takes effect when a JVM starts: gs:// needs a new JVM, hence a new Python process. Reads a CSV
from gs://, writes it as Parquet to gs://, reads that back and writes what it saw as JSON.

    python -m tests.emulator_spark_job GCS_URL CSV_URI PARQUET_URI RESULT_JSON SCRATCH_DIR
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pyspark.sql import types as T

from netflix_core.settings import Settings
from netflix_core.spark import spark_conf, start_session

REPO = Path(__file__).resolve().parent.parent

# The CSV's columns; the Parquet files get them in this order, which is the order the BigQuery
# load's schema must follow (bqemulator inserts Parquet columns by position).
CSV_SCHEMA = T.StructType(
    [
        T.StructField("user_id", T.StringType()),
        T.StructField("movie_id", T.StringType()),
        T.StructField("watch_date", T.DateType()),
        T.StructField("watched_at", T.TimestampType()),
        T.StructField("minutes", T.DoubleType()),
    ]
)


def emulator_spark_conf(gcs_url: str, scratch: Path) -> dict[str, str]:
    """The prod environment's Spark configuration (netflix_core.spark), pointed at the emulator."""
    settings = Settings(
        env="prod",
        gcp_project="netflix-test",
        storage_emulator_host=gcs_url,
        spark_master="local[1]",
        spark_driver_memory="512m",
        jars_dir=str(REPO / ".jars"),
    )
    if not (REPO / ".jars" / "gcp").is_dir():
        raise SystemExit("no jars in .jars/gcp: run scripts/setup.sh")
    return spark_conf(
        settings,
        "emulator-test",
        {
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.sql.warehouse.dir": str(scratch / "warehouse"),
            "spark.local.dir": str(scratch / "local"),
        },
    )


def _rows(frame) -> list[dict]:
    return [
        {key: value.isoformat() if hasattr(value, "isoformat") else value for key, value in row.asDict().items()}
        for row in frame.orderBy("user_id", "movie_id").collect()
    ]


def main(gcs_url: str, csv_uri: str, parquet_uri: str, result_json: str, scratch_dir: str) -> None:
    spark = start_session(emulator_spark_conf(gcs_url, Path(scratch_dir)))
    try:
        csv = spark.read.option("header", True).schema(CSV_SCHEMA).csv(csv_uri)
        # Two part files, so that the load job's wildcard has more than one file to take.
        csv.repartition(2).write.mode("overwrite").parquet(parquet_uri)
        parquet = spark.read.parquet(parquet_uri)
        result = {
            "csv_rows": _rows(csv),
            "parquet_rows": _rows(parquet),
            "parquet_schema": [(field.name, field.dataType.simpleString()) for field in parquet.schema.fields],
        }
    finally:
        spark.stop()
    Path(result_json).write_text(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
