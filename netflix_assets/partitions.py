"""The one monthly partitioning shared by every monthly asset of the batch layer."""

import dagster as dg

# Early enough for any history the generator or the Kaggle data produce; the current month
# is a partition too (end_offset=1), so the daily schedule can refresh it while it fills.
FIRST_MONTH = "2020-01-01"

monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=FIRST_MONTH, end_offset=1)

# A backfill of many months is one run: one Spark session reads the raw files once.
single_run_backfill = dg.BackfillPolicy.single_run()
