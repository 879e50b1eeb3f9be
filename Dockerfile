# One image for every container of docker-compose.yml that runs the platform's code: the Spark
# master and workers, the Dagster code location, webserver and daemon, the producer and the
# dashboards. Built with the repository's own setup step, so the image carries the same pinned
# Python packages and the same Maven-resolved jars (Kafka connector, GCS connector) as a checkout;
# Spark's executors and its driver run the same pyspark, Python and jars.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless maven procps \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/netflix-lambda
COPY . .
# The tests' tools (BigQuery emulator, Chromium, docker-compose) stay out of the image; Dagster's
# PostgreSQL storage (the deploy extra) goes in.
RUN NETFLIX_SETUP_TEST_TOOLS=0 NETFLIX_SETUP_EXTRAS=deploy bash scripts/setup.sh \
    && rm -rf /root/.m2 /root/.cache/pip

COPY deploy/dagster.yaml /opt/dagster/home/dagster.yaml
COPY deploy/workspace.yaml /opt/dagster/workspace.yaml

# Runs as a user of its own; Spark and Dagster write only under their home and /tmp.
RUN useradd --create-home --home-dir /home/netflix --uid 10001 netflix \
    && chown -R netflix /opt/dagster
USER netflix

ENV PATH=/opt/netflix-lambda/.venv/bin:$PATH \
    NETFLIX_JARS_DIR=/opt/netflix-lambda/.jars \
    DAGSTER_HOME=/opt/dagster/home
