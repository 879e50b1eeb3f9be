"""Installs DuckDB extensions from their PyPI wheels (duckdb-extension-NAME) into HOME's
extension folder (~/.duckdb/extensions/vVERSION/PLATFORM), where ``INSTALL NAME`` finds them
instead of downloading them. Run by scripts/setup.sh with the BigQuery emulator's interpreter:

    HOME=.venv-bqemu/duckdb-home .venv-bqemu/bin/python scripts/install_duckdb_extensions.py spatial avro
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import duckdb


def main(names: list[str]) -> None:
    con = duckdb.connect()
    for name in names:
        package = Path(importlib.import_module(f"duckdb_extension_{name}").__file__).parent
        path = package / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
        if not path.is_file():
            sys.exit(f"{path} is missing: duckdb-extension-{name} must have duckdb's version ({duckdb.__version__})")
        con.execute("INSTALL '{}'".format(str(path).replace("'", "''")))
    # Loaded by name on a new connection, as bqemulator does: this fails if it would download.
    check = duckdb.connect()
    for name in names:
        check.execute(f"INSTALL {name}")
        check.execute(f"LOAD {name}")


if __name__ == "__main__":
    main(sys.argv[1:])
