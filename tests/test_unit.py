"""The fast tier (``pytest -m unit``): layering, contract, settings and the command line, no JVM."""

from __future__ import annotations

import csv
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from netflix_cli.demo import Demo
from netflix_core import contract
from netflix_core.lake import LakePaths, missing_raw_files, months_between
from netflix_core.settings import Settings, load_settings
from netflix_core.warehouse import MicroBatch, OffsetRangeSummary, WarehouseError
from netflix_core.warehouse.duckdb_warehouse import DuckDBWarehouse, create_table_sql
from tests.conftest import REPO, SAMPLE_RAW

pytestmark = pytest.mark.unit


# --- the layers point one way ------------------------------------------------------------------


def modules_loaded_by(statement: str) -> set[str]:
    probe = f"import sys; {statement}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=True)
    return set(result.stdout.split())


def test_the_speed_layer_and_the_producer_load_no_dagster() -> None:
    loaded = modules_loaded_by("import spark_streaming.job, spark_streaming.sink, producer, producer.command")
    assert "dagster" not in loaded and "netflix_assets" not in loaded


def test_the_producer_loads_no_pyspark() -> None:
    loaded = modules_loaded_by("import producer, producer.command")
    assert "pyspark" not in loaded and "dagster" not in loaded


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint_imports), "--no-cache"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout[-2000:]
    assert "0 broken" in result.stdout


OUTSIDE = ("../" + "shared", "/wo" + "rk/")  # spelled apart so that this file does not match itself


def test_nothing_refers_outside_the_repository() -> None:
    tracked = subprocess.run(["git", "ls-files"], capture_output=True, text=True, cwd=REPO, check=True).stdout.split()
    offenders = []
    for name in tracked:
        if not name.endswith((".py", ".md", ".sh", ".toml", ".yml", ".yaml")) and name != "Makefile":
            continue
        text = (REPO / name).read_text(errors="replace")
        if any(path in text for path in OUTSIDE):
            offenders.append(name)
    assert offenders == []


# --- the contract ------------------------------------------------------------------------------


@pytest.mark.parametrize("table", ["users", "movies", "reviews", "search_logs"])
def test_raw_columns_are_the_real_samples_headers(table: str) -> None:
    with open(SAMPLE_RAW / f"{table}.csv", newline="") as handle:
        header = next(csv.reader(handle))
    assert tuple(header) == contract.RAW_COLUMNS[table]


def test_every_warehouse_table_has_its_grain_among_its_columns() -> None:
    for table in (*contract.BATCH_TABLES, *contract.STREAMING_TABLES):
        assert set(table.grain) <= set(table.column_names), table.name
        assert set(table.upsert_key) <= set(table.column_names), table.name
        assert table.dataset in contract.WAREHOUSE_DATASETS


def test_warehouse_ddl_follows_the_contract(tmp_path: Path) -> None:
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    for dataset in contract.WAREHOUSE_DATASETS:
        connection.execute(f"CREATE SCHEMA {dataset}")
    for table in (*contract.BATCH_TABLES, *contract.STREAMING_TABLES):
        connection.execute(create_table_sql(table))
        columns = connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [table.dataset, table.name],
        ).fetchall()
        assert tuple(name for (name,) in columns) == table.column_names


# --- settings and lake paths --------------------------------------------------------------------


def test_settings_defaults_are_the_contracts() -> None:
    local = load_settings({})
    assert (local.env, local.raw_uri, local.lake_uri, local.duckdb_path) == (
        "local",
        "data/raw",
        "data/lake",
        "data/warehouse.duckdb",
    )
    assert (local.spark_master, local.kafka_bootstrap_servers, local.checkpoint_uri) == (
        "local[*]",
        "localhost:9092",
        "data/checkpoints",
    )
    prod = load_settings({"NETFLIX_ENV": "prod", "GCP_PROJECT": "p"})
    assert (prod.raw_uri, prod.lake_uri, prod.checkpoint_uri) == (
        "gs://data_netflix_2025/raw",
        "gs://data_netflix_2025/lake",
        "gs://data_netflix_2025/checkpoints",
    )


def test_each_setting_has_its_variable_and_a_bad_environment_is_refused() -> None:
    settings = load_settings(
        {"NETFLIX_RAW_URI": "r", "SPARK_MASTER": "spark://h:7077", "KAFKA_BOOTSTRAP_SERVERS": "k:1"}
    )
    assert (settings.raw_uri, settings.spark_master, settings.kafka_bootstrap_servers) == ("r", "spark://h:7077", "k:1")
    round_trip = load_settings(settings.to_environ())
    assert round_trip == settings
    with pytest.raises(ValueError, match="NETFLIX_ENV"):
        load_settings({"NETFLIX_ENV": "staging"})


def test_prod_settings_name_the_emulators_and_spark_follows_them() -> None:
    from netflix_core.spark import spark_conf

    environ = {
        "NETFLIX_ENV": "prod",
        "GCP_PROJECT": "p",
        "STORAGE_EMULATOR_HOST": "http://127.0.0.1:4443",
        "BIGQUERY_EMULATOR_HOST": "http://127.0.0.1:9050",
        "NETFLIX_BIGQUERY_LOCATION": "EU",
    }
    settings = load_settings(environ)
    assert (settings.storage_emulator_host, settings.bigquery_emulator_host) == (
        "http://127.0.0.1:4443",
        "http://127.0.0.1:9050",
    )
    assert settings.events_uri == "gs://data_netflix_2025/streaming" and settings.bigquery_location == "EU"
    assert load_settings(settings.to_environ()) == settings
    emulated = spark_conf(settings)
    assert emulated["spark.hadoop.fs.gs.storage.root.url"] == "http://127.0.0.1:4443"
    assert emulated["spark.hadoop.fs.gs.auth.null.enable"] == "true"
    assert emulated["spark.sql.parquet.outputTimestampType"] == "TIMESTAMP_MICROS"
    assert any(jar.endswith("-shaded.jar") and "gcs-connector" in jar for jar in emulated["spark.jars"].split(","))
    # Real GCS: the connector's own Application Default Credentials, no key and no null credentials.
    real = spark_conf(load_settings({"NETFLIX_ENV": "prod", "GCP_PROJECT": "p"}))
    assert not any("auth" in key for key in real), [key for key in real if "auth" in key]
    assert "fs.gs.storage.root.url" not in " ".join(real)
    assert "gcs-connector" not in spark_conf(load_settings({})).get("spark.jars", "")


@pytest.mark.parametrize(
    ("master", "on_this_machine"),
    [
        ("local", True),
        ("local[*]", True),
        ("local[2]", True),
        ("spark://127.0.0.1:7077", True),
        ("spark://localhost:7077", True),
        ("spark://10.1.2.3:7077", False),
        ("spark://spark-master:7077", False),
    ],
)
def test_the_driver_binds_loopback_only_when_every_executor_is_on_this_machine(
    master: str, on_this_machine: bool
) -> None:
    from netflix_core.spark import spark_conf

    conf = spark_conf(Settings(spark_master=master))
    driver = {key: conf.get(key) for key in ("spark.driver.bindAddress", "spark.driver.host")}
    assert driver == dict.fromkeys(driver, "127.0.0.1" if on_this_machine else None)


def test_sql_literals_for_bigquery_scripts() -> None:
    from datetime import datetime

    from netflix_core.warehouse.bigquery_warehouse import sql_literal

    assert sql_literal("it's a \\ path\n") == "'it\\'s a \\\\ path\\n'"
    assert sql_literal('{"t": {"0": 1}}') == """'{"t": {"0": 1}}'"""
    assert sql_literal(datetime(2025, 1, 2, 3, 4, 5, 6)) == "TIMESTAMP '2025-01-02 03:04:05.000006'"
    assert sql_literal(date(2025, 1, 1)) == "DATE '2025-01-01'"
    assert [sql_literal(v) for v in (None, True, 7, 0.1)] == ["NULL", "TRUE", "7", "0.1"]


def test_lake_paths_and_months() -> None:
    paths = LakePaths.from_settings(Settings(raw_uri="gs://b/raw/", lake_uri="gs://b/lake"))
    assert paths.raw_path("users") == "gs://b/raw/users.csv"
    assert paths.table_path("dim_users") == "gs://b/lake/dim_users"
    assert months_between(date(2024, 11, 1), date(2025, 2, 1)) == [
        date(2024, 11, 1),
        date(2024, 12, 1),
        date(2025, 1, 1),
    ]
    assert months_between(date(2024, 1, 1), date(2024, 1, 1)) == []


def test_missing_raw_files_are_named(tmp_path: Path) -> None:
    (tmp_path / "users.csv").write_text("user_id\n")
    missing = missing_raw_files(Settings(raw_uri=str(tmp_path)))
    assert missing == ["movies.csv", "watch_history.csv", "reviews.csv", "search_logs.csv"]
    assert missing_raw_files(Settings(raw_uri="hdfs://namenode/raw")) == []  # Spark tells


# --- the warehouse interface on DuckDB ----------------------------------------------------------


def test_replacing_months_is_exact_and_a_bad_query_is_a_warehouse_error(tmp_path: Path) -> None:
    warehouse = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
    table = contract.MONTHLY_ACTIVE_USERS

    def rows(*months: str) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "month": [date.fromisoformat(m) for m in months],
                "monthly_active_users": [1] * len(months),
                "countries": [1] * len(months),
                "total_sessions": [len(m) for m in months],
                "total_watch_time_minutes": [1.5] * len(months),
            }
        )

    warehouse.replace_rows(table, rows("2024-01-01", "2024-02-01"), (date(2024, 1, 1), date(2024, 3, 1)))
    warehouse.replace_rows(table, rows("2024-02-01"), (date(2024, 2, 1), date(2024, 3, 1)))
    months = warehouse.query(f"SELECT month FROM {table.qualified_name} ORDER BY month")["month"].dt.date.tolist()
    assert months == [date(2024, 1, 1), date(2024, 2, 1)]
    assert warehouse.table_exists(table.qualified_name) and not warehouse.table_exists("netflix_processed.nope")
    with pytest.raises(WarehouseError, match="nope"):
        warehouse.query("SELECT * FROM netflix_processed.nope")


def test_a_micro_batch_commits_all_or_nothing(tmp_path: Path) -> None:
    """A write that fails inside the transaction leaves no trace of the batch; the batch commits later."""
    warehouse = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
    warehouse.create_streaming_tables()
    window = {
        "window_start": pd.Timestamp("2026-01-01 10:00:00"),
        "window_end": pd.Timestamp("2026-01-01 10:05:00"),
        **dict.fromkeys(contract.GRAIN_DIMENSIONS, "Unknown"),
        **dict.fromkeys(("total_sessions", "unique_users", "low_engagement_count"), 1),
        **dict.fromkeys(("abandonment_count", "quality_downgrade_count", "completion_count"), 0),
        **dict.fromkeys(("low_engagement_rate", "abandonment_rate", "completion_rate"), 100.0),
        **dict.fromkeys(("total_watch_minutes", "avg_completion_pct", "avg_content_quality"), 1.0),
        **dict.fromkeys(("revenue_impact", "avg_subscriber_value"), None),
        "alert_level": "HIGH",
        "updated_at": pd.Timestamp("2026-01-01 10:01:00"),
    }
    offsets = {"t": {"0": 0}}

    def batch(reason: str | None) -> MicroBatch:
        # A quarantined message without a reason breaks the table's NOT NULL after the windows were written.
        quarantined = pd.DataFrame(
            [{"raw_value": "x", "reason": reason, "topic": "t", "partition": 0, "offset": 0, "kafka_timestamp": None}]
        )
        inputs = OffsetRangeSummary(offsets, {"t": {"0": 2}}, 2, None, None, None, quarantined)
        return MicroBatch("query", 0, pd.DataFrame([window]), inputs)

    with pytest.raises(duckdb.ConstraintException):
        warehouse.commit_micro_batch(batch(reason=None), datetime(2026, 1, 1, 10, 2))
    for table in contract.STREAMING_TABLES:
        assert warehouse.query(f"SELECT count(*) AS n FROM {table.qualified_name}").n[0] == 0, table.name

    assert warehouse.commit_micro_batch(batch(reason="not_json"), datetime(2026, 1, 1, 10, 3)) is not None
    for table in contract.STREAMING_TABLES:
        assert warehouse.query(f"SELECT count(*) AS n FROM {table.qualified_name}").n[0] == 1, table.name


def test_closed_days_are_those_behind_the_speed_layers_watermark() -> None:
    from netflix_cli.recompute import plan_days

    archived = [date(2025, 11, 30), date(2025, 12, 1), date(2025, 12, 3)]
    midday = datetime(2025, 12, 3, 12, 0)
    assert plan_days(archived, midday, None, None).days == archived[:2]
    assert plan_days(archived, datetime(2025, 12, 2, 0, 0), None, None).days == archived[:2]
    assert plan_days(archived, datetime(2025, 12, 1, 23, 59), None, None).days == archived[:1]
    assert plan_days(archived, None, None, None).days == []
    explicit = plan_days(archived, midday, date(2025, 12, 1), date(2025, 12, 3))
    assert (explicit.days, explicit.open_days) == (archived[1:], [date(2025, 12, 3)])


# --- the command line ---------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    command = Path(sys.executable).with_name("netflix-lambda")
    return subprocess.run([str(command), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_version() -> None:
    result = cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("netflix-lambda ")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("stream", "--trigger", "0"), "must be positive"),
        (("stream", "--trigger", "soon"), "not a number"),
        (("produce", "--rate", "-1"), "must be 0"),
        (("produce", "--limit", "0"), "must be positive"),
        (("batch", "--from", "2024-13"), "2024-13"),
        (("batch", "--from", "2024-07", "--to", "2024-06"), "after"),
        (("kafka", "restart"), "invalid choice"),
        (("recompute", "--from", "2025-12"), "YYYY-MM-DD"),
        (("recompute", "--from", "2025-02-30"), "not a day"),
        (("recompute", "--to", "2019-12-31"), "outside the daily partitions"),
        (("recompute", "--from", "2025-12-05", "--to", "2025-12-01"), "after"),
        (("dashboard", "--port", "70000"), "a port is 1 to 65535"),
        (("demo", "--port", "web"), "not a port number"),
        (("generate", "--out", "/dev/null/raw"), "cannot write /dev/null/raw"),
        (("batch", "--bogus"), "unrecognized arguments: --bogus"),
        (("query",), "required: sql"),
        ((), "required: command"),
    ],
)
def test_a_users_mistake_is_one_line_and_exit_code_2(tmp_path: Path, args: tuple[str, ...], says: str) -> None:
    env = {"PATH": "/usr/bin:/bin", "NETFLIX_DUCKDB_PATH": str(tmp_path / "w.duckdb"), "DAGSTER_HOME": str(tmp_path)}
    result = cli(*args, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert says in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("netflix-lambda")


def test_query_errors_are_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "NETFLIX_DUCKDB_PATH": str(tmp_path / "w.duckdb"), "DAGSTER_HOME": str(tmp_path)}
    no_warehouse = cli("query", "SELECT 1", env=env, cwd=tmp_path)
    assert no_warehouse.returncode == 2 and "netflix-lambda batch" in no_warehouse.stderr
    duckdb.connect(str(tmp_path / "w.duckdb")).close()
    bad_sql = cli("query", "SELEC nonsense", env=env, cwd=tmp_path)
    assert bad_sql.returncode == 2 and "Traceback" not in bad_sql.stderr
    assert len(bad_sql.stderr.strip().splitlines()) == 1
    for not_a_warehouse in (tmp_path / "folder", tmp_path / "notes.txt"):
        not_a_warehouse.mkdir() if not_a_warehouse.suffix == "" else not_a_warehouse.write_text("not DuckDB\n")
        wrong_file = cli("query", "SELECT 1", env={**env, "NETFLIX_DUCKDB_PATH": str(not_a_warehouse)}, cwd=tmp_path)
        assert wrong_file.returncode == 2 and "cannot open the warehouse" in wrong_file.stderr
        assert len(wrong_file.stderr.strip().splitlines()) == 1, wrong_file.stderr
    ok = cli("query", "SELECT 41 + 1 AS answer", "--format", "csv", env=env, cwd=tmp_path)
    assert ok.returncode == 0 and ok.stdout.splitlines() == ["answer", "42"]


def test_missing_raw_files_and_no_broker_are_one_line(tmp_path: Path) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "NETFLIX_RAW_URI": str(tmp_path / "raw"),
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "DAGSTER_HOME": str(tmp_path),
    }
    batch = cli("batch", env=env, cwd=tmp_path)
    assert batch.returncode == 2 and "missing raw file(s)" in batch.stderr and "Traceback" not in batch.stderr
    (tmp_path / "events").mkdir()
    (tmp_path / "events" / "a.json").write_text('{"session_id": "s"}\n')
    produce = cli("produce", "--source", str(tmp_path / "events"), env=env, cwd=tmp_path)
    assert produce.returncode == 2 and "no Kafka broker answers" in produce.stderr
    assert "Traceback" not in produce.stderr
    stream = cli("stream", env=env, cwd=tmp_path)
    assert stream.returncode == 2 and "no Kafka broker answers" in stream.stderr
    assert "netflix-lambda kafka start" in stream.stderr and "Traceback" not in stream.stderr


def test_sigterm_stops_the_demos_parts_cleanly_even_from_a_background_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for a long-lived part (broker, stream, dashboard): a process with a child of its own.
    long_lived = "import subprocess, time; subprocess.Popen(['sleep', '300']); time.sleep(300)"
    monkeypatch.setattr(Demo, "_command", lambda self, *arguments: [sys.executable, "-c", long_lived])
    started = []

    def first_stage(demo: Demo) -> None:
        started.append(demo._start("long-lived"))
        time.sleep(0.5)  # lets it start its child
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
        pytest.fail("SIGTERM did not interrupt the demo")

    monkeypatch.setattr(Demo, "_generate", first_stage)
    settings = load_settings({"NETFLIX_DUCKDB_PATH": str(tmp_path / "data" / "w.duckdb")})
    # As a shell starts a command in the background: SIGINT ignored, which children inherit.
    handlers_before = {number: signal.signal(number, signal.SIG_IGN) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert Demo(settings, sessions=10, rate=1.0, port=8501).run() == 0
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN and signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
    finally:
        for number, handler in handlers_before.items():
            signal.signal(number, handler)
    assert not started[0]._group_alive(), "the part the demo started outlived it"
    assert started[0].process.returncode == -signal.SIGINT, "the part was not stopped by the clean stop, SIGINT"


def test_a_port_in_use_and_a_broker_address_that_is_none_are_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "NETFLIX_DUCKDB_PATH": str(tmp_path / "w.duckdb"), "DAGSTER_HOME": str(tmp_path)}
    with socket.create_server(("127.0.0.1", 0)) as occupant:
        port = str(occupant.getsockname()[1])
        for command in (("dashboard", "--port", port), ("demo", "--port", port)):
            result = cli(*command, env=env, cwd=tmp_path)
            assert result.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in result.stderr, result.stderr
            assert len(result.stderr.strip().splitlines()) == 1 and not result.stdout, result.stderr
    status = cli("kafka", "status", env={**env, "KAFKA_BOOTSTRAP_SERVERS": "no-port-here"}, cwd=tmp_path)
    assert status.returncode == 2 and "Traceback" not in status.stderr
    assert len(status.stderr.strip().splitlines()) == 1, status.stderr
