"""HTML building blocks both pages share: navigation, cards, KPIs, empty states, tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dash import dcc, html

from netflix_dashboard import tables, theme
from netflix_dashboard.data import Status, TableRead

PAGES = (("/realtime", "Real-Time Engagement"), ("/history", "Historical Trends"))


def navbar(active_path: str) -> html.Nav:
    links = [
        dcc.Link(title, href=path, className="nav-link active" if path == active_path else "nav-link")
        for path, title in PAGES
    ]
    return html.Nav(
        [
            html.Div([html.Span("N", className="brand-mark"), html.Span("Engagement", className="brand-name")]),
            html.Div(links, className="nav-links"),
        ],
        className="navbar",
    )


def page_header(title: str, subtitle: str, source: Any, page_id: str) -> html.Header:
    return html.Header(
        [
            html.Div([html.H1(title), html.P(subtitle, className="subtitle")]),
            html.Div(source, id=f"{page_id}-source", className="source"),
        ],
        className="page-header",
    )


def source_badge(kind: str, text: str) -> html.Span:
    """`kind` is 'speed', 'batch' or 'none': the colour says which layer the numbers come from."""
    return html.Span(text, className=f"badge badge-{kind}")


def source_line(badges: Sequence[Any], facts: Iterable[Any]) -> list[Any]:
    return [
        html.Div(list(badges), className="source-badges"),
        html.Ul([html.Li(fact) for fact in facts if fact], className="source-facts"),
    ]


@dataclass(frozen=True)
class Kpi:
    label: str
    value: str
    note: str = ""
    tone: str = ""  # '', 'good', 'warn', 'bad': colours the note
    kpi_id: str = ""


def kpi_row(kpis: Sequence[Kpi]) -> list[html.Div]:
    cards = []
    for kpi in kpis:
        attrs = {"id": kpi.kpi_id} if kpi.kpi_id else {}
        cards.append(
            html.Div(
                [
                    html.Div(kpi.label, className="kpi-label"),
                    html.Div(kpi.value, className="kpi-value"),
                    html.Div(kpi.note, className=f"kpi-note {kpi.tone}".strip()),
                ],
                className="kpi",
                **attrs,
            )
        )
    return cards


def card(title: str, body: Any, subtitle: str = "", extra: Any = None, class_name: str = "") -> html.Section:
    head = [html.Div([html.H2(title), html.P(subtitle, className="card-subtitle") if subtitle else None])]
    if extra is not None:
        head.append(html.Div(extra, className="card-extra"))
    return html.Section(
        [html.Div(head, className="card-head"), html.Div(body, className="card-body")],
        className=f"card {class_name}".strip(),
    )


def graph(graph_id: str, figure: Any = None, height: int = 300) -> dcc.Graph:
    return dcc.Graph(
        id=graph_id,
        figure=figure if figure is not None else theme.blank_figure("loading…"),
        config=theme.GRAPH_CONFIG,
        style={"height": f"{height}px"},
        className="chart",
    )


def _what_happened(reads: Sequence[TableRead]) -> list[Any]:
    lines = []
    for read in reads:
        name = html.Code(read.table)
        if read.status is Status.MISSING:
            lines.append(html.Li([name, " does not exist in the warehouse yet."]))
        elif read.status is Status.EMPTY:
            lines.append(html.Li([name, " exists but has no rows yet."]))
        elif read.status is Status.UNREADABLE:
            lines.append(
                html.Li(
                    [
                        name,
                        " could not be read just now (a writer may hold the warehouse); details are in the server log.",
                    ]
                )
            )
    return lines


def empty_state(reads: Sequence[TableRead], retry_note: str, compact: bool = False) -> html.Div:
    """Says which tables are missing or empty and what to run to fill them; never an error."""
    unavailable = [read for read in reads if not read.ready]
    commands: list[str] = []
    for read in unavailable:
        if read.status is Status.UNREADABLE:
            continue
        for command in tables.commands_to_fill(read.table):
            if command not in commands:
                commands.append(command)
    only_unreadable = all(read.status is Status.UNREADABLE for read in unavailable)
    title = "The warehouse is busy" if only_unreadable else "No data here yet"
    body: list[Any] = [
        html.Div(title, className="empty-title"),
        html.Ul(_what_happened(unavailable), className="empty-tables"),
    ]
    if commands:
        if tuple(commands) == tables.STREAM_COMMANDS:
            intro = "Start the stream, each command in its own terminal:"
        else:
            intro = "Run:" if len(commands) == 1 else "Run, each command in its own terminal:"
        body += [html.Div(intro, className="empty-intro"), html.Pre("\n".join(f"$ {c}" for c in commands))]
    body.append(html.Div(retry_note, className="empty-retry"))
    return html.Div(body, className="empty-state compact" if compact else "empty-state")


@dataclass(frozen=True)
class Column:
    key: str
    heading: str
    numeric: bool = False  # right-aligned, tabular figures


def data_table(columns: Sequence[Column], rows: Sequence[dict[str, Any]], table_id: str = "") -> html.Table:
    """A plain HTML table; a row's optional "_class" key styles it (e.g. its alert level)."""
    head = html.Thead(html.Tr([html.Th(c.heading, className="num" if c.numeric else "") for c in columns]))
    body = html.Tbody(
        [
            html.Tr(
                [html.Td(row.get(c.key, ""), className="num" if c.numeric else "") for c in columns],
                className=row.get("_class", ""),
            )
            for row in rows
        ]
    )
    attrs = {"id": table_id} if table_id else {}
    return html.Table([head, body], className="data-table", **attrs)
