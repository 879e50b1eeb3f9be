"""The Dagster instance that `netflix-lambda` runs land in and `make dagster` shows (DAGSTER_HOME).

``python -m netflix_cli.instance`` prepares it, so `dagster dev` opens the same instance.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from netflix_core.settings import Settings, load_settings

INSTANCE_CONFIG = """\
# The Dagster instance of `netflix-lambda` and `make dagster`: runs, events and schedules are
# kept in SQLite files in this folder.
telemetry:
  enabled: false
"""


def prepare_home(settings: Settings) -> Path:
    home = Path(settings.dagster_home)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        (home / "dagster.yaml").write_text(INSTANCE_CONFIG)
    return home


def open_instance(settings: Settings) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(prepare_home(settings)))


if __name__ == "__main__":
    print(f"Dagster instance: {prepare_home(load_settings())}")
