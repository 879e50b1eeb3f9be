"""The prod warehouse: BigQuery, the contract's datasets as datasets, through a google-cloud-bigquery client.

How the interface's guarantees hold here:

* Rows arrive by load job, never by streaming inserts: load jobs are free, and rows still in the
  streaming buffer cannot be updated or deleted by DML for up to 30 minutes. Each load goes into
  a staging table of its own (``netflix_staging.<table>_<random>``, dropped once its transaction
  ended, expired by the dataset after a day if a crash left it), so no table comes near the 1,500
  load jobs per table and day; a day of 10-second micro-batches is at most two load jobs each
  (aggregates, and quarantined messages when there are any), about 17,000 of the project's
  100,000.
* The move from staging into the target is one multi-statement transaction: a monthly table's
  months are deleted and re-inserted, a micro-batch's aggregates and quarantined messages are
  MERGEd by their keys and its ``stream_batches`` row inserted, all or nothing. The micro-batch
  script first looks its (query_id, batch_id) up in ``stream_batches`` inside the transaction and
  writes nothing when it is there; two writers of one batch id at once (a killed driver's job
  still running) both MERGE the same real-time rows, and BigQuery aborts one of them.
* Values in these scripts are SQL literals rendered by ``sql_literal``, not query parameters: the
  BigQuery emulator the tests use does not bind parameters inside scripts. Every such value comes
  from this code (dates, numbers, timestamps, Spark's query id and offsets JSON); text from
  outside (a quarantined message) only ever travels in a load job.
* Monthly tables are partitioned by month, so replacing a month deletes whole partitions (free in
  BigQuery). engagement_health_realtime is partitioned by day and clustered by window first, and a
  MERGE names the range of windows its rows fall in, so it reads the blocks of those windows only;
  the other streaming tables are clustered by the key they are looked up by.

Timestamps go in as UTC and come out of ``query`` as naive UTC, as the interface promises.
"""

from __future__ import annotations

import contextlib
import io
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from numbers import Integral, Real

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from google.api_core.exceptions import GoogleAPICallError, NotFound
from google.cloud import bigquery

from netflix_core import contract
from netflix_core.contract import WarehouseTable
from netflix_core.warehouse.base import (
    BATCH_REPORT_COLUMNS,
    BatchReport,
    MicroBatch,
    WarehouseError,
    report_from_row,
    report_row,
    serving_view_sql,
)

# Not a contract dataset: where load jobs land before a transaction moves their rows.
STAGING_DATASET = "netflix_staging"
STAGING_TABLE_LIFETIME_MS = 24 * 3600 * 1000

BIGQUERY_TYPES = {
    contract.STRING: "STRING",
    contract.DOUBLE: "FLOAT64",
    contract.INTEGER: "INT64",
    contract.BIGINT: "INT64",
    contract.BOOLEAN: "BOOL",
    contract.DATE: "DATE",
    contract.TIMESTAMP: "TIMESTAMP",
}
# The Parquet a load job reads: UTC-adjusted microsecond timestamps are BigQuery TIMESTAMPs.
ARROW_TYPES = {
    contract.STRING: pa.string(),
    contract.DOUBLE: pa.float64(),
    contract.INTEGER: pa.int64(),
    contract.BIGINT: pa.int64(),
    contract.BOOLEAN: pa.bool_(),
    contract.DATE: pa.date32(),
    contract.TIMESTAMP: pa.timestamp("us", tz="UTC"),
}


# --- physical layout ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TableLayout:
    """How BigQuery stores a table: its partitioning column and granularity, its clustering."""

    partition_column: str | None = None
    partition_granularity: str = bigquery.TimePartitioningType.DAY
    clustering: tuple[str, ...] = ()


# BigQuery clusters by at most four columns.
MAX_CLUSTERING_COLUMNS = 4

STREAMING_LAYOUTS = {
    # Clustered by window first: a micro-batch's MERGE names its windows' range, so it reads the
    # blocks of the last minutes, not the day's partition.
    contract.ENGAGEMENT_HEALTH_REALTIME.qualified_name: TableLayout(
        "window_start", clustering=contract.ENGAGEMENT_HEALTH_GRAIN[:MAX_CLUSTERING_COLUMNS]
    ),
    # Quarantined messages are rare; their key is what a MERGE looks up.
    contract.QUARANTINED_EVENTS.qualified_name: TableLayout(clustering=contract.QUARANTINED_EVENTS.upsert_key),
    # Looked up by key on every micro-batch, whatever its age: clustering keeps that read small.
    contract.STREAM_BATCHES.qualified_name: TableLayout(clustering=contract.STREAM_BATCHES.upsert_key),
}


def layout_of(table: WarehouseTable) -> TableLayout:
    """A monthly table by month, a daily one by day; a streaming table as listed above; any other by
    its grain. Replacing months or days then deletes whole partitions."""
    if table.qualified_name in STREAMING_LAYOUTS:
        return STREAMING_LAYOUTS[table.qualified_name]
    for column, granularity in (
        (table.month_column, bigquery.TimePartitioningType.MONTH),
        (table.day_column, bigquery.TimePartitioningType.DAY),
    ):
        if column:
            rest = tuple(name for name in table.grain if name != column)
            return TableLayout(column, granularity, rest[:MAX_CLUSTERING_COLUMNS])
    return TableLayout(clustering=table.grain[:MAX_CLUSTERING_COLUMNS])


def bigquery_schema(table: WarehouseTable) -> list[bigquery.SchemaField]:
    return [
        bigquery.SchemaField(c.name, BIGQUERY_TYPES[c.type], mode="NULLABLE" if c.nullable else "REQUIRED")
        for c in table.columns
    ]


def arrow_schema(table: WarehouseTable) -> pa.Schema:
    return pa.schema([pa.field(c.name, ARROW_TYPES[c.type], nullable=c.nullable) for c in table.columns])


# --- SQL text ----------------------------------------------------------------------------------


def quoted(name: str) -> str:
    # Backticks: some contract columns ("partition", "offset") are keywords.
    return f"`{name}`"


def sql_literal(value: object) -> str:
    """``value`` as a BigQuery SQL literal; a naive datetime is UTC."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, Integral):
        return str(int(value))
    if isinstance(value, Real):
        return repr(float(value))
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value:%Y-%m-%d %H:%M:%S.%f}'"
    if isinstance(value, date):
        return f"DATE '{value:%Y-%m-%d}'"
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
        return f"'{escaped}'"
    raise TypeError(f"no SQL literal for {type(value).__name__}")


def transaction(statements: Sequence[str]) -> str:
    return "\n".join(["BEGIN TRANSACTION;", *(f"{statement};" for statement in statements), "COMMIT TRANSACTION;"])


def insert_sql(target: str, source: str, columns: Sequence[str]) -> str:
    names = ", ".join(quoted(name) for name in columns)
    return f"INSERT INTO {target} ({names}) SELECT {names} FROM {source}"


def merge_sql(
    target: str, source: str, table: WarehouseTable, partition_range: tuple[object, object] | None = None
) -> str:
    """Replaces the target's rows whose upsert key the source holds, inserts the others."""
    on = [f"T.{quoted(key)} = S.{quoted(key)}" for key in table.upsert_key]
    if partition_range is not None:
        column = quoted(layout_of(table).partition_column)
        on.append(f"T.{column} BETWEEN {sql_literal(partition_range[0])} AND {sql_literal(partition_range[1])}")
    updated = [name for name in table.column_names if name not in table.upsert_key]
    names = ", ".join(quoted(name) for name in table.column_names)
    return (
        f"MERGE {target} T USING {source} S ON {' AND '.join(on)} "
        f"WHEN MATCHED THEN UPDATE SET {', '.join(f'{quoted(n)} = S.{quoted(n)}' for n in updated)} "
        f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({', '.join(f'S.{quoted(n)}' for n in table.column_names)})"
    )


def once_per_batch(committed_check: str, statements: Sequence[str]) -> str:
    """A transaction that runs ``statements`` unless ``committed_check`` finds the batch committed;
    the script's result is whether it was."""
    return "\n".join(
        [
            "DECLARE already_committed BOOL DEFAULT FALSE;",
            "BEGIN TRANSACTION;",
            f"SET already_committed = EXISTS ({committed_check});",
            "IF NOT already_committed THEN",
            *(f"  {statement};" for statement in statements),
            "END IF;",
            "COMMIT TRANSACTION;",
            "SELECT already_committed;",
        ]
    )


def one_line(error: GoogleAPICallError) -> str:
    return (str(error.message).strip().splitlines() or [type(error).__name__])[0]


def naive_utc(frame: pd.DataFrame) -> pd.DataFrame:
    """TIMESTAMP columns as naive UTC, the interface's convention (BigQuery returns them tz-aware)."""
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.DatetimeTZDtype):
            frame[name] = frame[name].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


# --- the warehouse -----------------------------------------------------------------------------


@dataclass
class BigQueryWarehouse:
    """The warehouse in the client's project; datasets and tables are created when first needed."""

    client: bigquery.Client
    _ready: set[str] = field(default_factory=set, init=False, repr=False)

    def table_id(self, dataset: str, name: str) -> str:
        return f"{quoted(self.client.project)}.{quoted(dataset)}.{quoted(name)}"

    def target(self, table: WarehouseTable) -> str:
        return self.table_id(table.dataset, table.name)

    # --- datasets, tables, staging ---------------------------------------------------------------

    def _ensure_datasets(self) -> None:
        if "datasets" in self._ready:
            return
        for name in contract.WAREHOUSE_DATASETS:
            self.client.create_dataset(bigquery.Dataset(f"{self.client.project}.{name}"), exists_ok=True)
        staging = bigquery.Dataset(f"{self.client.project}.{STAGING_DATASET}")
        staging.default_table_expiration_ms = STAGING_TABLE_LIFETIME_MS
        staging.description = "Load jobs land here; a transaction moves their rows on and the table is dropped."
        self.client.create_dataset(staging, exists_ok=True)
        self._ready.add("datasets")

    def _ensure_table(self, table: WarehouseTable) -> None:
        if table.qualified_name in self._ready:
            return
        self._ensure_datasets()
        layout = layout_of(table)
        definition = bigquery.Table(f"{self.client.project}.{table.qualified_name}", schema=bigquery_schema(table))
        if layout.partition_column:
            definition.time_partitioning = bigquery.TimePartitioning(
                type_=layout.partition_granularity, field=layout.partition_column
            )
        definition.clustering_fields = list(layout.clustering) or None
        self.client.create_table(definition, exists_ok=True)
        self._ready.add(table.qualified_name)

    @contextlib.contextmanager
    def _staged(self, table: WarehouseTable, rows: pd.DataFrame) -> Iterator[str | None]:
        """``rows`` loaded into a new staging table shaped like ``table``; None when there are none."""
        if rows.empty:
            yield None
            return
        self._ensure_datasets()
        name = f"{table.name}_{uuid.uuid4().hex}"
        staging = f"{self.client.project}.{STAGING_DATASET}.{name}"
        parquet = io.BytesIO()
        schema = arrow_schema(table)
        pq.write_table(pa.Table.from_pandas(rows[list(schema.names)], schema=schema, preserve_index=False), parquet)
        parquet.seek(0)
        # No size given: a resumable upload (the emulator refuses multipart uploads under 5 MiB).
        self.client.load_table_from_file(
            parquet,
            staging,
            job_config=bigquery.LoadJobConfig(
                source_format=bigquery.SourceFormat.PARQUET,
                schema=bigquery_schema(table),
                write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
            ),
        ).result()
        try:
            yield self.table_id(STAGING_DATASET, name)
        finally:
            # A table left behind expires with the staging dataset's default lifetime.
            with contextlib.suppress(GoogleAPICallError):
                self.client.delete_table(staging, not_found_ok=True)

    def _merge(self, table: WarehouseTable, staging: str, rows: pd.DataFrame) -> str:
        """The MERGE of staged ``rows``, reading only the target partitions they fall in."""
        column = layout_of(table).partition_column
        bounds = (rows[column].min(), rows[column].max()) if column else None
        return merge_sql(self.target(table), staging, table, bounds)

    def _run(self, script: str) -> list[tuple]:
        return [tuple(row.values()) for row in self.client.query(script).result()]

    # --- batch layer -----------------------------------------------------------------------------

    def replace_rows(self, table: WarehouseTable, rows: pd.DataFrame, months: tuple[date, date] | None = None) -> int:
        if months is None:
            return self._replace(table, rows, "TRUE")
        column = quoted(table.month_column)
        return self._replace(
            table, rows, f"{column} >= {sql_literal(months[0])} AND {column} < {sql_literal(months[1])}"
        )

    # --- serving layer ---------------------------------------------------------------------------

    def replace_days(self, table: WarehouseTable, rows: pd.DataFrame, days: tuple[date, date]) -> int:
        start, end = (datetime.combine(day, datetime.min.time()) for day in days)
        column = quoted(table.day_column)
        return self._replace(table, rows, f"{column} >= {sql_literal(start)} AND {column} < {sql_literal(end)}")

    def create_serving_view(self) -> None:
        for table in (contract.ENGAGEMENT_HEALTH_REALTIME, contract.ENGAGEMENT_HEALTH_BATCH):
            self._ensure_table(table)
        dataset, name = contract.ENGAGEMENT_HEALTH_SERVING.split(".")
        self._run(f"CREATE OR REPLACE VIEW {self.table_id(dataset, name)} AS {serving_view_sql()}")

    def _replace(self, table: WarehouseTable, rows: pd.DataFrame, condition: str) -> int:
        """Deletes the rows ``condition`` holds and inserts ``rows``, in one transaction."""
        self._ensure_table(table)
        with self._staged(table, rows) as staging:
            statements = [f"DELETE FROM {self.target(table)} WHERE {condition}"]
            if staging:
                statements.append(insert_sql(self.target(table), staging, table.column_names))
            self._run(transaction(statements))
        return len(rows)

    # --- readers ---------------------------------------------------------------------------------

    def query(self, sql: str) -> pd.DataFrame:
        try:
            result = self.client.query(sql).result().to_arrow(create_bqstorage_client=False)
        except GoogleAPICallError as error:
            raise WarehouseError(one_line(error)) from error
        return naive_utc(result.to_pandas())

    def table_exists(self, table: str) -> bool:
        try:
            self.client.get_table(f"{self.client.project}.{table}")
        except NotFound:
            return False
        return True

    # --- speed layer -----------------------------------------------------------------------------

    def create_streaming_tables(self) -> None:
        for table in contract.STREAMING_TABLES:
            self._ensure_table(table)

    def commit_micro_batch(self, batch: MicroBatch, committed_at: datetime) -> BatchReport | None:
        report = BatchReport.of(batch, committed_at)
        realtime, quarantine, batches = contract.STREAMING_TABLES
        self.create_streaming_tables()
        quarantined = batch.inputs.quarantined.assign(batch_id=batch.batch_id, query_id=batch.query_id)
        with (
            self._staged(realtime, batch.aggregates) as aggregates,
            self._staged(quarantine, quarantined) as messages,
        ):
            writes = []
            if aggregates:
                writes.append(self._merge(realtime, aggregates, batch.aggregates))
            if messages:
                writes.append(self._merge(quarantine, messages, quarantined))
            row = report_row(report)
            writes.append(
                f"INSERT INTO {self.target(batches)} ({', '.join(quoted(n) for n in batches.column_names)}) "
                f"VALUES ({', '.join(sql_literal(row[n]) for n in batches.column_names)})"
            )
            committed_check = (
                f"SELECT 1 FROM {self.target(batches)} "
                f"WHERE query_id = {sql_literal(batch.query_id)} AND batch_id = {sql_literal(batch.batch_id)}"
            )
            [(already_committed,)] = self._run(once_per_batch(committed_check, writes))
        return None if already_committed else report

    def latest_batch(self) -> BatchReport | None:
        batches = contract.STREAM_BATCHES
        if not self.table_exists(batches.qualified_name):
            return None
        rows = self.query(
            f"SELECT {', '.join(BATCH_REPORT_COLUMNS)} FROM {self.target(batches)} "
            "ORDER BY committed_at DESC, batch_id DESC LIMIT 1"
        )
        if rows.empty:
            return None
        values = {name: _python_value(value) for name, value in rows.iloc[0].items()}
        return report_from_row(values)


def _python_value(value: object) -> object:
    """A value of a query's frame as the interface's Python types: naive datetime, int, None."""
    if pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if isinstance(value, Integral):
        return int(value)
    return value
