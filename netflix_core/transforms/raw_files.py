"""Reading the raw CSVs: text first, so that nothing is lost before the cleaning rules see it."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from netflix_core.contract import RAW_COLUMNS

CORRUPT_RECORD = "_corrupt_record"

# Files with free text, where a quoted field may hold a line break (watch_history has only ids,
# enums, numbers and dates).
FREE_TEXT_TABLES = frozenset({"users", "movies", "reviews", "search_logs"})


class RawInputError(ValueError):
    """A raw file that cannot be read as its table at all (absent, or columns missing)."""


def read_header(spark: SparkSession, path: str) -> list[str]:
    """The file's column names, read from its first line (no type inference)."""
    try:
        return spark.read.option("header", True).csv(path).columns
    except Exception as error:  # Spark raises AnalysisException for a missing path
        raise RawInputError(f"cannot read {path}: {str(error).splitlines()[0]}") from error


def missing_columns(header: list[str], table: str) -> list[str]:
    return [column for column in RAW_COLUMNS[table] if column not in header]


def read_raw_csv(spark: SparkSession, path: str, table: str) -> DataFrame:
    """The raw rows of one input, every expected column as text plus ``_corrupt_record``.

    The schema is built from the file's own header, so extra or reordered columns are fine and a
    missing one is a clear error. A line with too few or too many fields keeps its text in
    ``_corrupt_record`` and later becomes a ``bad_value`` rejection.
    """
    header = read_header(spark, path)
    missing = missing_columns(header, table)
    if missing:
        raise RawInputError(
            f"{path} is not a valid {table} file: missing column(s) {', '.join(missing)}; "
            f"found {', '.join(header) or 'no header'}"
        )
    schema = StructType(
        [StructField(name, StringType()) for name in header] + [StructField(CORRUPT_RECORD, StringType())]
    )
    raw = _read_csv(spark, path, schema, multi_line=False)
    if table in FREE_TEXT_TABLES and _has_malformed_lines(raw):
        # Perhaps a quoted line break: only a whole-file parse (one task, so not the default)
        # reads it as one row. Lines that are malformed anyway stay malformed.
        raw = _read_csv(spark, path, schema, multi_line=True)
    return raw.select(*RAW_COLUMNS[table], CORRUPT_RECORD)


def _read_csv(spark: SparkSession, path: str, schema: StructType, multi_line: bool) -> DataFrame:
    return (
        spark.read.schema(schema)
        .option("header", True)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
        # Quotes inside a quoted field are doubled ("He said ""wow"""), as pandas and csv write them.
        .option("escape", '"')
        .option("multiLine", multi_line)
        .csv(path)
    )


def _has_malformed_lines(raw: DataFrame) -> bool:
    # Whole rows are fetched: a parse pruned to fewer columns does not flag malformed lines.
    return bool(raw.filter(F.col(CORRUPT_RECORD).isNotNull()).limit(1).collect())
