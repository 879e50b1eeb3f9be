"""Real-Time Engagement (/realtime): the speed layer's 5-minute windows, refreshed every few seconds.

The page's skeleton is drawn once; a `dcc.Interval` then replaces only its figures, numbers and
tables, so charts keep their zoom and nothing flickers while the stream writes.
"""

from __future__ import annotations

import logging
from typing import Any

import dash
import pandas as pd
from dash import Input, Output, dcc, html

from netflix_dashboard import components, data, figures, tables, theme
from netflix_dashboard.components import Column, Kpi
from netflix_dashboard.data import Realtime, Status, TableRead
from netflix_dashboard.reader import WarehouseReader

log = logging.getLogger(__name__)

PATH = "/realtime"
_GRAPHS = ("rt-active-users", "rt-lag", "rt-rates", "rt-revenue", "rt-genres", "rt-countries")
_HIDDEN = {"display": "none"}
_SHOWN: dict[str, str] = {}


def layout(refresh_seconds: float) -> html.Div:
    wide = "span-2"
    content = html.Div(
        [
            html.Div(id="rt-kpis"),
            html.Div(
                [
                    components.card(
                        "Active users per 5-minute window",
                        components.graph("rt-active-users", height=300),
                        subtitle="unique users (HyperLogLog) summed over segments, and sessions; the last 24 hours of event time",
                        class_name=wide,
                    ),
                    components.card(
                        "Speed-layer lag",
                        components.graph("rt-lag", height=300),
                        subtitle="newest Kafka record → commit, per micro-batch",
                    ),
                ],
                className="grid-3",
            ),
            html.Div(
                [
                    components.card(
                        "Engagement rates",
                        components.graph("rt-rates", height=280),
                        subtitle="per window, weighted by sessions; dashed: churn-alert thresholds",
                    ),
                    components.card(
                        "Revenue at risk",
                        components.graph("rt-revenue", height=280),
                        subtitle="monthly spend behind HIGH and MEDIUM segments, per window",
                    ),
                ],
                className="grid-2",
            ),
            html.Div(
                [
                    components.card(
                        "Top genres",
                        components.graph("rt-genres", height=320),
                        subtitle="sessions in the last hour; red: low engagement (progress under 20%)",
                    ),
                    components.card(
                        "Top countries",
                        components.graph("rt-countries", height=320),
                        subtitle="sessions in the last hour; red: low engagement (progress under 20%)",
                    ),
                ],
                className="grid-2",
            ),
            components.card(
                "Churn-risk alerts",
                html.Div(id="rt-alerts", className="table-scroll"),
                subtitle="HIGH and MEDIUM segments of the last hour, newest window first",
                extra=html.Div(id="rt-alert-counts"),
            ),
        ],
        id="rt-content",
        style=_HIDDEN,
    )
    return html.Div(
        [
            components.navbar(PATH),
            html.Main(
                [
                    components.page_header(
                        "Real-Time Engagement",
                        "Speed layer: 5-minute tumbling windows on event time, churn flags per segment",
                        html.Span("reading the warehouse…", className="muted"),
                        "rt",
                    ),
                    dcc.Interval(id="rt-tick", interval=int(refresh_seconds * 1000), n_intervals=0),
                    html.Div(id="rt-empty"),
                    content,
                ],
                className="page",
            ),
        ]
    )


def register(app: dash.Dash, reader: WarehouseReader, refresh_seconds: float) -> None:
    outputs = [
        Output("rt-source", "children"),
        Output("rt-empty", "children"),
        Output("rt-content", "style"),
        Output("rt-kpis", "children"),
        Output("rt-alerts", "children"),
        Output("rt-alert-counts", "children"),
        *(Output(graph_id, "figure") for graph_id in _GRAPHS),
    ]

    @app.callback(*outputs, Input("rt-tick", "n_intervals"))
    def refresh(_: int) -> tuple[Any, ...]:
        try:
            return render(data.load_realtime(reader), refresh_seconds)
        except Exception:  # the page must never show a traceback; the log keeps it
            log.exception("the Real-Time Engagement page could not be drawn")
            unreadable = TableRead(tables.ENGAGEMENT_HEALTH_REALTIME, Status.UNREADABLE)
            return _empty(components.empty_state([unreadable], _retry_note(refresh_seconds)), _source_none())


def _retry_note(refresh_seconds: float) -> str:
    return f"This page looks again every {refresh_seconds:g} s."


def _source_none() -> list[Any]:
    return components.source_line([components.source_badge("none", "no data")], [])


def _empty(message: Any, source: Any) -> tuple[Any, ...]:
    blanks = [dash.no_update] * len(_GRAPHS)
    return (source, message, _HIDDEN, dash.no_update, dash.no_update, dash.no_update, *blanks)


def render(snapshot: Realtime, refresh_seconds: float) -> tuple[Any, ...]:
    health = data.stream_health(snapshot.batches, snapshot.read_at)
    source = _source(snapshot, health, refresh_seconds)
    if not snapshot.windows.ready:
        return _empty(components.empty_state([snapshot.windows], _retry_note(refresh_seconds)), source)

    windows = snapshot.windows.frame
    recent = snapshot.recent_windows
    alerts = snapshot.alerts.frame if snapshot.alerts.ready else pd.DataFrame()
    return (
        source,
        None,
        _SHOWN,
        _kpi_row(snapshot, recent, health),
        _alerts_table(alerts, show_source=snapshot.engagement_table == tables.ENGAGEMENT_HEALTH_SERVING),
        _alert_counts(recent),
        figures.active_users(windows),
        figures.speed_layer_lag(data.batch_lags(snapshot.batches)),
        figures.engagement_rates(windows),
        figures.revenue_at_risk(windows),
        _segments(snapshot.genres, "genre"),
        _segments(snapshot.countries, "country"),
    )


def _segments(read: TableRead, what: str) -> Any:
    if not read.ready:
        return theme.blank_figure(f"no sessions by {what} in the last hour")
    return figures.top_segments(read.frame, what)


def _when(value: Any) -> str:
    return "–" if value is None or pd.isna(value) else pd.Timestamp(value).strftime("%Y-%m-%d %H:%M:%S UTC")


def _source(snapshot: Realtime, health: data.StreamHealth | None, refresh_seconds: float) -> list[Any]:
    serving = snapshot.engagement_table == tables.ENGAGEMENT_HEALTH_SERVING
    badges = []
    facts: list[Any] = [[html.Span("table ", className="muted"), html.Code(snapshot.engagement_table)]]
    if snapshot.windows.ready:
        windows = snapshot.windows.frame
        recomputed = int((windows["source"] == "batch").sum())
        from_speed = len(windows) - recomputed
        if from_speed:
            badges.append(components.source_badge("speed", f"speed layer · {from_speed} windows"))
        if recomputed:
            badges.append(components.source_badge("batch", f"batch recompute · {recomputed} windows"))
        latest = snapshot.latest_window
        facts.append(
            [
                html.Span("latest window ", className="muted"),
                f"{latest['window_start']:%Y-%m-%d %H:%M}–{latest['window_end']:%H:%M} UTC",
            ]
        )
    else:
        badges.append(components.source_badge("none", "no windows yet"))
    if health is not None:
        facts.append(
            html.Span(
                [
                    html.Span("last commit ", className="muted"),
                    _when(health.committed_at),
                    html.Span(
                        f" · batch #{health.last_batch_id} · {theme.duration(health.since_commit)} ago",
                        className="muted",
                    ),
                ],
                id="rt-last-commit",
            )
        )
    elif snapshot.batches.status is not Status.UNREADABLE:
        facts.append(html.Span("no micro-batch committed yet", className="muted"))
    if serving:
        facts.append(html.Span("serving view: batch rows where a day was recomputed", className="muted"))
    facts.append(html.Span(f"refreshes every {refresh_seconds:g} s", className="muted"))
    return components.source_line(badges, facts)


def _kpi_row(snapshot: Realtime, recent: pd.DataFrame, health: data.StreamHealth | None) -> list[Any]:
    kpis, caption = _kpis(snapshot, recent, health)
    return [html.Div(caption, className="kpi-caption"), html.Div(components.kpi_row(kpis), className="kpis")]


def _rate(recent: pd.DataFrame, count: str) -> float:
    sessions = recent["total_sessions"].sum()
    return float("nan") if sessions == 0 else recent[count].sum() / sessions * 100


def _tone_of_low_engagement(rate: float) -> str:
    if rate > figures.HIGH_THRESHOLD:
        return "bad"
    return "warn" if rate > figures.MEDIUM_THRESHOLD else "good"


def _kpis(snapshot: Realtime, recent: pd.DataFrame, health: data.StreamHealth | None) -> tuple[list[Kpi], str]:
    windows = snapshot.windows.frame
    latest = windows.iloc[-1]
    change = ""
    tone = ""
    if len(windows) > 1 and windows.iloc[-2]["unique_users"] > 0:
        ratio = latest["unique_users"] / windows.iloc[-2]["unique_users"] - 1
        change = f"{'▲' if ratio >= 0 else '▼'} {abs(ratio) * 100:.0f}% vs previous window"
        tone = "good" if ratio >= 0 else "warn"
    low = _rate(recent, "low_engagement_count")
    high_segments = int(recent["high_segments"].sum())
    medium_segments = int(recent["medium_segments"].sum())
    lag_note = "no commit yet"
    lag_tone = "warn"
    lag_value = "–"
    if health is not None:
        lag_value = theme.duration(health.commit_lag)
        lag_note = f"last commit {theme.duration(health.since_commit)} ago"
        lag_tone = "good" if health.since_commit.total_seconds() < 120 else "warn"
    since, until = recent["window_start"].min(), recent["window_end"].max()
    return [
        Kpi("Active users", theme.number(latest["unique_users"]), change or "first window", tone, "kpi-active-users"),
        Kpi("Sessions", theme.compact(recent["total_sessions"].sum()), f"{len(recent)} windows", "", "kpi-sessions"),
        Kpi("Low engagement", theme.percent(low), "progress under 20%", _tone_of_low_engagement(low), "kpi-low-engagement"),
        Kpi("Abandonment", theme.percent(_rate(recent, "abandonment_count")), "stopped under 50%", "", "kpi-abandonment"),
        Kpi("Completion", theme.percent(_rate(recent, "completion_count")), "sessions completed", "good", "kpi-completion"),
        Kpi(
            "Revenue at risk",
            theme.money(recent["revenue_at_risk"].sum()),
            f"{high_segments} HIGH · {medium_segments} MEDIUM",
            "bad" if high_segments else ("warn" if medium_segments else "good"),
            "kpi-revenue-at-risk",
        ),
        Kpi("Speed-layer lag", lag_value, lag_note, lag_tone, "kpi-lag"),
    ], f"Active users: latest window ({latest['window_start']:%H:%M}). Others: last hour of event time, {since:%H:%M}–{until:%H:%M} UTC."  # fmt: skip


def _alert_counts(recent: pd.DataFrame) -> list[Any]:
    return [
        html.Span(f"{int(recent['high_segments'].sum())} HIGH", className="pill pill-high"),
        html.Span(f"{int(recent['medium_segments'].sum())} MEDIUM", className="pill pill-medium"),
    ]


def _alerts_table(alerts: pd.DataFrame, show_source: bool) -> Any:
    if alerts.empty:
        return html.Div("No HIGH or MEDIUM segment in the last hour.", className="all-clear")
    same_day = alerts["window_start"].dt.date.nunique() == 1
    columns = [
        Column("window", "Window (UTC)"),
        Column("level", "Level"),
        Column("country", "Country"),
        Column("genre_primary", "Genre"),
        Column("device_type", "Device"),
        Column("quality", "Quality"),
        Column("content_type", "Type"),
        Column("total_sessions", "Sessions", numeric=True),
        Column("unique_users", "Users", numeric=True),
        Column("low_engagement_rate", "Low eng.", numeric=True),
        Column("abandonment_rate", "Abandon.", numeric=True),
        Column("completion_rate", "Completion", numeric=True),
        Column("revenue_impact", "Revenue", numeric=True),
    ]
    if show_source:
        columns.append(Column("source", "Source"))
    rows = []
    for alert in alerts.to_dict("records"):
        level = alert["alert_level"]
        rows.append(
            {
                **alert,
                "_class": f"alert-{level.lower()}",
                "window": f"{alert['window_start']:{'%H:%M' if same_day else '%Y-%m-%d %H:%M'}}",
                "level": html.Span(level, className=f"pill pill-{level.lower()}"),
                "total_sessions": theme.number(alert["total_sessions"]),
                "unique_users": theme.number(alert["unique_users"]),
                "low_engagement_rate": theme.percent(alert["low_engagement_rate"]),
                "abandonment_rate": theme.percent(alert["abandonment_rate"]),
                "completion_rate": theme.percent(alert["completion_rate"]),
                "revenue_impact": theme.money(alert["revenue_impact"]),
            }
        )
    return components.data_table(columns, rows, table_id="rt-alerts-table")
