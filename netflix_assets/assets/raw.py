"""``raw/<file>``: the five input files, registered with their location and header."""


import dagster as dg

from netflix_assets.resources import LakeResource, SparkResource
from netflix_assets.schemas import RAW_COLUMNS, RAW_TABLES
from netflix_assets.transforms.raw import missing_columns, read_header


def raw_key(table: str) -> dg.AssetKey:
    return dg.AssetKey(["raw", table])


def _raw_asset(table: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_key(table),
        group_name="raw",
        kinds={"spark", "csv"},
        description=f"The raw {table}.csv under NETFLIX_RAW_URI (a GCS bucket in prod).",
    )
    def raw_file(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
        path = lake.raw_path(table)
        header = read_header(spark.get_session(), path)
        return dg.MaterializeResult(
            metadata={
                "path": dg.MetadataValue.path(path),
                "columns": dg.MetadataValue.json(header),
                "missing_columns": dg.MetadataValue.json(missing_columns(header, table)),
            }
        )

    return raw_file


def _raw_columns_check(table: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=raw_key(table),
        name="has_expected_columns",
        blocking=True,
        description=f"The header names every column of SPEC section 3: {', '.join(RAW_COLUMNS[table])}.",
    )
    def has_expected_columns(spark: SparkResource, lake: LakeResource) -> dg.AssetCheckResult:
        header = read_header(spark.get_session(), lake.raw_path(table))
        missing = missing_columns(header, table)
        return dg.AssetCheckResult(
            passed=not missing,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"missing_columns": dg.MetadataValue.json(missing), "found": dg.MetadataValue.json(header)},
        )

    return has_expected_columns


raw_assets = [_raw_asset(table) for table in RAW_TABLES]
raw_checks = [_raw_columns_check(table) for table in RAW_TABLES]
