"""Historical Trends (/history): the batch layer's monthly tables.

The batch layer changes at most once a run, so the page reads the warehouse when it is opened;
only its two pickers (genre metric, month of top content) read again.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, dcc, html

from netflix_dashboard import components, data, figures, tables, theme
from netflix_dashboard.components import Column, Kpi
from netflix_dashboard.data import History, Status, TableRead
from netflix_dashboard.reader import WarehouseReader

log = logging.getLogger(__name__)

PATH = "/history"
RETRY = "Reload this page once it has run."


def layout(reader: WarehouseReader) -> html.Div:
    try:
        body = _body(data.load_history(reader))
    except Exception:  # the page must never show a traceback; the log keeps it
        log.exception("the Historical Trends page could not be drawn")
        unreadable = TableRead(tables.MONTHLY_ENGAGEMENT, Status.UNREADABLE)
        body = [_header(None), components.empty_state([unreadable], RETRY)]
    return html.Div([components.navbar(PATH), html.Main(body, className="page")])


def _header(history: History | None) -> html.Header:
    months = history.months if history else None
    if months is None:
        badges = [components.source_badge("none", "no batch tables yet")]
        facts: list[Any] = []
    else:
        first, latest = months
        badges = [components.source_badge("batch", "batch layer")]
        facts = [
            [html.Span("dataset ", className="muted"), html.Code(tables.PROCESSED)],
            html.Span([html.Span("months ", className="muted"), f"{first:%Y-%m} → {latest:%Y-%m}"]),
            html.Span([html.Span("as of ", className="muted"), f"{latest:%B %Y}"], id="hist-latest-month"),
            html.Span(["refreshed by ", html.Code(tables.BATCH_COMMANDS[0])], className="muted"),
        ]
    return components.page_header(
        "Historical Trends",
        "Batch layer: monthly engagement, retention by cohort, genres and titles",
        components.source_line(badges, facts),
        "hist",
    )


def _body(history: History) -> list[Any]:
    if not any(read.ready for read in history.reads):
        return [_header(history), components.empty_state(list(history.reads), RETRY)]
    return [
        _header(history),
        html.Div(components.kpi_row(_kpis(history)), className="kpis"),
        html.Div(
            [
                components.card(
                    "Monthly active users by country",
                    _chart_or_empty(history.engagement, "hist-mau-country", figures.mau_by_country, 320),
                    subtitle=f"top {figures.TOP_COUNTRIES} countries of the latest month",
                    class_name="span-2",
                ),
                components.card(
                    "Monthly active users by plan",
                    _chart_or_empty(history.engagement, "hist-mau-plan", figures.mau_by_plan, 320),
                    subtitle="stacked",
                ),
            ],
            className="grid-3",
        ),
        html.Div(
            [
                components.card(
                    "Retention curves",
                    _chart_or_empty(history.cohorts, "hist-retention", figures.retention_curves, 360),
                    subtitle=f"share of each cohort active n months later; last {figures.RETENTION_COHORTS} cohorts",
                ),
                components.card(
                    "Cohort retention",
                    _chart_or_empty(history.cohorts, "hist-cohorts", figures.cohort_heatmap, 360),
                    subtitle="% of the cohort (first session in that month) active n months later",
                ),
            ],
            className="grid-2",
        ),
        components.card(
            "Genre performance",
            _chart_or_empty(
                history.genres, "hist-genres", lambda frame: figures.genre_performance(frame, "watch_time_share"), 340
            ),
            subtitle="per month",
            extra=dcc.Dropdown(
                id="hist-genre-metric",
                options=[{"label": label, "value": key} for key, label in figures.GENRE_METRICS.items()],
                value="watch_time_share",
                clearable=False,
                searchable=False,
                className="picker",
            )
            if history.genres.ready
            else None,
        ),
        _top_content_card(history.content_months),
    ]


def _chart_or_empty(read: TableRead, graph_id: str, build: Any, height: int) -> Any:
    if not read.ready:
        return components.empty_state([read], RETRY, compact=True)
    return components.graph(graph_id, build(read.frame), height=height)


def _kpis(history: History) -> list[Kpi]:
    kpis: list[Kpi] = []
    if history.engagement.ready:
        frame = history.engagement.frame
        monthly = frame.groupby("month").agg(
            users=("monthly_active_users", "sum"),
            sessions=("total_sessions", "sum"),
            minutes=("total_watch_time_minutes", "sum"),
            countries=("country", "nunique"),
        )
        completed = (frame["completion_rate"] * frame["total_sessions"]).groupby(frame["month"]).sum()
        latest_month = monthly.index.max()
        latest = monthly.loc[latest_month]
        note, tone = f"{latest_month:%B %Y}", ""
        if len(monthly) > 1 and monthly["users"].iloc[-2] > 0:
            ratio = latest["users"] / monthly["users"].iloc[-2] - 1
            note = f"{'▲' if ratio >= 0 else '▼'} {abs(ratio) * 100:.1f}% vs {monthly.index[-2]:%b %Y}"
            tone = "good" if ratio >= 0 else "warn"
        completion = completed.loc[latest_month] / latest["sessions"] if latest["sessions"] else float("nan")
        kpis += [
            Kpi("Monthly active users", theme.number(latest["users"]), note, tone, "kpi-mau"),
            Kpi("Sessions", theme.compact(latest["sessions"]), f"{latest_month:%B %Y}", "", "kpi-month-sessions"),
            Kpi("Watch time", f"{theme.compact(latest['minutes'] / 60)} h", f"{latest_month:%B %Y}", "", "kpi-watch-time"),
            Kpi("Completion rate", theme.fraction_percent(completion), "sessions completed", "good", "kpi-month-completion"),
            Kpi("Countries", theme.number(latest["countries"]), "with active users", "", "kpi-countries"),
        ]  # fmt: skip
    if history.cohorts.ready:
        cohorts = history.cohorts.frame
        first_month = cohorts[cohorts["months_since_cohort"] == 1]
        retained = first_month["active_users"].sum() / first_month["cohort_size"].sum() if len(first_month) else None
        kpis.append(
            Kpi(
                "Month-1 retention",
                theme.fraction_percent(retained),
                f"over {cohorts['cohort_month'].nunique()} cohorts",
                "",
                "kpi-retention",
            )
        )
    return kpis


def _top_content_card(months: TableRead) -> html.Section:
    if not months.ready:
        return components.card("Top content", components.empty_state([months], RETRY, compact=True))
    choices = [pd.Timestamp(month).date() for month in months.frame["month"]]
    picker = dcc.Dropdown(
        id="hist-content-month",
        options=[{"label": f"{month:%B %Y}", "value": month.isoformat()} for month in choices],
        value=choices[0].isoformat(),
        clearable=False,
        className="picker",
    )
    return components.card(
        "Top content",
        html.Div(id="hist-top-content", className="table-scroll full"),
        subtitle=f"the month's {data.TOP_CONTENT} most viewed titles",
        extra=picker,
    )


def top_content_table(read: TableRead) -> Any:
    if not read.ready:
        return components.empty_state([read], RETRY, compact=True)
    columns = [
        Column("rank", "#", numeric=True),
        Column("title", "Title"),
        Column("content_type", "Type"),
        Column("genre_primary", "Genre"),
        Column("original", "Original"),
        Column("total_views", "Views", numeric=True),
        Column("unique_viewers", "Viewers", numeric=True),
        Column("watch_hours", "Watch hours", numeric=True),
        Column("avg_progress_pct", "Avg progress", numeric=True),
        Column("completion_rate", "Completion", numeric=True),
        Column("rating", "Reviews", numeric=True),
    ]
    rows = []
    for rank, title in enumerate(read.frame.to_dict("records"), start=1):
        reviews = 0 if pd.isna(title["review_count"]) else int(title["review_count"])
        original = not pd.isna(title["is_netflix_original"]) and bool(title["is_netflix_original"])
        rows.append(
            {
                **title,
                "rank": rank,
                "original": html.Span("N", className="original-mark") if original else "",
                "total_views": theme.number(title["total_views"]),
                "unique_viewers": theme.number(title["unique_viewers"]),
                "watch_hours": theme.number(title["total_watch_time_minutes"] / 60),
                "avg_progress_pct": theme.percent(title["avg_progress_pct"]),
                "completion_rate": theme.fraction_percent(title["completion_rate"]),
                "rating": "–"
                if not reviews or pd.isna(title["avg_review_rating"])
                else f"★ {title['avg_review_rating']:.1f} ({reviews})",
            }
        )
    return components.data_table(columns, rows, table_id="hist-top-content-table")


def register(app: dash.Dash, reader: WarehouseReader) -> None:
    @app.callback(Output("hist-genres", "figure"), Input("hist-genre-metric", "value"), prevent_initial_call=True)
    def pick_genre_metric(metric: str) -> Any:
        try:
            genres = data.load_genres(reader)
            if not genres.ready:
                return theme.blank_figure("genre_performance has no rows")
            return figures.genre_performance(genres.frame, metric)
        except Exception:  # the page must never show a traceback; the log keeps it
            log.exception("the genre chart could not be drawn")
            return theme.blank_figure("could not read the warehouse; see the server log")

    @app.callback(Output("hist-top-content", "children"), Input("hist-content-month", "value"))
    def pick_content_month(month: str | None) -> Any:
        try:
            if not month:
                return None
            return top_content_table(data.load_top_content(reader, date.fromisoformat(month)))
        except Exception:  # the page must never show a traceback; the log keeps it
            log.exception("the top content table could not be drawn")
            return components.empty_state(
                [TableRead(tables.CONTENT_PERFORMANCE, Status.UNREADABLE)], RETRY, compact=True
            )
