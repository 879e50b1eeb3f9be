"""python -m netflix_dashboard [DUCKDB_FILE] [--host H] [--port P]: the dashboards over a DuckDB file."""

from __future__ import annotations

import argparse
import logging

from netflix_dashboard import DuckDBFileReader, serve


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m netflix_dashboard", description=__doc__)
    parser.add_argument("duckdb_file", nargs="?", default="data/warehouse.duckdb")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--refresh", type=float, default=5, help="seconds between Real-Time refreshes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    serve(DuckDBFileReader(args.duckdb_file), host=args.host, port=args.port, refresh_seconds=args.refresh)


if __name__ == "__main__":
    main()
