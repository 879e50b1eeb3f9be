"""Spark schemas derived from the contract's logical types (``contract.py``).

Raw CSVs are read as text under the contract's column names and cast with these types, so a
value of the wrong type becomes a rejected row with its reason instead of a silent NULL.
"""

from __future__ import annotations

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from netflix_core import contract

SPARK_TYPES: dict[str, DataType] = {
    contract.STRING: StringType(),
    contract.DOUBLE: DoubleType(),
    contract.INTEGER: IntegerType(),
    contract.BIGINT: LongType(),
    contract.BOOLEAN: BooleanType(),
    contract.DATE: DateType(),
    contract.TIMESTAMP: TimestampType(),
}


def _struct(columns: tuple[tuple[str, str], ...]) -> StructType:
    return StructType([StructField(name, SPARK_TYPES[logical]) for name, logical in columns])


RAW_SCHEMAS: dict[str, StructType] = {table: _struct(columns) for table, columns in contract.RAW_COLUMN_TYPES.items()}

# A watch event on Kafka: the watch_history columns plus its event time; watch_date stays text
# because events carry it in either of the two date forms.
WATCH_EVENT_SCHEMA = StructType(
    [StructField(f.name, StringType() if f.name == "watch_date" else f.dataType) for f in RAW_SCHEMAS["watch_history"]]
    + [StructField("timestamp", StringType())]
)


def table_schema(table: contract.WarehouseTable) -> StructType:
    return StructType([StructField(c.name, SPARK_TYPES[c.type], nullable=c.nullable) for c in table.columns])


def conform(rows: DataFrame, table: contract.WarehouseTable) -> DataFrame:
    """``rows`` with exactly the table's columns, in contract order and types."""
    columns: list[SparkColumn] = [F.col(c.name).cast(SPARK_TYPES[c.type]).alias(c.name) for c in table.columns]
    return rows.select(*columns)


def _fields(table: contract.WarehouseTable, names: tuple[str, ...]) -> list[StructField]:
    types = {c.name: SPARK_TYPES[c.type] for c in table.columns}
    return [StructField(name, types[name]) for name in names]


# The archive of valid watch events (``contract.WATCH_EVENTS_ARCHIVE``): the event's fields, its
# event time, its Kafka coordinates (typed as in quarantined_events), and the folders it sits in,
# which Spark reads back as columns.
WATCH_EVENT_ARCHIVE_SCHEMA = StructType(
    [
        *WATCH_EVENT_SCHEMA.fields,
        StructField("event_time", TimestampType()),
        *_fields(contract.QUARANTINED_EVENTS, contract.ARCHIVE_KAFKA_COLUMNS),
        StructField("event_date", DateType()),
        *_fields(contract.STREAM_BATCHES, ("query_id", "batch_id")),
    ]
)
