"""Colours, the Plotly layout every chart shares, and number formats."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go

CARD = "#141821"
GRID = "#232a36"
TEXT = "#e6e9ef"
MUTED = "#8b93a7"
ACCENT = "#e50914"

HIGH = "#ff4d4f"
MEDIUM = "#f7b32b"
GOOD = "#5ad08a"
SPEED = "#4cc9f0"
BATCH = "#b388eb"

SERIES = (
    "#e50914",
    "#4cc9f0",
    "#f7b32b",
    "#5ad08a",
    "#b388eb",
    "#ff8fab",
    "#5fa8d3",
    "#f28f3b",
    "#2ec4b6",
    "#c9cfdb",
)

FONT = "Inter, 'Segoe UI', Roboto, 'Liberation Sans', 'DejaVu Sans', Arial, sans-serif"

GRAPH_CONFIG = {"displaylogo": False, "displayModeBar": "hover", "responsive": True}


def layout(**overrides: object) -> go.Layout:
    base = {
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "font": {"family": FONT, "color": TEXT, "size": 12},
        "margin": {"l": 48, "r": 16, "t": 12, "b": 36},
        "colorway": list(SERIES),
        "hovermode": "x unified",
        "hoverlabel": {"bgcolor": CARD, "bordercolor": GRID, "font": {"color": TEXT, "family": FONT}},
        "legend": {
            "orientation": "h",
            "yanchor": "bottom",
            "y": 1.0,
            "xanchor": "left",
            "x": 0,
            "bgcolor": "rgba(0,0,0,0)",
        },
        "xaxis": {"gridcolor": GRID, "zeroline": False, "linecolor": GRID, "tickfont": {"color": MUTED}},
        "yaxis": {
            "gridcolor": GRID,
            "zeroline": False,
            "linecolor": GRID,
            "tickfont": {"color": MUTED},
            # Keeps the lowest y label clear of the first x label.
            "ticklabelstandoff": 6,
        },
        # Keeps zoom and hidden traces while the page refreshes its data underneath.
        "uirevision": "keep",
    }
    for key, value in overrides.items():
        # Axes and legend are merged, so a chart states only what it changes.
        if key in ("xaxis", "yaxis", "legend", "margin") and isinstance(value, dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return go.Layout(**base)


def blank_figure(message: str) -> go.Figure:
    """A chart area that says why it has nothing to draw."""
    figure = go.Figure(layout=layout(hovermode=False))
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    figure.add_annotation(
        text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"color": MUTED, "size": 13}
    )
    return figure


def _missing(value: object) -> bool:
    # pd.isna also knows pandas' NA, which BigQuery's nullable columns hold.
    return value is None or bool(pd.isna(value))


def number(value: object) -> str:
    if _missing(value):
        return "–"
    return f"{float(value):,.0f}"


def compact(value: object) -> str:
    """12,345 / 123k / 4.56M: for headline figures."""
    if _missing(value):
        return "–"
    value = float(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e5, "k")):
        if abs(value) >= size:
            return f"{value / size:,.{1 if abs(value) >= 10 * size else 2}f}{suffix}"
    return f"{value:,.0f}"


def percent(value: object, digits: int = 1) -> str:
    """A value already in percent (0..100)."""
    if _missing(value):
        return "–"
    return f"{float(value):.{digits}f}%"


def fraction_percent(value: object, digits: int = 1) -> str:
    """A fraction in [0, 1], shown in percent."""
    if _missing(value):
        return "–"
    return percent(float(value) * 100, digits)


def money(value: object) -> str:
    if _missing(value):
        return "–"
    value = float(value)
    return f"${compact(value)}" if abs(value) >= 1e4 else f"${value:,.2f}"


def duration(value: timedelta | None) -> str:
    if value is None:
        return "–"
    seconds = value.total_seconds()
    if seconds < 0:
        return "0 s"
    if seconds < 90:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} days"
