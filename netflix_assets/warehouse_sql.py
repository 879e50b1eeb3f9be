"""SQL the warehouse writers send: table DDL derived from the Spark schema of each output."""

from __future__ import annotations

from pyspark.sql.types import (
    BooleanType,
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructType,
    TimestampType,
)

_DUCKDB_TYPES: dict[type[DataType], str] = {
    StringType: "VARCHAR",
    DoubleType: "DOUBLE",
    LongType: "BIGINT",
    IntegerType: "INTEGER",
    BooleanType: "BOOLEAN",
    DateType: "DATE",
    TimestampType: "TIMESTAMP",
}


def duckdb_type(dtype: DataType) -> str:
    return _DUCKDB_TYPES[type(dtype)]


def create_table_sql(qualified_name: str, schema: StructType) -> str:
    columns = ", ".join(f"{field.name} {duckdb_type(field.dataType)}" for field in schema)
    return f"CREATE TABLE IF NOT EXISTS {qualified_name} ({columns})"
