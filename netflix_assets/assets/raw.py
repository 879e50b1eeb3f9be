"""``raw/<file>``: the five input files, registered with their location and header."""

import dagster as dg

from netflix_assets.keys import raw_key
from netflix_assets.resources import LakeResource, SparkResource
from netflix_core.contract import RAW_COLUMNS, RAW_TABLES
from netflix_core.transforms.raw_files import missing_columns, read_header

HAS_EXPECTED_COLUMNS = "has_expected_columns"


def _raw_asset(table: str) -> dg.AssetsDefinition:
    @dg.asset(
        key=raw_key(table),
        group_name="raw",
        kinds={"spark", "csv"},
        description=f"The raw {table}.csv under NETFLIX_RAW_URI (a GCS bucket in prod).",
        check_specs=[
            dg.AssetCheckSpec(
                HAS_EXPECTED_COLUMNS,
                asset=raw_key(table),
                blocking=True,
                description=f"The header names every column of the contract: {', '.join(RAW_COLUMNS[table])}.",
            )
        ],
    )
    def raw_file(spark: SparkResource, lake: LakeResource) -> dg.MaterializeResult:
        path = lake.paths.raw_path(table)
        header = read_header(spark.get_session(), path)
        missing = missing_columns(header, table)
        return dg.MaterializeResult(
            metadata={"path": dg.MetadataValue.path(path), "columns": dg.MetadataValue.json(header)},
            check_results=[
                dg.AssetCheckResult(
                    check_name=HAS_EXPECTED_COLUMNS,
                    passed=not missing,
                    severity=dg.AssetCheckSeverity.ERROR,
                    metadata={"missing_columns": dg.MetadataValue.json(missing)},
                )
            ],
        )

    return raw_file


raw_assets = [_raw_asset(table) for table in RAW_TABLES]
