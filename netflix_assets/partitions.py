"""The partitionings: months for the batch layer, days for the serving layer's batch view."""

import dagster as dg

# Early enough for any history the generator or the Kaggle data produce; the current month
# is a partition too (end_offset=1), so the daily schedule can refresh it while it fills.
FIRST_MONTH = "2020-01-01"

monthly_partitions = dg.MonthlyPartitionsDefinition(start_date=FIRST_MONTH, end_offset=1)

# The serving layer's batch view: one partition per event day, today's included (it may be
# recomputed on demand while the speed layer still adds to it).
daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_MONTH, end_offset=1)

# A backfill of many months (or days) is one run: one Spark session reads the inputs once.
single_run_backfill = dg.BackfillPolicy.single_run()
