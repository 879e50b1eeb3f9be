"""Warehouse files for the dashboard tests, and a server and browser to look at them.

`build_warehouse` writes plausible rows into every table the dashboards read, with the
columns of SPEC sections 6, 7 and 7b; the rows are random but seeded, so every number the
tests look for is known in advance (`Warehouse.expected_*`).
"""

from __future__ import annotations

import json
import random
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
from werkzeug.serving import make_server

from netflix_dashboard import create_app
from netflix_dashboard.reader import WarehouseReader

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

COUNTRIES = ("USA", "Canada", "UK", "India", "Germany", "France", "Brazil", "Japan", "Mexico", "Australia")
GENRES = ("Drama", "Comedy", "Action", "Thriller", "Documentary", "Romance", "Horror", "Sci-Fi", "Animation")
DEVICES = ("Smart TV", "Mobile", "Laptop", "Tablet")
QUALITIES = ("SD", "HD", "4K", "Ultra HD")
CONTENT_TYPES = ("Movie", "TV Series")
PLANS = ("Basic", "Standard", "Premium", "Premium+")

# DDL as the writers of the project create these tables (SPEC 6, 7, 7b).
DDL = {
    "netflix_streaming.engagement_health_realtime": """
        window_start TIMESTAMP NOT NULL, window_end TIMESTAMP NOT NULL, country VARCHAR NOT NULL,
        genre_primary VARCHAR NOT NULL, device_type VARCHAR NOT NULL, quality VARCHAR NOT NULL,
        is_netflix_original VARCHAR NOT NULL, content_type VARCHAR NOT NULL, total_sessions BIGINT NOT NULL,
        unique_users BIGINT NOT NULL, total_watch_minutes DOUBLE, avg_completion_pct DOUBLE,
        avg_content_quality DOUBLE, low_engagement_count BIGINT NOT NULL, abandonment_count BIGINT NOT NULL,
        quality_downgrade_count BIGINT NOT NULL, completion_count BIGINT NOT NULL,
        low_engagement_rate DOUBLE NOT NULL, abandonment_rate DOUBLE NOT NULL, completion_rate DOUBLE NOT NULL,
        revenue_impact DOUBLE, avg_subscriber_value DOUBLE, alert_level VARCHAR NOT NULL,
        updated_at TIMESTAMP NOT NULL""",
    "netflix_streaming.stream_batches": """
        batch_id BIGINT NOT NULL, committed_at TIMESTAMP NOT NULL, input_rows BIGINT NOT NULL,
        quarantined_rows BIGINT NOT NULL, upserted_rows BIGINT NOT NULL, start_offsets VARCHAR NOT NULL,
        end_offsets VARCHAR NOT NULL, min_kafka_timestamp TIMESTAMP, max_kafka_timestamp TIMESTAMP,
        max_event_time TIMESTAMP""",
    "netflix_processed.monthly_engagement": """
        month DATE, country VARCHAR, subscription_plan VARCHAR, total_sessions BIGINT, monthly_active_users BIGINT,
        total_watch_time_minutes DOUBLE, avg_session_duration DOUBLE, unique_content_viewed BIGINT,
        completion_rate DOUBLE""",
    "netflix_processed.cohort_retention": """
        cohort_month DATE, activity_month DATE, months_since_cohort INTEGER, cohort_size BIGINT,
        active_users BIGINT, retention_rate DOUBLE""",
    "netflix_processed.genre_performance": """
        month DATE, genre_primary VARCHAR, total_views BIGINT, unique_viewers BIGINT, unique_titles BIGINT,
        total_watch_time_minutes DOUBLE, avg_watch_duration DOUBLE, completion_rate DOUBLE,
        avg_review_rating DOUBLE, watch_time_share DOUBLE""",
    "netflix_processed.content_performance": """
        month DATE, movie_id VARCHAR, title VARCHAR, content_type VARCHAR, genre_primary VARCHAR,
        is_netflix_original BOOLEAN, total_views BIGINT, unique_viewers BIGINT, total_watch_time_minutes DOUBLE,
        avg_progress_pct DOUBLE, completion_rate DOUBLE, review_count BIGINT, avg_review_rating DOUBLE""",
}
# The batch view of the speed layer has the realtime table's columns (SPEC 7b).
DDL["netflix_processed.engagement_health_batch"] = DDL["netflix_streaming.engagement_health_realtime"]

# The project's view switches whole recomputed days; switching the windows the batch view has is
# the same to a reader and keeps the fixture independent of the time of day it runs at.
SERVING_VIEW = """
CREATE VIEW netflix_serving.engagement_health AS
SELECT b.*, 'batch' AS source FROM netflix_processed.engagement_health_batch AS b
UNION ALL
SELECT r.*, 'speed' AS source FROM netflix_streaming.engagement_health_realtime AS r
WHERE r.window_start NOT IN (SELECT window_start FROM netflix_processed.engagement_health_batch)"""


def create_schemas(connection: duckdb.DuckDBPyConnection) -> None:
    for dataset in ("netflix_processed", "netflix_streaming", "netflix_serving"):
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {dataset}")


def create_table(connection: duckdb.DuckDBPyConnection, name: str, rows: pd.DataFrame | None = None) -> None:
    connection.execute(f"CREATE TABLE {name} ({DDL[name]})")
    if rows is not None and not rows.empty:
        connection.register("incoming", rows)
        columns = ", ".join(rows.columns)
        connection.execute(f"INSERT INTO {name} ({columns}) SELECT {columns} FROM incoming")
        connection.unregister("incoming")


# --- plausible rows -----------------------------------------------------------------------------


def _alert_level(low_engagement_rate: float) -> str:
    if low_engagement_rate > 60:
        return "HIGH"
    return "MEDIUM" if low_engagement_rate > 40 else "LOW"


def engagement_rows(rng: random.Random, latest_window: datetime, windows: int) -> pd.DataFrame:
    """Segments of `windows` consecutive 5-minute windows ending with `latest_window`, as the speed layer writes them."""
    rows = []
    for index in range(windows):
        start = latest_window - timedelta(minutes=5 * (windows - 1 - index))
        # A slow evening wave with a bump, so the timeline has a shape to read.
        load = 1.0 + 0.45 * (index / windows) + (0.35 if windows // 2 <= index < windows // 2 + 3 else 0)
        keys = set()
        for _ in range(int(28 * load)):
            key = (
                rng.choices(COUNTRIES, weights=(30, 9, 10, 14, 7, 6, 9, 5, 6, 4))[0],
                rng.choices(GENRES, weights=(20, 16, 15, 12, 6, 8, 7, 9, 7))[0],
                rng.choices(DEVICES, weights=(40, 30, 20, 10))[0],
                rng.choices(QUALITIES, weights=(10, 45, 30, 15))[0],
                rng.choice(("true", "false")),
                rng.choices(CONTENT_TYPES, weights=(60, 40))[0],
            )
            if key in keys:
                continue
            keys.add(key)
            sessions = rng.randint(1, 9)
            # Mostly healthy segments; a few where viewers bail out early.
            churny = rng.random() < 0.12
            low = sum(rng.random() < (0.7 if churny else 0.18) for _ in range(sessions))
            completed = sum(rng.random() < (0.1 if churny else 0.45) for _ in range(sessions - low))
            abandoned = min(sessions - completed, low + sum(rng.random() < 0.1 for _ in range(sessions - low)))
            spend = [rng.choice((6.99, 9.99, 15.49, 22.99)) for _ in range(sessions)]
            low_rate = low / sessions * 100
            rows.append(
                {
                    "window_start": start,
                    "window_end": start + timedelta(minutes=5),
                    "country": key[0],
                    "genre_primary": key[1],
                    "device_type": key[2],
                    "quality": key[3],
                    "is_netflix_original": key[4],
                    "content_type": key[5],
                    "total_sessions": sessions,
                    "unique_users": max(1, sessions - rng.randint(0, sessions // 3)),
                    "total_watch_minutes": round(sum(rng.uniform(3, 70) for _ in range(sessions)), 3),
                    "avg_completion_pct": rng.uniform(10, 95),
                    "avg_content_quality": rng.uniform(5.5, 8.5),
                    "low_engagement_count": low,
                    "abandonment_count": abandoned,
                    "quality_downgrade_count": sessions if key[3] in ("SD", "HD") else 0,
                    "completion_count": completed,
                    "low_engagement_rate": low_rate,
                    "abandonment_rate": abandoned / sessions * 100,
                    "completion_rate": completed / sessions * 100,
                    "revenue_impact": sum(spend),
                    "avg_subscriber_value": sum(spend) / sessions,
                    "alert_level": _alert_level(low_rate),
                    "updated_at": start + timedelta(minutes=5, seconds=12),
                }
            )
    return pd.DataFrame(rows)


def stream_batch_rows(rng: random.Random, last_commit: datetime, batches: int) -> pd.DataFrame:
    rows = []
    offsets = {"0": 0, "1": 0, "2": 0}
    for batch_id in range(batches):
        committed = last_commit - timedelta(seconds=10 * (batches - 1 - batch_id))
        start = dict(offsets)
        for partition in offsets:
            offsets[partition] += rng.randint(10, 30)
        input_rows = sum(offsets.values()) - sum(start.values())
        lag = rng.uniform(1.2, 3.5) + (4.0 if batch_id % 17 == 5 else 0.0)
        rows.append(
            {
                "batch_id": batch_id,
                "committed_at": committed,
                "input_rows": input_rows,
                "quarantined_rows": rng.choice((0, 0, 0, 1)),
                "upserted_rows": rng.randint(20, 60),
                "start_offsets": json.dumps({"netflix_watch_events": start}),
                "end_offsets": json.dumps({"netflix_watch_events": offsets}),
                "min_kafka_timestamp": committed - timedelta(seconds=lag + 10),
                "max_kafka_timestamp": committed - timedelta(seconds=lag),
                "max_event_time": committed - timedelta(seconds=lag + 0.5),
            }
        )
    return pd.DataFrame(rows)


def _month(first: date, offset: int) -> date:
    year, month = divmod(first.month - 1 + offset, 12)
    return date(first.year + year, month + 1, 1)


MONTHS = [_month(date(2024, 1, 1), index) for index in range(18)]


def monthly_engagement_rows(rng: random.Random) -> pd.DataFrame:
    rows = []
    size = dict(zip(COUNTRIES, (900, 260, 300, 420, 210, 190, 280, 150, 170, 120), strict=True))
    share = dict(zip(PLANS, (0.22, 0.38, 0.28, 0.12), strict=True))
    for index, month in enumerate(MONTHS):
        growth = 1 + 0.035 * index
        for country in COUNTRIES:
            for plan in PLANS:
                users = max(1, round(size[country] * share[plan] * growth * rng.uniform(0.92, 1.08)))
                sessions = round(users * rng.uniform(4.5, 7.5))
                minutes = sessions * rng.uniform(38, 62)
                rows.append(
                    {
                        "month": month,
                        "country": country,
                        "subscription_plan": plan,
                        "total_sessions": sessions,
                        "monthly_active_users": users,
                        "total_watch_time_minutes": minutes,
                        "avg_session_duration": minutes / sessions,
                        "unique_content_viewed": min(1000, round(users * rng.uniform(1.5, 3))),
                        "completion_rate": rng.uniform(0.32, 0.52),
                    }
                )
    return pd.DataFrame(rows)


def cohort_rows(rng: random.Random) -> pd.DataFrame:
    rows = []
    for cohort_index, cohort in enumerate(MONTHS):
        size = round(rng.uniform(180, 320) * (1 + 0.02 * cohort_index))
        for since in range(len(MONTHS) - cohort_index):
            # Newer cohorts keep their viewers a little better: the curves fan out.
            first_month = 0.52 + 0.008 * cohort_index
            rate = 1.0 if since == 0 else min(1.0, first_month * 0.93 ** (since - 1) * rng.uniform(0.95, 1.05))
            active = round(size * rate)
            rows.append(
                {
                    "cohort_month": cohort,
                    "activity_month": _month(cohort, since),
                    "months_since_cohort": since,
                    "cohort_size": size,
                    "active_users": active,
                    "retention_rate": active / size,
                }
            )
    return pd.DataFrame(rows)


def genre_rows(rng: random.Random) -> pd.DataFrame:
    rows = []
    base = dict(zip(GENRES, (2400, 2000, 1900, 1500, 650, 900, 800, 1100, 850), strict=True))
    for index, month in enumerate(MONTHS):
        minutes = {}
        views = {}
        for genre in GENRES:
            trend = 1 + (0.04 if genre in ("Sci-Fi", "Documentary") else 0.015) * index
            views[genre] = round(base[genre] * trend * rng.uniform(0.9, 1.1))
            minutes[genre] = views[genre] * rng.uniform(35, 60)
        total = sum(minutes.values())
        for genre in GENRES:
            rows.append(
                {
                    "month": month,
                    "genre_primary": genre,
                    "total_views": views[genre],
                    "unique_viewers": round(views[genre] * rng.uniform(0.45, 0.6)),
                    "unique_titles": rng.randint(40, 120),
                    "total_watch_time_minutes": minutes[genre],
                    "avg_watch_duration": minutes[genre] / views[genre],
                    "completion_rate": rng.uniform(0.3, 0.55),
                    "avg_review_rating": rng.uniform(2.9, 4.3),
                    "watch_time_share": minutes[genre] / total,
                }
            )
    return pd.DataFrame(rows)


TITLE_WORDS = (
    ("Midnight", "Silent", "Crimson", "Broken", "Last", "Hidden", "Golden", "Wild", "Frozen", "Electric"),
    ("Harbor", "Signal", "Kingdom", "Protocol", "Summer", "Orchard", "Frontier", "Echo", "Circuit", "Tide"),
)


def content_rows(rng: random.Random) -> pd.DataFrame:
    titles = []
    for number in range(60):
        first, second = TITLE_WORDS[0][number % 10], TITLE_WORDS[1][(number * 3 + number // 10) % 10]
        titles.append(
            {
                "movie_id": f"movie_{number + 1:04d}",
                "title": f"{first} {second}",
                "content_type": CONTENT_TYPES[number % 3 == 0],
                "genre_primary": GENRES[number % len(GENRES)],
                "is_netflix_original": number % 4 == 0,
                "popularity": rng.uniform(0.2, 1.0) ** 2,
            }
        )
    rows = []
    for month in MONTHS:
        for title in titles:
            views = max(1, round(400 * title["popularity"] * rng.uniform(0.8, 1.2)))
            reviews = rng.randint(0, max(1, views // 20))
            rows.append(
                dict(
                    month=month,
                    **{key: value for key, value in title.items() if key != "popularity"},
                    total_views=views,
                    unique_viewers=round(views * rng.uniform(0.55, 0.8)),
                    total_watch_time_minutes=views * rng.uniform(30, 95),
                    avg_progress_pct=rng.uniform(35, 85),
                    completion_rate=rng.uniform(0.25, 0.6),
                    review_count=reviews,
                    avg_review_rating=rng.uniform(2.5, 4.8) if reviews else None,
                )
            )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Warehouse:
    path: Path
    realtime: pd.DataFrame  # engagement_health_realtime
    recomputed: pd.DataFrame  # engagement_health_batch
    batches: pd.DataFrame
    engagement: pd.DataFrame
    cohorts: pd.DataFrame
    genres: pd.DataFrame
    content: pd.DataFrame

    @property
    def serving(self) -> pd.DataFrame:
        """What the serving view returns: recomputed windows from the batch view, the others from the speed layer."""
        speed = self.realtime[~self.realtime["window_start"].isin(set(self.recomputed["window_start"]))]
        return pd.concat([self.recomputed.assign(source="batch"), speed.assign(source="speed")], ignore_index=True)


def build_warehouse(path: Path, seed: int = 2025, now: datetime | None = None) -> Warehouse:
    """A warehouse with every table filled; the speed layer's newest window is the one open at `now`."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    latest_window = now.replace(second=0) - timedelta(minutes=now.minute % 5)
    realtime = engagement_rows(rng, latest_window, windows=36)
    # The oldest hour has been recomputed by the batch layer from the archive.
    recomputed = realtime[realtime["window_start"] < realtime["window_start"].min() + timedelta(hours=1)].copy()
    recomputed["updated_at"] = recomputed["updated_at"] + timedelta(hours=1)
    warehouse = Warehouse(
        path=path,
        realtime=realtime,
        recomputed=recomputed,
        batches=stream_batch_rows(rng, now - timedelta(seconds=3), batches=60),
        engagement=monthly_engagement_rows(rng),
        cohorts=cohort_rows(rng),
        genres=genre_rows(rng),
        content=content_rows(rng),
    )
    connection = duckdb.connect(str(path))
    try:
        create_schemas(connection)
        create_table(connection, "netflix_streaming.engagement_health_realtime", warehouse.realtime)
        create_table(connection, "netflix_processed.engagement_health_batch", warehouse.recomputed)
        create_table(connection, "netflix_streaming.stream_batches", warehouse.batches)
        create_table(connection, "netflix_processed.monthly_engagement", warehouse.engagement)
        create_table(connection, "netflix_processed.cohort_retention", warehouse.cohorts)
        create_table(connection, "netflix_processed.genre_performance", warehouse.genres)
        create_table(connection, "netflix_processed.content_performance", warehouse.content)
        connection.execute(SERVING_VIEW)
    finally:
        connection.close()
    return warehouse


def build_empty_warehouse(path: Path) -> None:
    """A warehouse right after `netflix-lambda stream` started on an empty topic: the speed layer's
    tables exist without rows, the batch layer has not run."""
    connection = duckdb.connect(str(path))
    try:
        create_schemas(connection)
        create_table(connection, "netflix_streaming.engagement_health_realtime")
        create_table(connection, "netflix_streaming.stream_batches")
    finally:
        connection.close()


# --- a served app and a browser -----------------------------------------------------------------


@contextmanager
def served(reader: WarehouseReader, refresh_seconds: float = 2) -> Iterator[str]:
    """The dashboards on a free loopback port, in a thread of this process; yields the base URL."""
    app = create_app(reader, refresh_seconds=refresh_seconds)
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dashboard-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


def chromium_available() -> bool:
    return Path(CHROMIUM).exists() or shutil.which("chromium") is not None
