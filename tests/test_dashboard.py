"""The two dashboards, served for real and looked at in headless Chromium.

Each browser test serves the app on a free loopback port over a DuckDB file written by
`tests.dashboard_fixtures`, waits (with deadlines) for the charts to hold plotted data, reads
the numbers a person would read, and saves a screenshot in the temporary folder, or in the folder
NETFLIX_DASHBOARD_SCREENSHOTS names (``docs/screenshots`` refreshes the README's images), so that
a test run leaves the working tree as it was.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from netflix_core.warehouse.duckdb_warehouse import DuckDBWarehouse
from netflix_dashboard import CallableReader, WarehouseReader, data, queries, tables, theme
from tests.dashboard_fixtures import (
    CHROMIUM,
    CHROMIUM_ARGS,
    Warehouse,
    build_empty_warehouse,
    build_warehouse,
    chromium_available,
    served,
)

REPO = Path(__file__).resolve().parent.parent
SCREENSHOTS = Path(
    os.environ.get("NETFLIX_DASHBOARD_SCREENSHOTS", Path(tempfile.gettempdir()) / "netflix-dashboard-screenshots")
)
DEADLINE_MS = 30_000
# Words that only a Python failure would put on a page.
PYTHON_ERRORS = re.compile(r"Traceback|Exception|Error\b|File \"|line \d+, in")

# --- warehouses -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    return build_warehouse(tmp_path_factory.mktemp("dashboard") / "warehouse.duckdb")


@pytest.fixture(scope="module")
def empty_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dashboard-empty") / "warehouse.duckdb"
    build_empty_warehouse(path)
    return path


def expected_windows(warehouse: Warehouse) -> pd.DataFrame:
    """What the Real-Time page shows per window: the serving view's segments summed."""
    return warehouse.serving.groupby("window_start", as_index=False)[
        ["unique_users", "total_sessions", "low_engagement_count", "completion_count"]
    ].sum()


def expected_recent(warehouse: Warehouse) -> pd.DataFrame:
    serving = warehouse.serving
    since = serving["window_start"].max() - timedelta(minutes=55)
    return serving[serving["window_start"] >= since]


# --- the package on its own -------------------------------------------------------------------------


def test_package_imports_no_other_project_package_nor_dagster_nor_spark() -> None:
    script = (
        "import sys, netflix_dashboard\n"
        "netflix_dashboard.create_app(netflix_dashboard.CallableReader(lambda sql: None, lambda name: False))\n"
        "banned = ('dagster', 'pyspark', 'duckdb', 'netflix_assets', 'spark_streaming', 'producer', 'netflix_cli')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in banned))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True)
    # DuckDB is loaded only by whoever injects a DuckDB reader.
    assert result.stdout.strip() == "[]"


def test_readers_satisfy_the_protocol(warehouse: Warehouse) -> None:
    reader = DuckDBWarehouse(str(warehouse.path))
    assert isinstance(reader, WarehouseReader)
    assert isinstance(CallableReader(reader.query, reader.table_exists), WarehouseReader)
    assert reader.table_exists(tables.MONTHLY_ENGAGEMENT)
    assert reader.table_exists(tables.ENGAGEMENT_HEALTH_SERVING)  # a view counts
    assert not reader.table_exists("netflix_processed.no_such_table")
    assert not DuckDBWarehouse(str(warehouse.path.parent / "absent.duckdb")).table_exists(tables.MONTHLY_ENGAGEMENT)


def _all_statements() -> list[str]:
    since = datetime(2025, 1, 1, 12, 0)
    statements = [
        queries.latest_windows(tables.ENGAGEMENT_HEALTH_REALTIME, 10),
        queries.latest_windows(tables.ENGAGEMENT_HEALTH_SERVING, 10),
        queries.churn_alerts_since(tables.ENGAGEMENT_HEALTH_SERVING, since, 10),
        queries.top_segments_since(tables.ENGAGEMENT_HEALTH_REALTIME, "genre_primary", since, 5),
        queries.top_segments_since(tables.ENGAGEMENT_HEALTH_REALTIME, "country", since, 5),
        queries.recent_stream_batches(10),
        queries.monthly_engagement(),
        queries.cohort_retention(),
        queries.genre_performance(),
        queries.content_months(),
        queries.top_content(date(2025, 6, 1), 5),
    ]
    builders = {
        name
        for name, member in inspect.getmembers(queries, inspect.isfunction)
        if member.__module__ == queries.__name__
    }
    assert builders - {"timestamp_literal", "date_literal", "source_column"} == {
        "latest_windows", "churn_alerts_since", "top_segments_since", "recent_stream_batches", "monthly_engagement",
        "cohort_retention", "genre_performance", "content_months", "top_content",
    }, "a new query needs a place in this test"  # fmt: skip
    return statements


def test_every_query_runs_on_duckdb_and_keeps_to_sql_that_bigquery_shares(warehouse: Warehouse) -> None:
    known = {
        value for name, value in vars(tables).items() if name.isupper() and isinstance(value, str) and "." in value
    }
    reader = DuckDBWarehouse(str(warehouse.path))
    for sql in _all_statements():
        assert not reader.query(sql).empty, sql
        # No DuckDB-only syntax: casts with ::, DuckDB's date functions, interval arithmetic, ILIKE.
        assert not re.search(
            r"::|date_diff|datediff|epoch|strftime|date_trunc|interval|ilike|list_|struct_", sql, re.IGNORECASE
        )
        for name in re.findall(r"\bFROM\s+([\w.]+)", sql, re.IGNORECASE):
            assert name in known, f"{name} is not a name of netflix_dashboard.tables"


def test_serving_view_is_read_when_it_exists_else_the_speed_layers_table(warehouse: Warehouse, tmp_path: Path) -> None:
    snapshot = data.load_realtime(DuckDBWarehouse(str(warehouse.path)))
    assert snapshot.engagement_table == tables.ENGAGEMENT_HEALTH_SERVING
    sources = snapshot.windows.frame["source"].value_counts().to_dict()
    assert sources == {"speed": 24, "batch": 12}
    expected = expected_windows(warehouse)
    assert snapshot.windows.frame["unique_users"].tolist() == expected["unique_users"].tolist()

    without_view = tmp_path / "speed-only.duckdb"
    shutil.copy(warehouse.path, without_view)
    with duckdb.connect(str(without_view)) as connection:
        connection.execute(f"DROP VIEW {tables.ENGAGEMENT_HEALTH_SERVING}")
    snapshot = data.load_realtime(DuckDBWarehouse(str(without_view)))
    assert snapshot.engagement_table == tables.ENGAGEMENT_HEALTH_REALTIME
    assert set(snapshot.windows.frame["source"]) == {"speed"}
    assert len(snapshot.windows.frame) == 36


def test_a_table_that_vanishes_between_check_and_query_reads_as_missing() -> None:
    dropped = {"done": False}

    def table_exists(name: str) -> bool:
        return not dropped["done"]

    def query(sql: str) -> pd.DataFrame:
        dropped["done"] = True
        raise duckdb.CatalogException("Catalog Error: Table with name engagement_health does not exist!")

    read = data.Warehouse(CallableReader(query, table_exists)).read(tables.ENGAGEMENT_HEALTH_SERVING, "SELECT 1")
    assert read.status is data.Status.MISSING


DATE_COLUMNS = {"month", "cohort_month", "activity_month"}
COUNT_COLUMNS = re.compile(r"(sessions|users|_count|segments|views|viewers|rows|batch_id)$")


def bigquery_shaped(frame: pd.DataFrame) -> pd.DataFrame:
    """A DuckDB result in the dtypes google-cloud-bigquery gives: nullable integers and booleans,
    tz-aware UTC timestamps, db-dtypes dates, and INT64 for sums of integers."""
    import db_dtypes  # noqa: F401 - registers the "dbdate" dtype

    shaped = frame.copy()
    for column in shaped.columns:
        values = shaped[column]
        if column in DATE_COLUMNS:
            shaped[column] = values.dt.date.astype("dbdate")
        elif pd.api.types.is_datetime64_any_dtype(values):
            shaped[column] = values.dt.tz_localize("UTC")
        elif pd.api.types.is_bool_dtype(values):
            shaped[column] = values.astype("boolean")
        elif pd.api.types.is_integer_dtype(values) or (
            pd.api.types.is_float_dtype(values) and COUNT_COLUMNS.search(column)
        ):
            shaped[column] = values.astype("Int64")
    return shaped


def test_pages_draw_the_same_numbers_from_bigquery_shaped_frames(warehouse: Warehouse) -> None:
    import plotly.utils

    from netflix_dashboard import history, realtime

    duck = DuckDBWarehouse(str(warehouse.path))
    shaped = CallableReader(lambda sql: bigquery_shaped(duck.query(sql)), duck.table_exists)

    def as_json(component: object) -> str:
        return json.dumps(component, cls=plotly.utils.PlotlyJSONEncoder, ensure_ascii=False)

    for reader in (duck, shaped):
        outputs = realtime.render(data.load_realtime(reader), refresh_seconds=5)
        source, empty, style, kpis, alerts = outputs[:5]
        assert empty is None and style == {}
        assert "batch recompute · 12 windows" in as_json(source)
        assert f'"{expected_windows(warehouse)["unique_users"].iloc[-1]:,}"' in as_json(kpis)
        assert '"HIGH"' in as_json(alerts)
        for figure in outputs[6:]:
            assert figure.data, "every chart has traces"
            figure.to_json()

        page = as_json(history.layout(reader))
        latest = warehouse.engagement[warehouse.engagement["month"] == warehouse.engagement["month"].max()]
        assert f'"{latest["monthly_active_users"].sum():,}"' in page
        assert "could not be read" not in page
        top = as_json(history.top_content_table(data.load_top_content(reader, date(2025, 6, 1))))
        assert "★" in top  # review ratings rendered


# --- in the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    assert chromium_available(), f"no Chromium at {CHROMIUM}: scripts/setup.sh installs Debian's chromium"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        executable = CHROMIUM if Path(CHROMIUM).exists() else shutil.which("chromium")
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Page:
    """A browser tab on the served app that records every server error it sees."""

    def __init__(self, browser: object, base_url: str) -> None:
        self.base_url = base_url
        self.page = browser.new_page(viewport={"width": 1600, "height": 1000})
        self.server_errors: list[str] = []
        self.page.on("response", self._record)

    def _record(self, response: object) -> None:
        if response.status >= 500:
            self.server_errors.append(f"{response.status} {response.url}")

    def open(self, path: str) -> None:
        self.page.goto(self.base_url + path, wait_until="domcontentloaded")

    def wait_for_plotted(self, graph_id: str, min_points: int = 1) -> None:
        """Until the graph's Plotly div has drawn a trace with at least `min_points` points."""
        # _fullData, not data: Plotly's Python side ships numeric columns base64-encoded, and
        # only the drawn traces hold them decoded.
        self.page.wait_for_function(
            """([id, n]) => {
                const plot = document.querySelector(`#${id} .js-plotly-plot`);
                return !!plot && Array.isArray(plot._fullData) && plot._fullData.some(
                    t => t.visible !== false && Math.max(t.x?.length ?? 0, t.y?.length ?? 0, t.z?.length ?? 0) >= n);
            }""",
            arg=[graph_id, min_points],
            timeout=DEADLINE_MS,
        )

    def wait_for_text(self, selector: str, text: str) -> None:
        self.page.locator(selector).filter(has_text=text).first.wait_for(timeout=DEADLINE_MS)

    def text(self, selector: str = "body") -> str:
        return self.page.inner_text(selector)

    def trace_count(self, graph_id: str) -> int:
        return self.page.evaluate(f"document.querySelector('#{graph_id} .js-plotly-plot').data.length")

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / name), full_page=True, animations="disabled")

    def assert_no_python_error(self) -> None:
        assert not self.server_errors, self.server_errors
        body = self.text()
        assert not PYTHON_ERRORS.search(body), body
        # Dash's own error popup (only in debug mode, which serve() never uses).
        assert self.page.locator(".dash-fe-error__title, .dash-debug-menu").count() == 0

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def open_page(browser: object) -> Iterator[object]:
    pages: list[Page] = []

    def make(base_url: str) -> Page:
        pages.append(Page(browser, base_url))
        return pages[-1]

    yield make
    for page in pages:
        page.close()


def test_realtime_page_shows_the_speed_layer_and_refreshes(
    warehouse: Warehouse, open_page: object, tmp_path: Path
) -> None:
    # The app reads through this reader, so the test can swap the warehouse under a live page.
    current = {"reader": DuckDBWarehouse(str(warehouse.path))}
    reader = CallableReader(lambda sql: current["reader"].query(sql), lambda name: current["reader"].table_exists(name))
    windows = expected_windows(warehouse)
    recent = expected_recent(warehouse)
    alerts = recent[recent["alert_level"].isin(("HIGH", "MEDIUM"))]
    top_genre = recent.groupby("genre_primary")["total_sessions"].sum().sort_values(ascending=False).index[0]
    top_country = recent.groupby("country")["total_sessions"].sum().sort_values(ascending=False).index[0]

    with served(reader, refresh_seconds=1) as url:
        page = open_page(url)
        page.open("/realtime")
        for graph_id in ("rt-active-users", "rt-rates", "rt-revenue"):
            page.wait_for_plotted(graph_id, min_points=len(windows))
        page.wait_for_plotted("rt-lag", min_points=10)
        page.wait_for_plotted("rt-genres", min_points=5)
        page.wait_for_plotted("rt-countries", min_points=5)
        page.wait_for_text("#rt-alerts-table", "HIGH")

        assert page.text("#kpi-active-users").splitlines()[1] == f"{windows['unique_users'].iloc[-1]:,}"
        assert f"{recent['total_sessions'].sum():,}" in page.text("#kpi-sessions")
        assert theme.money(alerts["revenue_impact"].sum()) in page.text("#kpi-revenue-at-risk")
        high = (recent["alert_level"] == "HIGH").sum()
        medium = (recent["alert_level"] == "MEDIUM").sum()
        assert f"{high} HIGH · {medium} MEDIUM" in page.text("#kpi-revenue-at-risk")
        low = recent["low_engagement_count"].sum() / recent["total_sessions"].sum() * 100
        assert f"{low:.1f}%" in page.text("#kpi-low-engagement")
        assert re.search(r"\d+(\.\d)? s", page.text("#kpi-lag"))

        source = page.text("#rt-source")
        assert tables.ENGAGEMENT_HEALTH_SERVING in source
        assert "speed layer · 24 windows" in source and "batch recompute · 12 windows" in source
        assert f"batch #{warehouse.batches['batch_id'].max()}" in page.text("#rt-last-commit")
        committed = warehouse.batches["committed_at"].max()
        assert f"{committed:%Y-%m-%d %H:%M:%S} UTC" in page.text("#rt-last-commit")

        # The newest rows first, and every one of them a churn-risk segment.
        levels = page.page.locator("#rt-alerts-table tbody tr td:nth-child(2)").all_inner_texts()
        assert levels and set(levels) <= {"HIGH", "MEDIUM"}
        assert len(levels) == min(len(alerts), data.ALERT_ROWS)
        labels = page.page.evaluate("document.querySelector('#rt-genres .js-plotly-plot').data[0].y")
        assert labels[-1] == top_genre  # the longest bar is drawn last, at the top
        labels = page.page.evaluate("document.querySelector('#rt-countries .js-plotly-plot').data[0].y")
        assert labels[-1] == top_country
        assert page.trace_count("rt-active-users") == 3  # users, sessions, windows recomputed by batch
        page.assert_no_python_error()
        page.screenshot("realtime.png")

        # dcc.Interval: the page follows the warehouse without a reload.
        other = build_warehouse(tmp_path / "later.duckdb", seed=7)
        later = expected_windows(other)["unique_users"].iloc[-1]
        current["reader"] = DuckDBWarehouse(str(other.path))
        page.page.wait_for_function(
            "v => document.querySelector('#kpi-active-users .kpi-value')?.innerText === v",
            arg=f"{later:,}",
            timeout=DEADLINE_MS,
        )
        page.assert_no_python_error()


def test_history_page_shows_the_batch_layer(warehouse: Warehouse, open_page: object) -> None:
    engagement = warehouse.engagement
    latest_month = engagement["month"].max()
    latest = engagement[engagement["month"] == latest_month]
    content = warehouse.content[warehouse.content["month"] == latest_month].sort_values(
        ["total_views", "total_watch_time_minutes", "movie_id"], ascending=[False, False, True]
    )
    previous_month = sorted(warehouse.content["month"].unique())[-2]
    previous = warehouse.content[warehouse.content["month"] == previous_month].sort_values(
        ["total_views", "total_watch_time_minutes", "movie_id"], ascending=[False, False, True]
    )
    cohorts = warehouse.cohorts

    with served(DuckDBWarehouse(str(warehouse.path))) as url:
        page = open_page(url)
        page.open("/history")
        months = engagement["month"].nunique()
        page.wait_for_plotted("hist-mau-country", min_points=months)
        page.wait_for_plotted("hist-mau-plan", min_points=months)
        page.wait_for_plotted("hist-retention", min_points=2)
        page.wait_for_plotted("hist-cohorts", min_points=cohorts["cohort_month"].nunique())
        page.wait_for_plotted("hist-genres", min_points=months)
        page.wait_for_text("#hist-top-content-table", content["title"].iloc[0])

        assert page.text("#kpi-mau").splitlines()[1] == f"{latest['monthly_active_users'].sum():,}"
        assert f"{latest['total_sessions'].sum():,}" in page.text("#kpi-month-sessions")
        assert "June 2025" in page.text("#hist-latest-month")
        assert "2024-01 → 2025-06" in page.text("#hist-source")
        month_one = cohorts[cohorts["months_since_cohort"] == 1]
        retention = month_one["active_users"].sum() / month_one["cohort_size"].sum() * 100
        assert f"{retention:.1f}%" in page.text("#kpi-retention")
        plans = page.page.evaluate("document.querySelector('#hist-mau-plan .js-plotly-plot').data.map(t => t.name)")
        assert plans == ["Basic", "Standard", "Premium", "Premium+"]
        genres = page.page.evaluate("document.querySelector('#hist-genres .js-plotly-plot').data.map(t => t.name)")
        assert sorted(genres) == sorted(warehouse.genres["genre_primary"].unique())
        rows = page.page.locator("#hist-top-content-table tbody tr").all_inner_texts()
        assert len(rows) == data.TOP_CONTENT
        assert [row.split("\t")[1] for row in rows] == content["title"].head(data.TOP_CONTENT).tolist()
        page.assert_no_python_error()
        page.screenshot("history.png")

        # The pickers read again: another month's top titles, another genre metric.
        page.page.locator("#hist-content-month").click()
        page.page.get_by_role("option", name=f"{pd.Timestamp(previous_month):%B %Y}").click()
        page.wait_for_text("#hist-top-content-table tbody tr:first-child", previous["title"].iloc[0])
        page.page.locator("#hist-genre-metric").click()
        page.page.get_by_role("option", name="Views").click()
        page.page.wait_for_function(
            "() => { const d = document.querySelector('#hist-genres .js-plotly-plot').data;"
            " return d.length > 0 && d.every(t => !t.stackgroup); }",
            timeout=DEADLINE_MS,
        )
        page.assert_no_python_error()


def test_root_leads_to_both_dashboards(warehouse: Warehouse, open_page: object) -> None:
    with served(DuckDBWarehouse(str(warehouse.path))) as url:
        request = urllib.request.Request(url + "/", method="GET")

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: object, **kwargs: object) -> None:
                return None

        with pytest.raises(urllib.error.HTTPError) as redirect:
            urllib.request.build_opener(NoRedirect).open(request, timeout=10)
        assert redirect.value.code == 302
        assert redirect.value.headers["Location"].endswith("/realtime")

        page = open_page(url)
        page.open("/")
        page.page.wait_for_url("**/realtime", timeout=DEADLINE_MS)
        page.page.get_by_role("link", name="Historical Trends").click()
        page.page.wait_for_url("**/history", timeout=DEADLINE_MS)
        page.wait_for_plotted("hist-mau-country", min_points=2)
        page.page.get_by_role("link", name="Real-Time Engagement").click()
        page.wait_for_plotted("rt-active-users", min_points=2)
        page.assert_no_python_error()


def test_empty_warehouse_says_what_to_run(empty_warehouse: Path, open_page: object) -> None:
    with served(DuckDBWarehouse(str(empty_warehouse))) as url:
        page = open_page(url)
        page.open("/realtime")
        page.wait_for_text("#rt-empty", "netflix-lambda stream")
        empty = page.text("#rt-empty")
        assert f"{tables.ENGAGEMENT_HEALTH_REALTIME} exists but has no rows yet" in empty
        for command in tables.STREAM_COMMANDS:
            assert f"$ {command}" in empty
        assert "no micro-batch committed yet" in page.text("#rt-source")
        assert not page.page.locator("#rt-content").is_visible()
        page.assert_no_python_error()
        page.screenshot("realtime-empty.png")

        page.open("/history")
        page.wait_for_text(".empty-state", "netflix-lambda batch")
        empty = page.text(".empty-state")
        for table in (tables.MONTHLY_ENGAGEMENT, tables.COHORT_RETENTION, tables.GENRE_PERFORMANCE):
            assert f"{table} does not exist in the warehouse yet" in empty
        assert "$ netflix-lambda batch" in empty
        assert page.page.locator(".js-plotly-plot").count() == 0
        page.assert_no_python_error()
        page.screenshot("history-empty.png")


def _failing_readers() -> dict[str, WarehouseReader]:
    def missing_table(sql: str) -> pd.DataFrame:
        raise duckdb.CatalogException("Catalog Error: Table with name engagement_health_realtime does not exist!")

    def broken_check(name: str) -> bool:
        raise duckdb.IOException("IO Error: Could not set lock on file: Conflicting lock is held")

    return {
        # Claims every table exists, then every query fails as if it had been dropped.
        "query fails": CallableReader(missing_table, lambda name: True),
        # Cannot even tell whether a table exists.
        "check fails": CallableReader(missing_table, broken_check),
    }


@pytest.mark.parametrize("failure", list(_failing_readers()))
def test_a_failing_reader_never_puts_a_python_error_on_the_page(failure: str, open_page: object) -> None:
    with served(_failing_readers()[failure]) as url:
        page = open_page(url)
        page.open("/realtime")
        page.wait_for_text("#rt-empty", "could not be read just now")
        page.assert_no_python_error()
        page.open("/history")
        page.wait_for_text(".empty-state", "could not be read just now")
        page.assert_no_python_error()


@pytest.mark.unit
def test_the_window_charts_show_an_hour_and_their_points_when_the_stream_has_just_started() -> None:
    from netflix_dashboard import figures

    def windows(count: int) -> pd.DataFrame:
        starts = pd.date_range("2026-12-02 14:45", periods=count, freq="5min")
        rates = {"low_engagement_rate": 10.0, "abandonment_rate": 5.0, "completion_rate": 20.0}
        counts = {"unique_users": 10, "total_sessions": 12, "source": "speed"}
        return pd.DataFrame({"window_start": starts, "window_end": starts + pd.Timedelta(minutes=5), **counts, **rates})

    for chart in (figures.active_users, figures.engagement_rates):
        first = chart(windows(1))
        start, end = (pd.Timestamp(bound) for bound in first.layout.xaxis.range)
        assert (start, end) == (pd.Timestamp("2026-12-02 13:50"), pd.Timestamp("2026-12-02 14:50"))
        assert all("markers" in trace.mode for trace in first.data), "one window is a point, not a line"
        assert chart(windows(36)).layout.xaxis.range is None, "three hours of windows keep Plotly's own range"
