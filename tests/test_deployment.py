"""docker-compose.yml, the Dockerfile and deploy/ agree with the code they deploy.

Docker cannot run here, so the topology itself is exercised as local processes elsewhere (the
standalone cluster in test_spark_cluster.py, prod against emulators in test_prod_*.py). What is
checked here: docker compose's own parser accepts the file (Debian's docker-compose, no engine
needed), every command the containers run exists and parses, every variable they are given is
one the platform reads, the versions of Kafka, Spark and the connectors line up, and nothing is
published beyond the host.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml

from netflix_core.settings import PROD_BUCKET, load_settings
from tests.conftest import REPO

pytestmark = pytest.mark.unit

COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = (REPO / "Dockerfile").read_text()
VENV_BIN = Path(sys.executable).parent
PLATFORM_IMAGE = "netflix-lambda:latest"
REQUIRED = {"GCP_PROJECT": "my-project", "DAGSTER_POSTGRES_PASSWORD": "not-a-real-secret"}


def docker_compose(*args: str, environment: Mapping[str, str] = REQUIRED) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("docker-compose")
    assert executable, "docker-compose is missing: scripts/setup.sh installs Debian's package"
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **environment}
    return subprocess.run(
        [executable, "-f", str(COMPOSE_FILE), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def compose() -> dict:
    """The file as docker compose resolves it: anchors merged, variables substituted."""
    resolved = docker_compose("config")
    assert resolved.returncode == 0, resolved.stderr
    return yaml.safe_load(resolved.stdout)


@pytest.fixture(scope="module")
def platform(compose: dict) -> dict[str, dict]:
    """The services that run this repository's image."""
    return {name: service for name, service in compose["services"].items() if service.get("image") == PLATFORM_IMAGE}


def command_of(service: dict) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def pom_property(pom: str, name: str) -> str:
    return re.search(rf"<{name}>([^<]+)</{name}>", (REPO / "jvm" / pom / "pom.xml").read_text()).group(1)


def variables_settings_reads() -> set[str]:
    """Every variable ``load_settings`` looks at, in either environment."""

    class Recorder(dict):
        def __init__(self, values: dict[str, str]) -> None:
            super().__init__(values)
            self.read: set[str] = set()

        def get(self, key, default=None):
            self.read.add(key)
            return super().get(key, default)

    read: set[str] = set()
    for env in ("local", "prod"):
        recorder = Recorder({"NETFLIX_ENV": env})
        load_settings(recorder)
        read |= recorder.read
    return read


# --- the file -----------------------------------------------------------------------------------


def test_docker_compose_accepts_the_file_and_requires_its_secrets() -> None:
    valid = docker_compose("config", "-q")
    assert valid.returncode == 0, valid.stderr
    without_project = docker_compose("config", "-q", environment={"DAGSTER_POSTGRES_PASSWORD": "x"})
    assert without_project.returncode != 0 and "set GCP_PROJECT" in without_project.stderr
    without_password = docker_compose("config", "-q", environment={"GCP_PROJECT": "p"})
    assert without_password.returncode != 0 and "set DAGSTER_POSTGRES_PASSWORD" in without_password.stderr


def test_the_topology_is_the_designs(compose: dict, platform: dict[str, dict]) -> None:
    services = compose["services"]
    assert {"kafka", "postgres"} <= set(services)
    assert set(platform) == {
        "spark-master", "spark-worker-1", "spark-worker-2", "code-location", "dagster-webserver",
        "dagster-daemon", "producer", "dashboard",
    }  # fmt: skip
    workers = [service for name, service in platform.items() if name.startswith("spark-worker")]
    for worker in workers:
        arguments = command_of(worker)
        assert arguments[1:3] == ["org.apache.spark.deploy.worker.Worker", "spark://spark-master:7077"]
        assert arguments[arguments.index("--memory") + 1] == "2g"
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper


def test_only_loopback_ports_are_published(compose: dict) -> None:
    published = {name: service.get("ports", []) for name, service in compose["services"].items()}
    assert {name for name, ports in published.items() if ports} == {"spark-master", "dagster-webserver", "dashboard"}
    for name, ports in published.items():
        for port in ports:
            host_ip = port.get("host_ip") if isinstance(port, dict) else str(port).split(":")[0]
            assert host_ip == "127.0.0.1", f"{name} publishes {port} beyond the host"


# --- the commands the containers run --------------------------------------------------------------


def test_every_command_exists_and_parses(platform: dict[str, dict]) -> None:
    from netflix_cli.main import build_parser

    for name, service in platform.items():
        executable, *arguments = command_of(service)
        assert (VENV_BIN / executable).is_file(), f"{name}: {executable} is not in the image's virtualenv"
        if executable == "netflix-lambda":
            build_parser().parse_args(arguments)  # a SystemExit here fails the test
        elif executable == "spark-class":
            class_file = arguments[0].replace(".", "/") + ".class"
            spark_core = next(Path(importlib.util.find_spec("pyspark").origin).parent.glob("jars/spark-core_*.jar"))
            assert class_file in zipfile.ZipFile(spark_core).namelist(), f"{name}: no {arguments[0]} in {spark_core}"
        elif executable == "dagster":
            assert arguments[:2] == ["code-server", "start"]
            module = arguments[arguments.index("-m") + 1]
            assert importlib.util.find_spec(module), f"{name}: no module {module}"
            help_text = subprocess.run(
                [str(VENV_BIN / "dagster"), "code-server", "start", "--help"], capture_output=True, text=True
            )
            assert help_text.returncode == 0 and "--port" in help_text.stdout
        else:
            assert executable in ("dagster-webserver", "dagster-daemon"), f"{name}: unexpected {executable}"
            workspace = arguments[arguments.index("-w") + 1]
            assert f"COPY deploy/workspace.yaml {workspace}" in DOCKERFILE


def test_the_code_location_is_where_the_workspace_says(compose: dict, platform: dict[str, dict]) -> None:
    workspace = yaml.safe_load((REPO / "deploy" / "workspace.yaml").read_text())
    [location] = workspace["load_from"]
    server = location["grpc_server"]
    code_location = platform["code-location"]
    arguments = command_of(code_location)
    assert (server["host"], str(server["port"])) == (code_location["hostname"], arguments[arguments.index("-p") + 1])
    assert (
        server["location_name"]
        == yaml.safe_load((REPO / "workspace.yaml").read_text())["load_from"][0]["python_module"]["location_name"]
    )


# --- the variables they are given ------------------------------------------------------------------


def test_every_variable_is_one_the_platform_reads(platform: dict[str, dict]) -> None:
    settings_variables = variables_settings_reads()
    instance_config = (REPO / "deploy" / "dagster.yaml").read_text()
    # Read by deploy/dagster.yaml ({env: ...}) and by spark-class: never by the platform's code.
    read_elsewhere = set(re.findall(r"\{env: (\w+)\}", instance_config)) | {"SPARK_MASTER_OPTS"}
    for name, service in platform.items():
        unknown = set(service["environment"]) - settings_variables - read_elsewhere
        assert not unknown, f"{name} sets {sorted(unknown)}, which nothing reads"
        settings = load_settings(service["environment"])
        assert settings.is_prod and settings.gcp_project == REQUIRED["GCP_PROJECT"]
        assert settings.spark_master == "spark://spark-master:7077"
    image_environment = re.findall(r"^\s+(\w+)=", DOCKERFILE[DOCKERFILE.index("ENV ") :], re.MULTILINE)
    assert set(image_environment) - {"PATH"} <= settings_variables


def test_the_dagster_instance_config_is_valid() -> None:
    """Every class deploy/dagster.yaml names loads and accepts its config, as Dagster loads them
    (short of connecting to PostgreSQL and the bucket)."""
    from dagster._config import process_config
    from dagster._core.instance.ref import InstanceRef
    from dagster._serdes.config_class import class_from_code_pointer

    secrets = {"DAGSTER_POSTGRES_USER": "u", "DAGSTER_POSTGRES_PASSWORD": "p", "DAGSTER_POSTGRES_DB": "d"}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in secrets.items():
            patch.setenv(key, value)
        ref = InstanceRef.from_dir(str(REPO / "deploy"))
        loaded = {}
        for name in ("storage_data", "compute_logs_data", "run_coordinator_data", "run_launcher_data"):
            data = getattr(ref, name)
            klass = class_from_code_pointer(data.module_name, data.class_name)
            result = process_config(klass.config_type(), data.config_dict)
            assert result.success, (name, result.errors)
            loaded[name] = (klass.__name__, result.value)
    assert loaded["storage_data"][0] == "DagsterPostgresStorage"
    assert loaded["storage_data"][1]["postgres_db"]["password"] == "p"  # from the environment, not the file
    coordinator, config = loaded["run_coordinator_data"]
    assert coordinator == "QueuedRunCoordinator" and config["max_concurrent_runs"] == 2
    compute_logs, config = loaded["compute_logs_data"]
    assert compute_logs == "GCSComputeLogManager" and f"gs://{config['bucket']}" == PROD_BUCKET
    assert "COPY deploy/dagster.yaml /opt/dagster/home/dagster.yaml" in DOCKERFILE
    assert "DAGSTER_HOME=/opt/dagster/home" in DOCKERFILE


# --- versions ------------------------------------------------------------------------------------


def test_kafka_spark_and_connector_versions_line_up(compose: dict) -> None:
    kafka = pom_property("kafka", "kafka.version")
    for name in ("kafka", "kafka-init"):
        assert compose["services"][name]["image"] == f"apache/kafka:{kafka}", f"{name} is not Kafka {kafka}"
    # The image's Spark (master, workers, drivers alike) is the pinned pyspark; its Kafka source
    # was resolved for the same version.
    assert pom_property("spark", "spark.version") == importlib.metadata.version("pyspark")
    # The GCS connector line built for the Hadoop that pyspark bundles.
    hadoop = next(Path(importlib.util.find_spec("pyspark").origin).parent.glob("jars/hadoop-client-api-*.jar"))
    connector = re.search(r"<version>(hadoop\d-[\d.]+)</version>", (REPO / "jvm/gcp/pom.xml").read_text()).group(1)
    assert connector.startswith(f"hadoop{hadoop.name.split('-')[-1][0]}-2.")
    # The image carries the jars: setup.sh resolves every pom into .jars, where NETFLIX_JARS_DIR points.
    assert "bash scripts/setup.sh" in DOCKERFILE and "NETFLIX_JARS_DIR=/opt/netflix-lambda/.jars" in DOCKERFILE
    assert "WORKDIR /opt/netflix-lambda" in DOCKERFILE
