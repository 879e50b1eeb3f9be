"""The serving layer end to end: archive -> batch view -> reconciliation -> serving view.

One speed layer (a real broker, real Spark streaming, a real DuckDB file) reads the 4,500 sample
events of December 2025, then events of 1 January 2026 that move its watermark on, then events
later than the watermark. Dagster's recompute_job recomputes December (and the late-only day
before it); every expectation comes from an independent computation over the topic's records
(tests/streaming_fixtures.py), never from the product's code.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from netflix_assets.assets import serving
from netflix_assets.definitions import build_definitions
from netflix_core import contract
from netflix_core.kafka import KafkaTopic
from netflix_core.lake import LakePaths
from netflix_core.settings import Settings
from netflix_core.warehouse.duckdb_warehouse import DuckDBWarehouse
from netflix_dashboard import data as dashboard_data
from netflix_devtools.local_kafka import LocalKafkaBroker
from producer.producer import produce
from spark_streaming.job import start_stream

pytest.register_assert_rewrite("tests.streaming_fixtures")

from tests.streaming_fixtures import (  # noqa: E402
    SAMPLE_RAW,
    TopicRecord,
    assert_matches_reference,
    event,
    message,
    read_topic,
    reference_dimensions,
    reference_late_records,
    reference_views,
    sample_messages,
)

REPO = Path(__file__).resolve().parents[1]
TOPIC = "serving_e2e"
FIRST_DAY, LAST_DAY = date(2025, 11, 30), date(2025, 12, 31)
OPEN_DAY = date(2026, 1, 1)
GRAIN = list(contract.ENGAGEMENT_HEALTH_GRAIN)


@dataclass(frozen=True)
class Lambda:
    settings: Settings
    warehouse: DuckDBWarehouse
    records: list[TopicRecord]
    late: set[tuple[int, int]]
    expected_batch: pd.DataFrame  # the batch view of every valid event
    expected_speed: pd.DataFrame  # what the speed layer counted
    result: dg.ExecuteInProcessResult


def produce_lines(broker: LocalKafkaBroker, folder: Path, name: str, lines: list[bytes]) -> None:
    path = folder / f"{name}.json"
    path.write_bytes(b"\n".join(lines) + b"\n")
    summary = produce(broker.bootstrap_servers, path, topic=TOPIC, rate=0, progress=False)
    assert (summary.sent, summary.failed) == (len(lines), 0)


def day_events(prefix: str, timestamp: str, count: int) -> list[bytes]:
    return [
        message(event(f"{prefix}_{n}", timestamp, user_id=f"user_{n + 1:05d}", movie_id=f"movie_{n + 1:04d}"))
        for n in range(count)
    ]


def recompute(settings: Settings, first: date, last: date, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    job = build_definitions(settings).resolve_job_def(serving.RECOMPUTE_JOB_NAME)
    return job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )


@pytest.fixture(scope="module")
def lambda_layer(
    spark: SparkSession, streaming_settings: Settings, kafka_broker: LocalKafkaBroker, tmp_path_factory
) -> Lambda:
    root = tmp_path_factory.mktemp("serving")
    settings = streaming_settings.with_overrides(
        raw_uri=str(SAMPLE_RAW),
        lake_uri=str(root / "lake"),
        duckdb_path=str(root / "warehouse.duckdb"),
        checkpoint_uri=str(root / "checkpoints"),
        kafka_bootstrap_servers=kafka_broker.bootstrap_servers,
        dagster_home=str(root / "dagster"),
    )
    kafka_broker.ensure_topic(TOPIC, 3)
    lake, warehouse = LakePaths.from_settings(settings), DuckDBWarehouse(settings.duckdb_path)
    kafka = KafkaTopic(kafka_broker.bootstrap_servers, TOPIC)

    def stream_what_is_there() -> None:
        start_stream(spark, lake, warehouse, kafka, available_now=True).awaitTermination()

    source = root / "events"
    source.mkdir()
    # December 2025, in time order; a malformed message is quarantined, not archived.
    produce_lines(kafka_broker, source, "december", [*sample_messages(), b"not json"])
    stream_what_is_there()
    # New Year's Day moves the watermark to 11:51, over two runs (a batch drops what is behind the
    # watermark of the batch before it).
    produce_lines(kafka_broker, source, "new_year_a", day_events("ny_a", "2026-01-01 12:00:00", 20))
    stream_what_is_there()
    produce_lines(kafka_broker, source, "new_year_b", day_events("ny_b", "2026-01-01 12:01:00", 20))
    stream_what_is_there()
    # Late: December events and a day of November no window of the speed layer has; a repeat of a
    # December event the speed layer counted in time; and events still within the watermark.
    produce_lines(
        kafka_broker,
        source,
        "late",
        [
            *day_events("late_dec", "2025-12-15 10:00:00", 12),
            *day_events("late_nov", "2025-11-30 18:00:00", 5),
            sample_messages()[100],
            *day_events("in_time", "2026-01-01 11:58:30", 8),
        ],
    )
    stream_what_is_there()

    records = read_topic(kafka_broker.bootstrap_servers, TOPIC)
    with warehouse.connect(read_only=True) as connection:
        batches = connection.execute("SELECT * FROM netflix_streaming.stream_batches ORDER BY batch_id").df()
    late = reference_late_records(records, batches)
    expected_batch, expected_speed = reference_views(records, late, *reference_dimensions())
    with dg.DagsterInstance.ephemeral() as instance:
        result = recompute(settings, FIRST_DAY, LAST_DAY, instance)
    return Lambda(settings, warehouse, records, late, expected_batch, expected_speed, result)


def rows(warehouse: DuckDBWarehouse, sql: str) -> pd.DataFrame:
    with warehouse.connect(read_only=True) as connection:
        return connection.execute(sql).df()


def day_of(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["window_start"]).dt.date


def check_evaluation(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "reconciles_with_speed_layer"]
    return evaluation


def test_the_speed_layer_dropped_exactly_the_events_the_watermark_rule_names(lambda_layer: Lambda) -> None:
    # 12 December and 5 November events are late; the repeat of a counted event is not.
    assert len(lambda_layer.late) == 12 + 5 + 1
    realtime = rows(lambda_layer.warehouse, "SELECT * FROM netflix_streaming.engagement_health_realtime")
    assert_matches_reference(realtime, lambda_layer.expected_speed)


def test_the_batch_view_equals_an_independent_computation(lambda_layer: Lambda) -> None:
    assert lambda_layer.result.success
    batch = rows(lambda_layer.warehouse, f"SELECT * FROM {contract.ENGAGEMENT_HEALTH_BATCH.qualified_name}")
    expected = lambda_layer.expected_batch[day_of(lambda_layer.expected_batch).between(FIRST_DAY, LAST_DAY)]
    assert list(batch.columns) == list(contract.ENGAGEMENT_HEALTH_REALTIME.column_names)
    assert_matches_reference(batch, expected)
    merged = batch.merge(expected, on=GRAIN)
    assert (merged["unique_users"] == merged["exact_unique_users"]).all(), "the batch view counts users exactly"
    assert batch["total_sessions"].sum() == 4500 + 12 + 5  # the late events are counted


def test_the_check_passes_on_agreeing_layers_and_reports_the_late_events(lambda_layer: Lambda) -> None:
    evaluation = check_evaluation(lambda_layer.result)
    assert evaluation.passed, evaluation.description
    metadata = evaluation.metadata
    assert metadata["late_events"].value == 12 + 5
    assert metadata["late_events_by_window"].value == {"2025-11-30 18:00:00": 5, "2025-12-15 10:00:00": 12}
    assert metadata["mismatched_windows"].value == {}
    expected = lambda_layer.expected_batch
    assert metadata["windows_checked"].value == expected[day_of(expected) <= LAST_DAY]["window_start"].nunique()


def run_check_alone(settings: Settings) -> dg.AssetCheckEvaluation:
    """The check on its own (as from the Dagster UI): it checks every recomputed day."""
    job = build_definitions(settings).resolve_job_def(serving.RECOMPUTE_JOB_NAME)
    alone = job.get_subset(asset_selection=set(), asset_check_selection={serving.reconciles_with_speed_layer.check_key})
    return check_evaluation(alone.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False))


@pytest.mark.parametrize(
    ("table", "day"),
    [
        (contract.ENGAGEMENT_HEALTH_REALTIME.qualified_name, "2025-12-07"),
        (contract.ENGAGEMENT_HEALTH_BATCH.qualified_name, "2025-12-24"),
    ],
)
def test_the_check_fails_naming_the_window_when_a_row_is_altered(
    lambda_layer: Lambda, tmp_path: Path, table: str, day: str
) -> None:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(lambda_layer.settings.duckdb_path, copy)
    with duckdb.connect(str(copy)) as connection:
        first_row = f"SELECT MIN(rowid) FROM {table} WHERE CAST(window_start AS DATE) = DATE '{day}'"
        (window,) = connection.execute(f"SELECT window_start FROM {table} WHERE rowid = ({first_row})").fetchone()
        connection.execute(f"UPDATE {table} SET total_sessions = total_sessions + 1 WHERE rowid = ({first_row})")
    window = str(window)

    evaluation = run_check_alone(lambda_layer.settings.with_overrides(duckdb_path=str(copy)))

    assert not evaluation.passed
    assert list(evaluation.metadata["mismatched_windows"].value) == [window]
    assert window in evaluation.description
    assert evaluation.metadata["late_events"].value == 12 + 5


def test_the_serving_view_shows_recomputed_days_from_the_batch_view_and_the_others_from_the_speed_layer(
    lambda_layer: Lambda,
) -> None:
    view = rows(lambda_layer.warehouse, f"SELECT * FROM {contract.ENGAGEMENT_HEALTH_SERVING}")
    assert list(view.columns) == [*contract.ENGAGEMENT_HEALTH_REALTIME.column_names, "source"]
    sources = view.groupby(day_of(view))["source"].unique().map(sorted).to_dict()
    assert sources == {
        **{FIRST_DAY + timedelta(days=n): ["batch"] for n in range((LAST_DAY - FIRST_DAY).days + 1)},
        OPEN_DAY: ["speed"],
    }
    expected = pd.concat(
        [
            lambda_layer.expected_batch[day_of(lambda_layer.expected_batch) <= LAST_DAY],
            lambda_layer.expected_speed[day_of(lambda_layer.expected_speed) == OPEN_DAY],
        ]
    )
    assert_matches_reference(view.drop(columns="source"), expected)
    # The Real-Time dashboard reads the view, and says where each window comes from.
    realtime = dashboard_data.load_realtime(lambda_layer.warehouse)
    assert realtime.engagement_table == contract.ENGAGEMENT_HEALTH_SERVING
    assert set(realtime.windows.frame["source"]) == {"batch", "speed"}


READER = """
import json, sys, time
from pathlib import Path
from netflix_core.warehouse.duckdb_warehouse import DuckDBWarehouse

path, day, stop = sys.argv[1], sys.argv[2], Path(sys.argv[3])
warehouse = DuckDBWarehouse(path, lock_timeout_seconds=60)
sql = (
    "SELECT source, COUNT(*) AS segments, SUM(total_sessions) AS sessions FROM netflix_serving.engagement_health "
    f"WHERE CAST(window_start AS DATE) = DATE '{day}' GROUP BY source ORDER BY source"
)
while not stop.exists():
    seen = warehouse.query(sql)
    print(json.dumps([[r.source, int(r.segments), int(r.sessions)] for r in seen.itertuples()]), flush=True)
"""


def test_a_recompute_switches_a_day_in_one_transaction(lambda_layer: Lambda, tmp_path: Path) -> None:
    """A reader in another process polls one day while the day is switched back and forth."""
    path = tmp_path / "warehouse.duckdb"
    shutil.copyfile(lambda_layer.settings.duckdb_path, path)
    warehouse = DuckDBWarehouse(str(path))
    day = date(2025, 12, 15)
    batch_rows = warehouse.query(
        f"SELECT * FROM {contract.ENGAGEMENT_HEALTH_BATCH.qualified_name} WHERE CAST(window_start AS DATE) = DATE '{day}'"
    )
    speed = warehouse.query(
        f"SELECT COUNT(*) AS n, SUM(total_sessions) AS s FROM {contract.ENGAGEMENT_HEALTH_REALTIME.qualified_name} "
        f"WHERE CAST(window_start AS DATE) = DATE '{day}'"
    ).iloc[0]
    states = {
        (("batch", len(batch_rows), int(batch_rows["total_sessions"].sum())),),
        (("speed", int(speed["n"]), int(speed["s"])),),
    }
    assert len({state[0][2] for state in states}) == 2, "the day's sessions differ between the layers (late events)"
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(path), day.isoformat(), str(stop)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: list[tuple] = []
    reading = threading.Thread(
        target=lambda: seen.extend(tuple(tuple(entry) for entry in json.loads(line)) for line in reader.stdout)
    )
    reading.start()
    try:
        switches, deadline = 0, time.monotonic() + 300
        # Back and forth until the reader has looked at the day many times meanwhile.
        while switches < 20 or len(seen) < 20:
            assert reader.poll() is None, reader.stderr.read()
            assert time.monotonic() < deadline, f"{switches} switches, {len(seen)} reads in 300 s"
            day_range = (day, day + timedelta(days=1))
            warehouse.replace_days(contract.ENGAGEMENT_HEALTH_BATCH, batch_rows.iloc[0:0], day_range)
            warehouse.replace_days(contract.ENGAGEMENT_HEALTH_BATCH, batch_rows, day_range)
            switches += 2
    finally:
        stop.touch()
        reader.wait(timeout=120)
        reading.join()
    assert reader.returncode == 0, reader.stderr.read()
    assert set(seen) <= states, f"a reader saw a half-switched day: {set(seen) - states}"


# --- the command line ---------------------------------------------------------------------------


def use_settings(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    for name, value in settings.to_environ().items():
        monkeypatch.setenv(name, value)


def test_cli_recompute_defaults_to_the_closed_days_and_refreshes_the_serving_view(
    lambda_layer: Lambda, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from netflix_cli.main import main

    copy = tmp_path / "warehouse.duckdb"
    shutil.copyfile(lambda_layer.settings.duckdb_path, copy)
    with duckdb.connect(str(copy)) as connection:
        connection.execute(f"DROP VIEW {contract.ENGAGEMENT_HEALTH_SERVING}")
        connection.execute(f"DELETE FROM {contract.ENGAGEMENT_HEALTH_BATCH.qualified_name}")
    use_settings(monkeypatch, lambda_layer.settings.with_overrides(duckdb_path=str(copy), dagster_home=str(tmp_path)))

    assert main(["recompute"]) == 0

    printed = capsys.readouterr().out
    assert "32 day(s) of the archive, 2025-11-30 to 2025-12-31, in one run" in printed
    assert "the speed layer's watermark: 2026-01-01 11:5" in printed and "still open" not in printed
    assert "17 late event(s)" in printed and "recompute succeeded" in printed
    assert "1 of 1 checks passed" in printed
    view = rows(DuckDBWarehouse(str(copy)), f"SELECT source, window_start FROM {contract.ENGAGEMENT_HEALTH_SERVING}")
    assert set(view[day_of(view) <= LAST_DAY]["source"]) == {"batch"}
    assert set(view[day_of(view) == OPEN_DAY]["source"]) == {"speed"}

    # An open day only when named, and a range the archive has nothing of is a user's mistake.
    assert main(["recompute", "--from", "2026-01-01", "--to", "2026-01-01"]) == 0
    printed = capsys.readouterr().out
    assert "still open, the speed layer may add to them: 2026-01-01" in printed
    view = rows(DuckDBWarehouse(str(copy)), f"SELECT source, window_start FROM {contract.ENGAGEMENT_HEALTH_SERVING}")
    assert set(view[day_of(view) == OPEN_DAY]["source"]) == {"batch"}
    assert main(["recompute", "--from", "2025-10-01", "--to", "2025-10-31"]) == 2
    assert "the archive holds no day from 2025-10-01 to 2025-10-31" in capsys.readouterr().err


def test_cli_recompute_without_an_archive_says_what_to_run(
    streaming_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from netflix_cli.main import main

    use_settings(
        monkeypatch, streaming_settings.with_overrides(lake_uri=str(tmp_path / "lake"), dagster_home=str(tmp_path))
    )
    assert main(["recompute"]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "netflix-lambda stream" in error
