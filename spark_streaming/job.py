"""The speed layer's streaming query: Kafka -> engagement_health_realtime, exactly once.

Run it on its own (``python -m spark_streaming [--available-now] [--trigger SECONDS]`` or
``spark-submit spark_streaming/__main__.py``) or from the Dagster op, which passes ``on_batch``
to hear about each committed micro-batch.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import StreamingQuery

from netflix_core.contract import DEFAULT_TRIGGER_SECONDS, DIM_MOVIES, DIM_USERS, ENGAGEMENT_HEALTH_REALTIME
from netflix_core.kafka import NO_BROKER_HINT, KafkaTopic, broker_problem
from netflix_core.lake import LakePaths, path_exists
from netflix_core.settings import Settings, load_settings
from netflix_core.spark import get_spark_session
from netflix_core.transforms.cleaning import CleanResult, clean_movies, clean_users
from netflix_core.transforms.engagement_health import engagement_health, movie_dimension, user_dimension
from netflix_core.transforms.quality import measure_quality
from netflix_core.transforms.raw_files import RawInputError, read_raw_csv
from netflix_core.warehouse import BatchReport, Warehouse, WarehouseError, open_warehouse
from spark_streaming.sink import EngagementSink, SparkCheckpoint

QUERY_NAME = ENGAGEMENT_HEALTH_REALTIME.name
MAX_EVENTS_PER_BATCH = 500_000
ROCKSDB_STATE_STORE = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
STOP_POLL_SECONDS = 0.5


class DimensionError(RuntimeError):
    """A dimension with more than one row per key would multiply the events joined to it."""


class BrokerUnreachableError(RuntimeError):
    """No Kafka broker answers: the query would only wait and log connection errors."""


def require_broker(bootstrap_servers: str) -> None:
    """Fails in seconds, with one line, where the query would wait for minutes for a broker."""
    problem = broker_problem(bootstrap_servers)
    if problem:
        raise BrokerUnreachableError(f"{problem}: {NO_BROKER_HINT}")


def kafka_watch_events(spark: SparkSession, kafka: KafkaTopic) -> DataFrame:
    return (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", kafka.bootstrap_servers)
        .option("subscribe", kafka.topic)
        .option("startingOffsets", "earliest")
        # Offsets that retention deleted before they were read must not stop the real-time table:
        # the batch layer is the system of record, and Spark logs the gap it skips.
        .option("failOnDataLoss", "false")
        # Bounds the first batch after downtime; a live stream never comes near it (20,000 a batch
        # at 2,000 events/s and a 10 s trigger).
        .option("maxOffsetsPerTrigger", MAX_EVENTS_PER_BATCH)
        .load()
    )


def _clean_dimension(
    spark: SparkSession, lake: LakePaths, lake_table: str, raw_table: str, clean: Callable[[DataFrame], CleanResult]
) -> DataFrame:
    """The batch layer's clean table from the lake, or the raw file cleaned by the same code."""
    path = lake.table_path(lake_table)
    if path_exists(spark, path):
        return spark.read.parquet(path)
    return clean(read_raw_csv(spark, lake.raw_path(raw_table), raw_table)).clean


def _cached_one_row_per_key(dimension: DataFrame, key: str, name: str) -> DataFrame:
    # Cached once: the stream joins it every micro-batch, and cleaning raw files is not free.
    cached = dimension.persist(StorageLevel.MEMORY_AND_DISK)
    measures = measure_quality(cached, key)
    if not measures.keys_valid:
        raise DimensionError(
            f"{name} has {measures.rows} rows with {measures.duplicate_keys} duplicate and "
            f"{measures.null_keys} missing {key}: joining it would inflate counts"
        )
    return cached


def load_dimensions(spark: SparkSession, lake: LakePaths) -> tuple[DataFrame, DataFrame]:
    """(users, movies) for the enrichment, read once when the query starts."""
    users = user_dimension(_clean_dimension(spark, lake, DIM_USERS, "users", clean_users))
    movies = movie_dimension(_clean_dimension(spark, lake, DIM_MOVIES, "movies", clean_movies))
    return _cached_one_row_per_key(users, "user_id", DIM_USERS), _cached_one_row_per_key(movies, "movie_id", DIM_MOVIES)


def streaming_session(spark: SparkSession) -> SparkSession:
    """A session of the same SparkContext with the query's own SQL settings.

    Both are written into the checkpoint when the query first starts and keep their values on
    every restart: one state partition per core of the cluster, and RocksDB state (with changelog
    checkpointing) because the de-duplication keeps every (session_id, event_time) of the last
    10 minutes, over a million keys at 2,000 events/s.
    """
    session = spark.newSession()
    session.conf.set("spark.sql.shuffle.partitions", str(spark.sparkContext.defaultParallelism))
    session.conf.set("spark.sql.streaming.stateStore.providerClass", ROCKSDB_STATE_STORE)
    session.conf.set("spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled", "true")
    return session


def start_stream(
    spark: SparkSession,
    lake: LakePaths,
    warehouse: Warehouse,
    kafka: KafkaTopic,
    trigger_seconds: float = DEFAULT_TRIGGER_SECONDS,
    available_now: bool = False,
    on_batch: Callable[[BatchReport], None] | None = None,
) -> StreamingQuery:
    """Starts the query and returns at once; the caller awaits or stops it (after ``require_broker``)."""
    spark = streaming_session(spark)
    warehouse.create_streaming_tables()
    users, movies = load_dimensions(spark, lake)
    checkpoint_path = lake.checkpoint_path(QUERY_NAME)
    sink = EngagementSink(
        spark=spark,
        warehouse=warehouse,
        checkpoint=SparkCheckpoint(spark, checkpoint_path),
        bootstrap_servers=kafka.bootstrap_servers,
        lake=lake,
        on_batch=on_batch,
    )
    writer = (
        engagement_health(kafka_watch_events(spark, kafka), users, movies)
        .writeStream.queryName(QUERY_NAME)
        .outputMode("update")
        .option("checkpointLocation", checkpoint_path)
        .foreachBatch(sink)
    )
    if available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{trigger_seconds} seconds")
    return writer.start()


def run_stream(
    settings: Settings,
    spark: SparkSession,
    warehouse: Warehouse,
    trigger_seconds: float = DEFAULT_TRIGGER_SECONDS,
    available_now: bool = False,
    on_batch: Callable[[BatchReport], None] | None = None,
) -> None:
    """Runs the query of ``settings`` until it stops: caught up (``available_now``), failed, or interrupted."""
    query = start_stream(
        spark,
        LakePaths.from_settings(settings),
        warehouse,
        KafkaTopic(settings.kafka_bootstrap_servers),
        trigger_seconds,
        available_now,
        on_batch,
    )
    try:
        await_termination(query)
    finally:
        if query.isActive:
            query.stop()


def await_termination(query: StreamingQuery) -> None:
    """Waits until the query ends, or until Ctrl-C, which lets the micro-batch in flight commit first.

    PySpark's own Ctrl-C handler cancels every running job: the batch in flight failed (to be run
    again on the next start) and the stream ended in Java and Python tracebacks. A second Ctrl-C
    stops at once.
    """
    if threading.current_thread() is not threading.main_thread():  # only the main thread gets signals
        query.awaitTermination()
        return
    interrupted = threading.Event()

    def on_ctrl_c(_signal_number: int, _frame: object) -> None:
        if interrupted.is_set():
            raise KeyboardInterrupt
        interrupted.set()

    previous_handler = signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        while not interrupted.is_set():
            if query.awaitTermination(STOP_POLL_SECONDS):
                return
        print("stopping after the micro-batch in flight (Ctrl-C again to stop at once)", flush=True)
        while query.status["isTriggerActive"]:
            time.sleep(STOP_POLL_SECONDS / 5)
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    raise KeyboardInterrupt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The query's options, shared by ``python -m spark_streaming`` and ``netflix-lambda stream``."""
    parser.add_argument(
        "--available-now",
        action="store_true",
        help="process what is in the topic, then stop (default: run until stopped)",
    )
    parser.add_argument(
        "--trigger",
        type=positive_seconds,
        default=DEFAULT_TRIGGER_SECONDS,
        metavar="SECONDS",
        help=f"micro-batch interval (default {DEFAULT_TRIGGER_SECONDS:g})",
    )


def positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return seconds


def main(
    settings: Settings | None = None,
    *,
    available_now: bool = False,
    trigger_seconds: float = DEFAULT_TRIGGER_SECONDS,
) -> int:
    """Runs the query of ``settings`` (the environment's by default) in this process until it stops."""
    settings = settings or load_settings()
    try:
        require_broker(settings.kafka_bootstrap_servers)
        warehouse = open_warehouse(settings)
    except (BrokerUnreachableError, WarehouseError) as error:
        print(f"stream: {error}", file=sys.stderr)
        return 2
    # Spark's console progress bar would garble the one line printed per committed batch, and
    # spark-submit's INFO logging would bury it.
    spark = get_spark_session(settings, "netflix-speed-layer", {"spark.ui.showConsoleProgress": "false"})
    spark.sparkContext.setLogLevel("WARN")
    try:
        run_stream(settings, spark, warehouse, trigger_seconds=trigger_seconds, available_now=available_now)
    except RawInputError as error:  # an empty lake, and no raw users or movies to clean instead
        print(f"stream: {error} (the stream reads the batch layer's clean users and movies)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("stopped; the next start resumes from the checkpoint", flush=True)
        return 130
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
    """``python -m spark_streaming [--available-now] [--trigger SECONDS]``."""
    parser = argparse.ArgumentParser(prog="spark_streaming", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    return main(available_now=args.available_now, trigger_seconds=args.trigger)
