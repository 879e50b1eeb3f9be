"""Development tools, apart from the platform: the data generator, the local Kafka broker, the GCS and BigQuery emulators."""
