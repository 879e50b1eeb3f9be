"""The Dash application: routing between the two pages, and a server to run it."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import dash
import flask
from dash import Input, Output, dcc, html

from netflix_dashboard import components, history, realtime
from netflix_dashboard.reader import WarehouseReader

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent / "assets"


def create_app(reader: WarehouseReader, refresh_seconds: float = 5) -> dash.Dash:
    """Both dashboards over `reader`; `refresh_seconds` paces the Real-Time page."""
    app = dash.Dash(
        __name__,
        title="Netflix engagement",
        assets_folder=str(ASSETS),
        # Each page's components exist only while that page is shown.
        suppress_callback_exceptions=True,
        # Otherwise the tab title blinks "Updating..." at every refresh.
        update_title=None,
    )
    app.layout = html.Div([dcc.Location(id="url"), html.Div(id="page")], className="app")

    @app.callback(Output("page", "children"), Input("url", "pathname"))
    def route(pathname: str | None) -> Any:
        if pathname == realtime.PATH:
            return realtime.layout(refresh_seconds)
        if pathname == history.PATH:
            return history.layout(reader)
        return _index(pathname)

    realtime.register(app, reader, refresh_seconds)
    history.register(app, reader)

    @app.server.before_request
    def redirect_root() -> flask.Response | None:
        if flask.request.path == "/":
            return flask.redirect(realtime.PATH)
        return None

    return app


def _index(pathname: str | None) -> html.Div:
    cards = [
        dcc.Link([html.H2(title), html.P(path)], href=path, className="index-card") for path, title in components.PAGES
    ]
    note = [] if pathname in (None, "/") else [html.P(f"Nothing lives at {pathname}.", className="muted")]
    return html.Div(
        [components.navbar(""), html.Main([*note, html.Div(cards, className="index-cards")], className="page")]
    )


def serve(reader: WarehouseReader, host: str = "127.0.0.1", port: int = 8501, refresh_seconds: float = 5) -> None:
    """Serves both dashboards until interrupted."""
    app = create_app(reader, refresh_seconds=refresh_seconds)
    log.info("dashboards on http://%s:%d%s and %s", host, port, realtime.PATH, history.PATH)
    app.run(host=host, port=port, debug=False)
