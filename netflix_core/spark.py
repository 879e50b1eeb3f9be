"""The one way this project builds a SparkSession, for the batch assets and the streaming job."""

from __future__ import annotations

import ipaddress
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit

from pyspark.sql import SparkSession

from netflix_core.settings import Settings

DRIVER_LOGGING = Path(__file__).with_name("log4j2.properties")

GCS_WRITE_BUFFER_BYTES = 1024 * 1024
GCS_UPLOAD_CHUNK_BYTES = 8 * 1024 * 1024

LOOPBACK = "127.0.0.1"

# Shuffles stay small on a laptop-sized cluster; adaptive execution coalesces them further.
DEFAULT_SHUFFLE_PARTITIONS = 8


def connector_jars(settings: Settings) -> list[str]:
    """Jars the setup step resolved with Maven: the Kafka connector always, the GCS connector in prod."""
    folders = ["spark"] + (["gcp"] if settings.is_prod else [])
    jars: list[str] = []
    for folder in folders:
        jars.extend(sorted(str(p) for p in (Path(settings.jars_dir) / folder).glob("*.jar")))
    return jars


def is_loopback_master(master: str) -> bool:
    """Whether every executor of ``master`` runs on this machine: local mode, or a standalone
    master on a loopback address (whose workers, on one machine, reach a driver on loopback)."""
    if master == "local" or master.startswith(("local[", "local-cluster[")):
        return True
    if not master.startswith("spark://"):
        return False
    host = urlsplit(master).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def spark_conf(
    settings: Settings, app_name: str = "netflix-lambda", extra: dict[str, str] | None = None
) -> dict[str, str]:
    """Every setting of the project's SparkSession, master and jars included."""
    conf = {
        "spark.master": settings.spark_master,
        "spark.app.name": app_name,
        "spark.sql.session.timeZone": "UTC",
        # Casts of malformed text give NULL, which the cleaning and quarantine rules turn into reasons.
        "spark.sql.ansi.enabled": "false",
        "spark.sql.shuffle.partitions": str(DEFAULT_SHUFFLE_PARTITIONS),
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.parquet.compression.codec": "snappy",
        "spark.driver.memory": settings.spark_driver_memory,
        # Stage bars would garble the command line's own progress; the Spark UI shows the stages.
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile={DRIVER_LOGGING.as_uri()}",
        # Python workers (pandas conversions, foreachBatch) must run this interpreter, not the PATH's.
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    if is_loopback_master(settings.spark_master):
        # Servers this project starts listen on loopback only. With any other master the defaults
        # stay: executors on other machines must reach the driver.
        conf["spark.driver.bindAddress"] = LOOPBACK
        conf["spark.driver.host"] = LOOPBACK
    jars = connector_jars(settings)
    if jars:
        conf["spark.jars"] = ",".join(jars)
    if settings.is_prod:
        conf.update(gcs_connector_conf(settings))
    conf.update(extra or {})
    return conf


def gcs_connector_conf(settings: Settings) -> dict[str, str]:
    """gs:// through the Cloud Storage connector (hadoop3-2.2.x, see jvm/gcp/pom.xml).

    Credentials are the connector's defaults, which are Application Default Credentials: the file
    named by GOOGLE_APPLICATION_CREDENTIALS, else the metadata server (GCE, Dataproc, GKE). With
    STORAGE_EMULATOR_HOST set, the emulator instead, with no credentials at all.
    """
    conf = {
        "spark.hadoop.fs.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFileSystem",
        "spark.hadoop.fs.AbstractFileSystem.gs.impl": "com.google.cloud.hadoop.fs.gcs.GoogleHadoopFS",
        # Spark's default INT96 is a legacy encoding; BigQuery and other readers of the lake take
        # TIMESTAMP_MICROS as a timestamp.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        # Every file open for writing holds a write buffer and an upload chunk in the heap (8 and
        # 64 MiB by default), and a task writing month partitions keeps a file open per month:
        # 24 months ran a 1 GiB driver out of memory. Smaller buffers, and past 16 open files
        # Spark sorts by month and writes one file at a time: at most ~150 MiB per task. (Locally
        # Spark always sorts first: 24 open files a task made the 10M backfill's fact write 25%
        # slower than sorting.)
        "spark.hadoop.fs.gs.outputstream.buffer.size": str(GCS_WRITE_BUFFER_BYTES),
        "spark.hadoop.fs.gs.outputstream.upload.chunk.size": str(GCS_UPLOAD_CHUNK_BYTES),
        "spark.sql.maxConcurrentOutputFileWriters": "16",
    }
    if settings.gcp_project:
        conf["spark.hadoop.fs.gs.project.id"] = settings.gcp_project
    if settings.storage_emulator_host:
        conf.update(
            {
                "spark.hadoop.fs.gs.storage.root.url": settings.storage_emulator_host,
                "spark.hadoop.fs.gs.auth.service.account.enable": "false",
                "spark.hadoop.fs.gs.auth.null.enable": "true",
            }
        )
    return conf


def start_session(conf: dict[str, str]) -> SparkSession:
    """Returns the process's SparkSession, starting it (and its JVM) only the first time."""
    if conf.get("spark.driver.bindAddress") == LOOPBACK:
        # The web UI ignores spark.driver.bindAddress: it binds the driver JVM's SPARK_LOCAL_IP, else
        # 0.0.0.0, and no conf key moves it. PySpark starts that JVM with a copy of os.environ.
        os.environ["SPARK_LOCAL_IP"] = LOOPBACK
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def get_spark_session(settings: Settings, app_name: str, extra_conf: dict[str, str] | None = None) -> SparkSession:
    return start_session(spark_conf(settings, app_name, extra_conf))
