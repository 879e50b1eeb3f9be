# One image for the code location, the Dagster daemon/webserver, the producer and the streaming job.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless maven procps \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/netflix-lambda
COPY pyproject.toml constraints.txt README.md ./
COPY jvm ./jvm
COPY scripts ./scripts
COPY netflix_assets ./netflix_assets
COPY spark_streaming ./spark_streaming
COPY producer ./producer
COPY workspace.yaml ./
# The BigQuery emulator serves the tests only.
RUN NETFLIX_SETUP_BQEMU=0 bash scripts/setup.sh

ENV PATH=/opt/netflix-lambda/.venv/bin:$PATH \
    NETFLIX_JARS_DIR=/opt/netflix-lambda/.jars \
    DAGSTER_HOME=/opt/dagster/home
RUN mkdir -p $DAGSTER_HOME
