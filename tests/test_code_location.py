"""The code location loads the way `dagster dev` loads it, from workspace.yaml, with both layers in it,
in both environments."""

import importlib
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
DAGSTER = Path(sys.executable).with_name("dagster")

# SPEC sections 2 and 8: the asset keys of both layers, and what keeps the speed layer running.
SPEC_ASSET_KEYS = {
    *(f"raw/{name}" for name in ("users", "movies", "watch_history", "reviews", "search_logs")),
    *(
        f"netflix_processed/{name}"
        for name in (
            "monthly_engagement",
            "monthly_active_users",
            "content_performance",
            "genre_performance",
            "cohort_retention",
        )
    ),
    "kafka/netflix_watch_events",
    "netflix_streaming/engagement_health_realtime",
}


def dagster_cli(*args: str, home: Path, environment: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(DAGSTER), *args, "-w", "workspace.yaml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(environment or {}), "DAGSTER_HOME": str(home)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


def workspace_modules() -> list[str]:
    entries = yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"]
    return [entry["python_module"]["module_name"] for entry in entries]


@pytest.mark.parametrize(
    "environment",
    [{}, {"NETFLIX_ENV": "prod", "GCP_PROJECT": "netflix-prod"}],
    ids=["local", "prod"],
)
def test_workspace_code_location_validates(environment: dict[str, str], tmp_path: Path) -> None:
    dagster_cli("definitions", "validate", home=tmp_path, environment=environment)


def test_the_workspace_loads_the_jobs_and_the_sensor_of_both_layers(tmp_path: Path) -> None:
    jobs = dagster_cli("job", "list", home=tmp_path)
    assert {"batch_job", "engagement_stream_job"} <= {
        line.split(":", 1)[1].strip() for line in jobs.splitlines() if line.startswith("Job:")
    }
    sensors = dagster_cli("sensor", "list", "--name", home=tmp_path)
    assert "engagement_stream_sensor" in sensors.split()


@pytest.mark.parametrize("module_name", workspace_modules())
def test_the_module_the_workspace_names_holds_one_graph_of_both_layers(module_name: str) -> None:
    module = importlib.import_module(module_name)
    (definitions,) = [value for value in vars(module).values() if isinstance(value, dg.Definitions)]
    graph = definitions.resolve_asset_graph()

    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert SPEC_ASSET_KEYS <= keys, SPEC_ASSET_KEYS - keys
    realtime = graph.get(dg.AssetKey(["netflix_streaming", "engagement_health_realtime"]))
    assert dg.AssetKey(["kafka", "netflix_watch_events"]) in realtime.parent_keys


@pytest.mark.parametrize("module_name", workspace_modules())
def test_the_schedules_and_the_sensor_run_from_the_start(module_name: str) -> None:
    """The README promises a nightly refresh and a stream kept running without a click in the UI."""
    module = importlib.import_module(module_name)
    (definitions,) = [value for value in vars(module).values() if isinstance(value, dg.Definitions)]
    schedules = {schedule.name: schedule.default_status for schedule in definitions.schedules}
    assert set(schedules.values()) == {dg.DefaultScheduleStatus.RUNNING}, schedules
    assert "refresh_current_month" in schedules
    sensors = {sensor.name: sensor.default_status for sensor in definitions.sensors}
    assert sensors == {"engagement_stream_sensor": dg.DefaultSensorStatus.RUNNING}


@pytest.mark.parametrize(
    ("environment", "warehouse", "other"),
    [({}, "duckdb", "bigquery"), ({"NETFLIX_ENV": "prod", "GCP_PROJECT": "netflix-prod"}, "bigquery", "duckdb")],
    ids=["local", "prod"],
)
def test_every_warehouse_asset_names_the_environments_warehouse(
    environment: dict[str, str], warehouse: str, other: str
) -> None:
    from netflix_assets.definitions import build_definitions
    from netflix_core.settings import load_settings

    graph = build_definitions(load_settings(environment)).resolve_asset_graph()
    kinds = {key.to_user_string(): graph.get(key).kinds for key in graph.get_all_asset_keys()}
    stored = {key: names for key, names in kinds.items() if key.split("/")[0].startswith("netflix_")}
    assert stored and all(warehouse in names and other not in names for names in stored.values()), stored
