"""The warehouse behind one interface (``Warehouse``): DuckDB embedded, BigQuery in prod."""

from netflix_core.settings import Settings
from netflix_core.warehouse.base import (
    BatchReport,
    MicroBatch,
    OffsetRangeSummary,
    Offsets,
    Warehouse,
    WarehouseError,
    offsets_json,
    serving_view_sql,
    utc_now,
)

# How long a reader (dashboard, query) waits for a writer's lock: writers hold it for seconds.
READER_LOCK_TIMEOUT_SECONDS = 10.0


def open_warehouse(settings: Settings, lock_timeout_seconds: float = 120.0) -> Warehouse:
    """The warehouse of ``settings.env`` for code outside Dagster (the command line, the streaming job)."""
    if settings.is_prod:
        from google.auth.exceptions import DefaultCredentialsError

        from netflix_core.gcp import NO_CREDENTIALS_HINT, bigquery_client
        from netflix_core.warehouse.bigquery_warehouse import BigQueryWarehouse

        try:
            client = bigquery_client(settings)
        except DefaultCredentialsError as error:
            raise WarehouseError(f"no Google credentials for BigQuery: {NO_CREDENTIALS_HINT}") from error
        except ValueError as error:  # a setting missing, e.g. GCP_PROJECT with an emulator
            raise WarehouseError(str(error)) from error
        return BigQueryWarehouse(client)
    from netflix_core.warehouse.duckdb_warehouse import DuckDBWarehouse

    return DuckDBWarehouse(settings.duckdb_path, lock_timeout_seconds)


__all__ = [
    "READER_LOCK_TIMEOUT_SECONDS",
    "BatchReport",
    "MicroBatch",
    "OffsetRangeSummary",
    "Offsets",
    "Warehouse",
    "WarehouseError",
    "offsets_json",
    "open_warehouse",
    "serving_view_sql",
    "utc_now",
]
