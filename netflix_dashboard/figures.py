"""Plotly figures of both pages, built from the frames of `data`."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import sample_colorscale

from netflix_dashboard import theme

# Thresholds of the churn rule on low_engagement_rate (SPEC 7): HIGH above 60, MEDIUM above 40.
HIGH_THRESHOLD = 60
MEDIUM_THRESHOLD = 40
PLAN_ORDER = ("Basic", "Standard", "Premium", "Premium+")
TOP_COUNTRIES = 8
RETENTION_COHORTS = 12
# The least time the window charts show: with one window Plotly zooms into its millisecond.
LEAST_WINDOW_SPAN = pd.Timedelta(hours=1)
# Below this many windows a line is drawn with its points: a single window has no line to draw.
POINTS_UP_TO = 40


def _fill(color: str, alpha: float) -> str:
    red, green, blue = (int(color[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({red},{green},{blue},{alpha})"


# --- Real-Time Engagement ----------------------------------------------------------------------


def _line_mode(windows: pd.DataFrame) -> str:
    return "lines+markers" if len(windows) < POINTS_UP_TO else "lines"


def _at_least_an_hour(figure: go.Figure, windows: pd.DataFrame) -> go.Figure:
    """The last hour of windows when there are fewer: a stream that just started has one or two."""
    if not windows.empty:
        first, end = windows["window_start"].min(), windows["window_end"].max()
        if end - first < LEAST_WINDOW_SPAN:
            figure.update_xaxes(range=[end - LEAST_WINDOW_SPAN, end])
    return figure


def active_users(windows: pd.DataFrame) -> go.Figure:
    figure = go.Figure(layout=theme.layout(yaxis={"rangemode": "tozero"}))
    figure.add_scatter(
        x=windows["window_start"],
        y=windows["unique_users"],
        name="active users",
        mode=_line_mode(windows),
        line={"color": theme.ACCENT, "width": 2.5, "shape": "spline", "smoothing": 0.4},
        marker={"size": 5},
        fill="tozeroy",
        fillcolor=_fill(theme.ACCENT, 0.15),
        hovertemplate="%{y:,} users<extra></extra>",
    )
    figure.add_scatter(
        x=windows["window_start"],
        y=windows["total_sessions"],
        name="sessions",
        mode=_line_mode(windows),
        line={"color": theme.SPEED, "width": 1.5, "dash": "dot"},
        hovertemplate="%{y:,} sessions<extra></extra>",
    )
    recomputed = windows[windows["source"] == "batch"]
    if not recomputed.empty:
        figure.add_scatter(
            x=recomputed["window_start"],
            y=recomputed["unique_users"],
            name="recomputed by batch",
            mode="markers",
            marker={"color": theme.BATCH, "size": 7, "symbol": "diamond"},
            hovertemplate="batch view<extra></extra>",
        )
    return _at_least_an_hour(figure, windows)


def engagement_rates(windows: pd.DataFrame) -> go.Figure:
    figure = go.Figure(layout=theme.layout(yaxis={"ticksuffix": "%", "range": [0, 100]}))
    for column, name, color in (
        ("low_engagement_rate", "low engagement", theme.HIGH),
        ("abandonment_rate", "abandonment", theme.MEDIUM),
        ("completion_rate", "completion", theme.GOOD),
    ):
        figure.add_scatter(
            x=windows["window_start"],
            y=windows[column],
            name=name,
            mode=_line_mode(windows),
            line={"color": color, "width": 2},
            hovertemplate=f"{name} %{{y:.1f}}%<extra></extra>",
        )
    for threshold, label, color in ((HIGH_THRESHOLD, "HIGH", theme.HIGH), (MEDIUM_THRESHOLD, "MEDIUM", theme.MEDIUM)):
        figure.add_hline(
            y=threshold,
            line={"color": color, "width": 1, "dash": "dash"},
            opacity=0.5,
            annotation={"text": f"{label} > {threshold}%", "font": {"color": color, "size": 10}},
            annotation_position="top left",
        )
    return _at_least_an_hour(figure, windows)


def revenue_at_risk(windows: pd.DataFrame) -> go.Figure:
    figure = go.Figure(layout=theme.layout(barmode="stack", bargap=0.15, yaxis={"tickprefix": "$"}))
    for column, name, color in (
        ("revenue_at_risk_high", "HIGH", theme.HIGH),
        ("revenue_at_risk_medium", "MEDIUM", theme.MEDIUM),
    ):
        figure.add_bar(
            x=windows["window_start"],
            y=windows[column].fillna(0),
            name=name,
            marker={"color": color, "line": {"width": 0}},
            hovertemplate=f"{name} $%{{y:,.2f}}<extra></extra>",
        )
    return figure


def top_segments(segments: pd.DataFrame, what: str) -> go.Figure:
    """Horizontal bars of sessions, the low-engagement part of each in red."""
    frame = segments.sort_values("total_sessions")
    low = frame["low_engagement_count"].fillna(0)
    share = (low / frame["total_sessions"].where(frame["total_sessions"] > 0) * 100).fillna(0)
    figure = go.Figure(
        layout=theme.layout(
            barmode="stack",
            hovermode="y unified",
            legend={"traceorder": "normal"},
            margin={"l": 110, "r": 64, "t": 8, "b": 32},
            yaxis={"gridcolor": "rgba(0,0,0,0)", "tickfont": {"color": theme.TEXT}},
        )
    )
    figure.add_bar(
        x=frame["total_sessions"] - low,
        y=frame["label"],
        orientation="h",
        name="engaged",
        marker={"color": _fill(theme.SPEED, 0.75), "line": {"width": 0}},
        customdata=list(zip(frame["total_sessions"], frame["unique_users"], strict=True)),
        hovertemplate="%{customdata[0]:,.0f} sessions · %{customdata[1]:,.0f} users<extra></extra>",
    )
    figure.add_bar(
        x=low,
        y=frame["label"],
        orientation="h",
        name="low engagement",
        marker={"color": theme.HIGH, "line": {"width": 0}},
        # The label sits at the end of the whole bar: total sessions and the low-engagement share.
        text=[f"{total:,.0f} · {pct:.0f}%" for total, pct in zip(frame["total_sessions"], share, strict=True)],
        textposition="outside",
        cliponaxis=False,
        textfont={"color": theme.MUTED, "size": 11},
        customdata=list(zip(share, frame["revenue_at_risk"].fillna(0), strict=True)),
        hovertemplate="low engagement %{x:,.0f} (%{customdata[0]:.1f}%) · at risk $%{customdata[1]:,.2f}<extra></extra>",
    )
    return figure


def speed_layer_lag(lags: pd.DataFrame) -> go.Figure:
    if lags.empty:
        return theme.blank_figure("no micro-batch with events committed yet")
    figure = go.Figure(layout=theme.layout(yaxis={"ticksuffix": " s", "rangemode": "tozero"}))
    figure.add_scatter(
        x=lags["committed_at"],
        y=lags["lag_seconds"],
        name="Kafka → commit",
        mode="lines+markers",
        line={"color": theme.SPEED, "width": 2},
        marker={"size": 5},
        customdata=list(zip(lags["batch_id"], lags["input_rows"], strict=True)),
        hovertemplate="batch %{customdata[0]}: %{y:.1f} s, %{customdata[1]:,} events<extra></extra>",
    )
    return figure


# --- Historical Trends -------------------------------------------------------------------------


def mau_by_country(engagement: pd.DataFrame) -> go.Figure:
    by_country = engagement.groupby(["month", "country"], as_index=False)["monthly_active_users"].sum()
    latest = by_country[by_country["month"] == by_country["month"].max()]
    top = latest.sort_values("monthly_active_users", ascending=False)["country"].head(TOP_COUNTRIES).tolist()
    by_country["series"] = by_country["country"].where(by_country["country"].isin(top), "Other")
    series = by_country.groupby(["month", "series"], as_index=False)["monthly_active_users"].sum()
    figure = go.Figure(layout=theme.layout(yaxis={"rangemode": "tozero"}))
    order = top + (["Other"] if (series["series"] == "Other").any() else [])
    for index, name in enumerate(order):
        rows = series[series["series"] == name]
        figure.add_scatter(
            x=rows["month"],
            y=rows["monthly_active_users"],
            name=name,
            mode="lines+markers",
            line={"width": 2, "color": theme.SERIES[index % len(theme.SERIES)]},
            marker={"size": 4},
            hovertemplate=f"{name} %{{y:,}}<extra></extra>",
        )
    figure.update_xaxes(dtick="M3", tickformat="%b %Y")
    return figure


def mau_by_plan(engagement: pd.DataFrame) -> go.Figure:
    by_plan = engagement.groupby(["month", "subscription_plan"], as_index=False)["monthly_active_users"].sum()
    plans = [plan for plan in PLAN_ORDER if plan in set(by_plan["subscription_plan"])]
    plans += sorted(set(by_plan["subscription_plan"]) - set(plans))
    colors = ("#5fa8d3", "#4cc9f0", "#f7b32b", "#e50914", "#b388eb", "#c9cfdb")
    figure = go.Figure(layout=theme.layout(yaxis={"rangemode": "tozero"}))
    for index, plan in enumerate(plans):
        rows = by_plan[by_plan["subscription_plan"] == plan]
        color = colors[index % len(colors)]
        figure.add_scatter(
            x=rows["month"],
            y=rows["monthly_active_users"],
            name=plan,
            mode="lines",
            stackgroup="plans",
            line={"width": 1, "color": color},
            fillcolor=_fill(color, 0.55),
            hovertemplate=f"{plan} %{{y:,}}<extra></extra>",
        )
    figure.update_xaxes(dtick="M3", tickformat="%b %Y")
    return figure


def _cohort_label(month: pd.Timestamp) -> str:
    return month.strftime("%Y-%m")


def retention_curves(cohorts: pd.DataFrame) -> go.Figure:
    recent = sorted(cohorts["cohort_month"].unique())[-RETENTION_COHORTS:]
    figure = go.Figure(
        layout=theme.layout(
            hovermode="closest",
            xaxis={
                "title": {"text": "months since first session", "font": {"color": theme.MUTED}},
                "dtick": 1,
                "range": [0, cohorts["months_since_cohort"].max()],
            },
            yaxis={"ticksuffix": "%", "range": [0, 102]},
            legend={"orientation": "v", "x": 1.0, "xanchor": "left", "y": 1, "yanchor": "top", "font": {"size": 10}},
            margin={"l": 48, "r": 8, "t": 12, "b": 40},
        )
    )
    # One hue from faint (oldest) to bright (newest), so the order of the cohorts reads at a glance.
    positions = [index / max(len(recent) - 1, 1) for index in range(len(recent))]
    shades = sample_colorscale([[0, "#34405a"], [1, theme.SPEED]], positions)
    for index, cohort in enumerate(recent):
        rows = cohorts[cohorts["cohort_month"] == cohort]
        figure.add_scatter(
            x=rows["months_since_cohort"],
            y=rows["retention_rate"] * 100,
            name=_cohort_label(pd.Timestamp(cohort)),
            mode="lines",
            line={"width": 1.5, "color": shades[index]},
            hovertemplate=f"cohort {_cohort_label(pd.Timestamp(cohort))}, month %{{x}}: %{{y:.1f}}%<extra></extra>",
        )
    weighted = cohorts.groupby("months_since_cohort", as_index=False)[["active_users", "cohort_size"]].sum()
    figure.add_scatter(
        x=weighted["months_since_cohort"],
        y=weighted["active_users"] / weighted["cohort_size"] * 100,
        name="all cohorts",
        mode="lines+markers",
        line={"width": 4, "color": theme.ACCENT},
        hovertemplate="all cohorts, month %{x}: %{y:.1f}%<extra></extra>",
    )
    return figure


def cohort_heatmap(cohorts: pd.DataFrame) -> go.Figure:
    grid = cohorts.pivot_table(index="cohort_month", columns="months_since_cohort", values="retention_rate")
    grid = grid.sort_index(ascending=False)
    values = grid.to_numpy() * 100
    # Month 0 is 100% by definition; scaling to the later months keeps their differences visible.
    later = cohorts.loc[cohorts["months_since_cohort"] > 0, "retention_rate"]
    top = float(later.max() * 100) if len(later) else 100.0
    labels = [_cohort_label(pd.Timestamp(month)) for month in grid.index]
    sizes = cohorts.groupby("cohort_month")["cohort_size"].max().reindex(grid.index)
    text = [[("" if pd.isna(v) else f"{v:.0f}") for v in row] for row in values]
    figure = go.Figure(
        layout=theme.layout(
            hovermode="closest",
            xaxis={
                "gridcolor": "rgba(0,0,0,0)",
                "title": {"text": "months since first session", "font": {"color": theme.MUTED}},
                "dtick": 1,
                "side": "bottom",
            },
            yaxis={"gridcolor": "rgba(0,0,0,0)", "type": "category"},
            margin={"l": 64, "r": 8, "t": 12, "b": 40},
        )
    )
    figure.add_heatmap(
        z=values,
        x=list(grid.columns),
        y=labels,
        text=text,
        texttemplate="%{text}",
        textfont={"size": 9},
        customdata=[[size] * len(grid.columns) for size in sizes],
        colorscale=[[0, "#141821"], [0.25, "#3b1a2a"], [0.6, "#a3122a"], [1, "#ff4d4f"]],
        zmin=0,
        zmax=top,
        xgap=2,
        ygap=2,
        colorbar={"ticksuffix": "%", "outlinewidth": 0, "thickness": 10, "tickfont": {"color": theme.MUTED}},
        hovertemplate="cohort %{y} (%{customdata:,} users), month %{x}: %{z:.1f}%<extra></extra>",
    )
    return figure


GENRE_METRICS = {
    "watch_time_share": "Share of watch time",
    "total_views": "Views",
    "unique_viewers": "Unique viewers",
    "completion_rate": "Completion rate",
    "avg_review_rating": "Average review rating",
}


def genre_performance(genres: pd.DataFrame, metric: str) -> go.Figure:
    if metric not in GENRE_METRICS:
        metric = "watch_time_share"
    shares = metric in ("watch_time_share", "completion_rate")
    latest = genres[genres["month"] == genres["month"].max()]
    order = latest.sort_values("total_views", ascending=False)["genre_primary"].tolist()
    order += sorted(set(genres["genre_primary"]) - set(order))
    yaxis: dict[str, object] = {}
    if shares:
        yaxis.update(ticksuffix="%")
    if metric == "watch_time_share":
        yaxis.update(range=[0, 100])
    figure = go.Figure(
        layout=theme.layout(
            yaxis=yaxis,
            legend={"orientation": "v", "x": 1.0, "xanchor": "left", "y": 1, "yanchor": "top", "font": {"size": 11}},
        )
    )
    for index, genre in enumerate(order):
        rows = genres[genres["genre_primary"] == genre]
        values = rows[metric] * 100 if shares else rows[metric]
        color = theme.SERIES[index % len(theme.SERIES)]
        stacked = metric == "watch_time_share"
        figure.add_scatter(
            x=rows["month"],
            y=values,
            name=genre,
            mode="lines" if stacked else "lines+markers",
            stackgroup="genres" if stacked else None,
            line={"width": 1 if stacked else 2, "color": color},
            marker={"size": 4},
            fillcolor=_fill(color, 0.6) if stacked else None,
            hovertemplate=f"{genre} %{{y:,.{1 if shares or metric == 'avg_review_rating' else 0}f}}"
            f"{'%' if shares else ''}<extra></extra>",
        )
    figure.update_xaxes(dtick="M3", tickformat="%b %Y")
    return figure
