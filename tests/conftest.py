"""Shared fixtures: one Spark JVM, one sample raw folder, one full batch run for the session.

The sample raw folder is the real Kaggle sample (users, movies, reviews, search_logs) plus a
generated watch_history.csv (ids match the sample: 10,000 users, 1,000 movies), with a few
hand-written edge rows appended to every file (``EDGE_ROWS``) so that each cleaning rule of
SPEC section 4 is exercised by the one shared batch run.
"""

from __future__ import annotations

import csv
import io
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import dagster as dg
import pytest
from pyspark.sql import SparkSession

from netflix_core.settings import Settings
from tests.oracle import COLUMNS as ORACLE_COLUMNS

pytest_plugins = [
    "tests.kafka_fixtures",
    "tests.streaming_fixtures",
    "tests.emulator_fixtures",
    "tests.cluster_fixtures",
]

REPO = Path(__file__).resolve().parent.parent
# The real Kaggle sample the repository carries (MIT, see its README).
SAMPLE_DATA = REPO / "sample_data" / "kaggle-netflix-2025"
SAMPLE_RAW = SAMPLE_DATA / "raw"
SAMPLE_TABLES = ("users", "movies", "reviews", "search_logs")

HEADERS = {table: list(columns) for table, columns in ORACLE_COLUMNS.items()}

# ----------------------------------------------------------------------------------------------
# Hand-written edge rows, one or more per rule. Each is (row as dict of raw text, expectation),
# where the expectation is the reject reason, "clean", or "collapsed" (an exact duplicate).
# ----------------------------------------------------------------------------------------------

_DEFAULTS = {
    "users": dict(
        email="edge@example.org",
        first_name="Edge",
        last_name="Case",
        age="30.0",
        gender="Male",
        country="USA",
        state_province="Texas",
        city="Austin",
        subscription_plan="Basic",
        subscription_start_date="2024-01-01",
        is_active="True",
        monthly_spend="9.99",
        primary_device="Mobile",
        household_size="2.0",
        created_at="2024-01-01 00:00:00.000000",
    ),
    "movies": dict(
        title="Edge Movie",
        content_type="Movie",
        genre_primary="Drama",
        genre_secondary="",
        release_year="2014",
        duration_minutes="100.0",
        rating="PG",
        language="English",
        country_of_origin="USA",
        imdb_rating="7.0",
        production_budget="",
        box_office_revenue="",
        number_of_seasons="",
        number_of_episodes="",
        is_netflix_original="True",
        added_to_platform="2023-01-01",
        content_warning="False",
    ),
    "watch_history": dict(
        user_id="user_00001",
        movie_id="movie_0001",
        watch_date="2024-06-15",
        device_type="Mobile",
        watch_duration_minutes="42.5",
        progress_percentage="55.0",
        action="completed",
        quality="HD",
        location_country="USA",
        is_download="False",
        user_rating="4.0",
    ),
    "reviews": dict(
        user_id="user_00001",
        movie_id="movie_0001",
        rating="4",
        review_date="2024-06-20",
        device_type="Mobile",
        is_verified_watch="True",
        helpful_votes="1.0",
        total_votes="2.0",
        review_text="Edge, with a comma.",
        sentiment="positive",
        sentiment_score="0.5",
    ),
    "search_logs": dict(
        user_id="user_00001",
        search_query="edge query",
        search_date="2024-06-21",
        results_returned="10",
        clicked_result_position="1",
        device_type="Mobile",
        search_duration_seconds="3.5",
        had_typo="False",
        used_filters="False",
        location_country="USA",
    ),
}


def _row(table: str, key: str, **values: str) -> dict[str, str]:
    row = {HEADERS[table][0]: key, **_DEFAULTS[table]}
    row.update(values)
    return row


def _u(key, **v):
    return _row("users", key, **v)


def _m(key, **v):
    return _row("movies", key, **v)


def _w(key, **v):
    return _row("watch_history", key, **v)


def _r(key, **v):
    return _row("reviews", key, **v)


def _s(key, **v):
    return _row("search_logs", key, **v)


EDGE_ROWS: dict[str, list[tuple[dict[str, str], str]]] = {
    "users": [
        (_u("user_90001", age="150.0"), "clean"),  # age -> NULL
        (_u("user_90002", age="12.0"), "clean"),  # age -> NULL
        (_u("user_90003", age="13.0", monthly_spend="0.0", household_size="1.0"), "clean"),  # bounds kept
        (_u("user_90004", age="100.0", monthly_spend="-0.01", household_size="0.0"), "clean"),  # spend, size NULL
        (
            _u(
                "user_90005",
                age="NaN",
                household_size="-2.0",
                gender="",
                created_at="2024-02-03",
                subscription_start_date="2024-02-03 10:11:12",
            ),
            "clean",
        ),  # NaN age -> NULL, gender -> Unknown, both date formats
        (_u("user_90006", created_at="not-a-date"), "bad_date"),
        (_u("user_90007", subscription_start_date="2024-13-01"), "bad_date"),
        (_u("user_90008", age="abc"), "bad_value"),
        (_u("user_90009", is_active="maybe"), "bad_value"),
        (_u("user_90010", subscription_start_date="2024-02-30", age="abc"), "bad_date"),  # bad_date before bad_value
        (_u("", created_at="never"), "missing_key"),  # missing_key before bad_date
        (_u("   ", email="blank@example.org"), "missing_key"),
        (_u("user_90011", email="a@example.org", created_at="2024-01-01 00:00:00"), "duplicate_key"),
        (_u("user_90011", email="z@example.org", created_at="2024-06-01 00:00:00"), "clean"),  # latest created_at
        (_u("user_90012", email="b@example.org", created_at="2024-03-01 00:00:00"), "duplicate_key"),
        (_u("user_90012", email="a@example.org", created_at="2024-03-01 00:00:00"), "clean"),  # tie: smallest email
        (_u("user_90013", age="abc", created_at="2025-01-01 00:00:00"), "bad_value"),
        (_u("user_90013", created_at="2024-01-01 00:00:00"), "clean"),  # the only valid row survives
        (_u("user_90014", created_at=""), "duplicate_key"),
        (_u("user_90014", created_at="2023-01-01 00:00:00"), "clean"),  # a known created_at beats NULL
        (_u("user_90015", first_name="Twin"), "clean"),
        (_u("user_90015", first_name="Twin"), "collapsed"),  # exact duplicate
        (_u("user_90016", created_at="2024-99-99"), "bad_date"),
        (_u("user_90016", created_at="2024-99-99"), "collapsed"),  # exact duplicate of a rejected row
        (_u("user_90017", monthly_spend="NaN", country="Canada", subscription_plan="Premium+"), "clean"),
    ],
    "movies": [
        (_m("", title="No Id"), "missing_key"),
        (_m("movie_9001", duration_minutes="0.0", imdb_rating="11.0"), "clean"),
        (_m("movie_9002", duration_minutes="-5.0", imdb_rating="-1.0", genre_primary="Horror"), "clean"),
        (_m("movie_9003", duration_minutes="0.5", imdb_rating="0.0", content_type="TV Series"), "clean"),
        (_m("movie_9004", imdb_rating="10.0", is_netflix_original="False"), "clean"),
        (_m("movie_9005", release_year="2014.5"), "bad_value"),
        (_m("movie_9006", release_year="abc"), "bad_value"),
        (_m("movie_9007", added_to_platform="yesterday"), "bad_date"),
        (_m("movie_9008", is_netflix_original="Yes"), "bad_value"),
        (_m("movie_9009", title="B title"), "duplicate_key"),
        (_m("movie_9009", title="A title"), "clean"),  # smallest raw text
        (_m("movie_9010", title="Twin"), "clean"),
        (_m("movie_9010", title="Twin"), "collapsed"),
        (_m("movie_9011", added_to_platform="2024-05-06 07:08:09", imdb_rating="NaN"), "clean"),
    ],
    "watch_history": [
        (_w(""), "missing_key"),
        (_w("session_e02", user_id=""), "missing_key"),
        (_w("session_e03", movie_id=""), "missing_key"),
        (_w("session_e04", watch_date="someday"), "bad_date"),
        (_w("session_e05", watch_date="2025-02-30"), "bad_date"),
        (_w("session_e06", action="rewound"), "bad_value"),
        (_w("session_e07", action=""), "bad_value"),
        (_w("session_e08", watch_duration_minutes="abc"), "bad_value"),
        (_w("session_e09", is_download="maybe"), "bad_value"),
        (_w("session_e10", watch_date="2024-02-20", user_id="user_90011"), "duplicate_key"),
        (_w("session_e10", watch_date="2024-03-05 10:00:00", user_id="user_90011"), "clean"),  # latest date
        (_w("session_e11", watch_date="2024-04-01", device_type="Tablet"), "duplicate_key"),
        (_w("session_e11", watch_date="2024-04-01", device_type="Laptop"), "clean"),  # tie: smallest raw text
        (_w("session_e12", user_id="user_99999"), "unknown_user"),
        (_w("session_e13", movie_id="movie_9999"), "unknown_movie"),
        (_w("session_e14", user_id="user_99999", movie_id="movie_9999"), "unknown_user"),
        (_w("session_e15", user_id="user_90006"), "unknown_user"),  # user rejected as bad_date
        (_w("session_e16", watch_duration_minutes="-3.0", progress_percentage="101.0", movie_id="movie_9001"), "clean"),
        (
            _w(
                "session_e17",
                watch_duration_minutes="0.0",
                progress_percentage="-1.0",
                movie_id="movie_9002",
                user_id="user_90005",
                watch_date="2025-01-10",
            ),
            "clean",
        ),
        (
            _w(
                "session_e18",
                progress_percentage="100.0",
                movie_id="movie_9003",
                user_id="user_90017",
                watch_date="2025-01-11 08:00:00",
            ),
            "clean",
        ),
        (_w("session_e19", progress_percentage="0.0", movie_id="movie_9009", user_id="user_90012"), "clean"),
        (_w("session_e20", device_type="Smart TV"), "clean"),
        (_w("session_e20", device_type="Smart TV"), "collapsed"),
        (_w("session_e21", watch_date="2024-05-01", action="stopped"), "duplicate_key"),
        (_w("session_e21", watch_date="2024-05-02", user_id="user_99999"), "unknown_user"),  # survivor, then unknown
        (
            _w("session_e22", watch_date="2025-06-30 23:59:59.999999", movie_id="movie_9011", user_id="user_90014"),
            "clean",
        ),
        (_w("", watch_date="bad"), "missing_key"),
        (_w("session_e24", watch_date="bad", action="rewound"), "bad_date"),
        (_w("session_e25", watch_duration_minutes="NaN", user_rating="NaN", movie_id="movie_9005"), "unknown_movie"),
        (
            _w(
                "session_e26",
                watch_duration_minutes="NaN",
                user_rating="NaN",
                movie_id="movie_9004",
                user_id="user_90013",
                action="paused",
            ),
            "clean",
        ),
        (
            _w(
                "session_e27",
                movie_id="movie_9010",
                user_id="user_90015",
                watch_date="2024-06-01 12:00:00",
                action="started",
                quality="4K",
            ),
            "clean",
        ),
    ],
    "reviews": [
        (_r(""), "missing_key"),
        (_r("review_e02", user_id=""), "missing_key"),
        (_r("review_e03", movie_id=""), "missing_key"),
        (_r("review_e04", rating="0"), "bad_value"),
        (_r("review_e05", rating="6"), "bad_value"),
        (_r("review_e06", rating=""), "bad_value"),
        (_r("review_e07", rating="4.5"), "bad_value"),
        (_r("review_e08", rating="abc"), "bad_value"),
        (_r("review_e09", review_date="soon"), "bad_date"),
        (_r("review_e10", review_date="2025-01-01"), "duplicate_key"),
        (_r("review_e10", review_date="2025-02-01"), "clean"),
        (_r("review_e11", user_id="user_99999"), "unknown_user"),
        (_r("review_e12", movie_id="movie_9999"), "unknown_movie"),
        (_r("review_e13", movie_id="movie_9001", rating="1", review_date="2024-06-03 05:06:07"), "clean"),
        (_r("review_e14", movie_id="movie_9001", rating="5", review_date="2024-06-25"), "clean"),
        (_r("review_e15", movie_id="movie_9010", rating="2"), "clean"),
        (_r("review_e15", movie_id="movie_9010", rating="2"), "collapsed"),
        (_r("review_e16", movie_id="movie_9005"), "unknown_movie"),
    ],
    "search_logs": [
        (_s(""), "missing_key"),
        (_s("search_e02", user_id=""), "missing_key"),
        (_s("search_e03", search_date="tomorrow"), "bad_date"),
        (_s("search_e04", search_date="2024-01-01"), "duplicate_key"),
        (_s("search_e04", search_date="2024-01-02 03:04:05"), "clean"),
        (_s("search_e05"), "clean"),
        (_s("search_e05"), "collapsed"),
        (_s("search_e06", user_id="user_99999"), "clean"),  # no referential rule for searches
    ],
}


def csv_lines(table: str, rows: list[dict[str, str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([row.get(column, "") for column in HEADERS[table]])
    return buffer.getvalue()


def append_rows(path: Path, table: str, rows: list[dict[str, str]]) -> None:
    text = path.read_text()
    if text and not text.endswith("\n"):
        text += "\n"
    path.write_text(text + csv_lines(table, rows))


def clean_session(header: list[str], session_id: str, watch_date: str, movie_id: str) -> list[str]:
    """A watch_history row that passes every cleaning rule, of user_00042, in ``header``'s column order."""
    row = dict.fromkeys(header, "")
    row.update(
        session_id=session_id,
        user_id="user_00042",
        movie_id=movie_id,
        watch_date=watch_date,
        device_type="Tablet",
        watch_duration_minutes="30.0",
        progress_percentage="90.0",
        action="completed",
        quality="4K",
        location_country="USA",
        is_download="False",
    )
    return [row[name] for name in header]


def write_csv(path: Path, table: str, rows: list[dict[str, str]], header: list[str] | None = None) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header or HEADERS[table])
    for row in rows:
        writer.writerow([row.get(column, "") for column in (header or HEADERS[table])])
    path.write_text(buffer.getvalue())


# ----------------------------------------------------------------------------------------------
# Watch history: the project's generator, with the sample's ids.
# ----------------------------------------------------------------------------------------------

WATCH_SESSIONS = 20_000


def _generated_watch_history(path: Path, scratch: Path) -> None:
    """Writes a generated watch_history.csv of the sample's users and movies at ``path``."""
    from netflix_devtools.datagen import generate

    generate(
        scratch, users=10_000, movies=1_000, sessions=WATCH_SESSIONS, start="2024-01", end="2025-12", seed=42,
        progress=False, reviews=100, searches=100,
    )  # fmt: skip
    shutil.copyfile(scratch / "watch_history.csv", path)


# ----------------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------------


def make_settings(root: Path, raw: Path | None = None) -> Settings:
    return Settings(
        raw_uri=str(raw or root / "raw"),
        lake_uri=str(root / "lake"),
        duckdb_path=str(root / "warehouse.duckdb"),
        checkpoint_uri=str(root / "checkpoints"),
        spark_master="local[2]",
        spark_driver_memory="2g",
        jars_dir=str(REPO / ".jars"),
    )


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> SparkSession:
    """The one SparkSession (one JVM) of the whole test session, in one configuration.

    Its settings are the product's (``spark_conf`` of ``make_settings``), plus scratch folders
    and no UI, which are fixed when the JVM starts. Every other builder call in the tests (the
    batch job's Spark resource, the speed-layer settings) comes from ``make_settings`` too, so
    getOrCreate() re-applies the same SQL settings: no result depends on which test came first.
    """
    from netflix_core.spark import get_spark_session

    scratch = tmp_path_factory.mktemp("spark")
    return get_spark_session(
        make_settings(scratch),
        "tests",
        {
            "spark.ui.enabled": "false",
            "spark.sql.warehouse.dir": str(scratch / "warehouse"),
            "spark.local.dir": str(scratch / "local"),
        },
    )


@pytest.fixture(scope="session")
def pristine_raw_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real sample's four files plus a generated watch_history.csv, untouched."""
    raw = tmp_path_factory.mktemp("pristine_raw")
    for table in SAMPLE_TABLES:
        shutil.copyfile(SAMPLE_RAW / f"{table}.csv", raw / f"{table}.csv")
    _generated_watch_history(raw / "watch_history.csv", tmp_path_factory.mktemp("datagen"))
    return raw


@pytest.fixture(scope="session")
def sample_raw_dir(pristine_raw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pristine sample with ``EDGE_ROWS`` appended to each file (read-only for tests)."""
    raw = tmp_path_factory.mktemp("sample_raw")
    for table in HEADERS:
        shutil.copyfile(pristine_raw_dir / f"{table}.csv", raw / f"{table}.csv")
        append_rows(raw / f"{table}.csv", table, [row for row, _ in EDGE_ROWS[table]])
    return raw


@pytest.fixture(scope="session")
def oracle(sample_raw_dir: Path):
    from tests.oracle import Oracle

    with Oracle(sample_raw_dir) as built:
        yield built


@dataclass
class BatchRun:
    settings: Settings
    result: dg.ExecuteInProcessResult
    first_month: str
    last_month: str
    spark_sessions: list  # (id(session), applicationId) of every SparkResource.get_session call
    seconds: float
    instance: dg.DagsterInstance


def run_batch_job(settings: Settings, first: str, last: str, instance: dg.DagsterInstance | None = None):
    from netflix_assets.definitions import build_definitions

    job = build_definitions(settings).resolve_job_def("batch_job")
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )


@pytest.fixture(scope="session")
def batch_run(spark, sample_raw_dir: Path, oracle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BatchRun]:
    """The whole batch job over every month with data, materialized once for the session."""
    import time

    import netflix_assets.resources as resources_module

    root = tmp_path_factory.mktemp("batch")
    settings = make_settings(root, raw=sample_raw_dir)
    first, last = oracle.month_range()
    calls: list = []
    original = resources_module.start_session

    def spy(*args, **kwargs):
        session = original(*args, **kwargs)
        calls.append((id(session), session.sparkContext.applicationId))
        return session

    started = time.monotonic()
    with dg.DagsterInstance.ephemeral() as instance:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(resources_module, "start_session", spy)
            result = run_batch_job(settings, first.isoformat(), last.isoformat(), instance)
        yield BatchRun(
            settings, result, first.isoformat(), last.isoformat(), calls, time.monotonic() - started, instance
        )


def month_keys(first: date, last: date) -> list[str]:
    keys, year, month = [], first.year, first.month
    while date(year, month, 1) <= last:
        keys.append(date(year, month, 1).isoformat())
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


# ----------------------------------------------------------------------------------------------
# Reading what the batch layer wrote, and comparing it with the oracle
# ----------------------------------------------------------------------------------------------

LAKE_TABLE_OF = {
    "users": "dim_users",
    "movies": "dim_movies",
    "watch_history": "fact_watch_sessions",
    "reviews": "fact_reviews",
    "search_logs": "fact_searches",
}
LAKE_ASSET_OF = {table: ["lake", lake_table] for table, lake_table in LAKE_TABLE_OF.items()}

PROCESSED_GRAIN = {
    "monthly_engagement": ["month", "country", "subscription_plan"],
    "monthly_active_users": ["month"],
    "content_performance": ["month", "movie_id"],
    "genre_performance": ["month", "genre_primary"],
    "cohort_retention": ["cohort_month", "activity_month"],
}
# SPEC section 6, grain first, then the columns in the order SPEC lists them.
PROCESSED_COLUMNS = {
    "monthly_engagement": [
        "month",
        "country",
        "subscription_plan",
        "total_sessions",
        "monthly_active_users",
        "total_watch_time_minutes",
        "avg_session_duration",
        "unique_content_viewed",
        "completion_rate",
    ],
    "monthly_active_users": [
        "month",
        "monthly_active_users",
        "countries",
        "total_sessions",
        "total_watch_time_minutes",
    ],
    "content_performance": [
        "month",
        "movie_id",
        "title",
        "content_type",
        "genre_primary",
        "is_netflix_original",
        "total_views",
        "unique_viewers",
        "total_watch_time_minutes",
        "avg_progress_pct",
        "completion_rate",
        "review_count",
        "avg_review_rating",
    ],
    "genre_performance": [
        "month",
        "genre_primary",
        "total_views",
        "unique_viewers",
        "unique_titles",
        "total_watch_time_minutes",
        "avg_watch_duration",
        "completion_rate",
        "avg_review_rating",
        "watch_time_share",
    ],
    "cohort_retention": [
        "cohort_month",
        "activity_month",
        "months_since_cohort",
        "cohort_size",
        "active_users",
        "retention_rate",
    ],
}
MONTHLY_TABLES = ("monthly_engagement", "monthly_active_users", "content_performance", "genre_performance")


def read_lake_rows(spark, settings: Settings, lake_table: str) -> list[dict]:
    path = f"{settings.lake_uri}/{lake_table}"
    return [row.asDict() for row in spark.read.option("basePath", path).parquet(path).collect()]


def read_rejected(spark, settings: Settings, source_table: str | None = None) -> list[dict]:
    path = f"{settings.lake_uri}/rejected_rows"
    if not Path(path).exists():
        return []
    frame = spark.read.option("basePath", path).parquet(path)
    if source_table is not None:
        frame = frame.filter(frame.source_table == source_table)
    return [row.asDict() for row in frame.collect()]


def raw_tuple_of_json(raw_row: str, table: str) -> tuple:
    """The raw values of a rejected row's JSON in SPEC column order, plus the corrupt line if any."""
    import json

    values = json.loads(raw_row)
    return tuple(values.get(column) for column in HEADERS[table]) + (values.get("_corrupt_record"),)


def warehouse_rows(settings: Settings, table: str, where: str = "") -> list[dict]:
    import duckdb

    grain = PROCESSED_GRAIN[table]
    connection = duckdb.connect(settings.duckdb_path, read_only=True)
    try:
        cursor = connection.execute(
            f"SELECT * FROM netflix_processed.{table} {where} ORDER BY {', '.join(c + ' NULLS FIRST' for c in grain)}"
        )
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]
    finally:
        connection.close()


def plain_value(value: object, column_type: str) -> object:
    """A warehouse cell as a plain Python value, whichever warehouse answered: DuckDB (numpy, naive
    timestamps) or BigQuery (nullable pandas dtypes, db-dtypes dates)."""
    import math
    from datetime import datetime

    import numpy as np
    import pandas as pd

    from netflix_core import contract

    if value is None or value is pd.NaT or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        value = value.tz_convert("UTC").tz_localize(None) if value.tzinfo else value
        value = value.to_pydatetime()
    if column_type == contract.DATE and isinstance(value, datetime):
        return value.date()
    return value


def contract_rows(warehouse, table) -> list[dict]:
    """Every row of a contract table (``WarehouseTable``) through the ``Warehouse`` interface, as
    plain Python values in contract column order, sorted by the table's grain."""
    types = {column.name: column.type for column in table.columns}
    # SELECT *: DuckDB and BigQuery quote keywords ("partition", "offset") differently.
    frame = warehouse.query(f"SELECT * FROM {table.qualified_name}")[list(table.column_names)]
    rows = [
        {name: plain_value(value, types[name]) for name, value in record.items()} for record in frame.to_dict("records")
    ]
    return sorted(
        rows, key=lambda row: [(row[key] is None, 0 if row[key] is None else row[key]) for key in table.grain]
    )


def values_equal(actual, expected, rel: float = 1e-9, abs_tol: float = 1e-9) -> bool:
    import math

    if actual is None or expected is None:
        return actual is None and expected is None
    if isinstance(actual, bool) or isinstance(expected, bool):
        return bool(actual) == bool(expected) and type(actual) is type(expected)
    if isinstance(actual, float) or isinstance(expected, float):
        return math.isclose(float(actual), float(expected), rel_tol=rel, abs_tol=abs_tol)
    return actual == expected


def text_matches(lake_value, text) -> bool:
    """A column SPEC leaves untyped: the lake may store it typed; it must hold the same value."""
    import math

    if text is not None and (text.strip() == "" or text.strip().lower() == "nan"):
        text = None
    if lake_value is None or text is None:
        return lake_value is None and text is None
    if isinstance(lake_value, bool):
        return text.strip().lower() == str(lake_value).lower()
    if isinstance(lake_value, (int, float)):
        try:
            return math.isclose(float(text), float(lake_value), rel_tol=1e-12)
        except ValueError:
            return False
    return str(lake_value) == text


def assert_tables_equal(actual: list[dict], expected: list[dict], columns: list[str], label: str) -> None:
    assert len(actual) == len(expected), f"{label}: {len(actual)} rows, oracle has {len(expected)}"
    mismatches = []
    for index, (got, want) in enumerate(zip(actual, expected)):
        for column in columns:
            if not values_equal(got[column], want[column]):
                mismatches.append((index, column, got[column], want[column]))
    assert not mismatches, f"{label}: {len(mismatches)} differing cells, first {mismatches[:5]}"
