"""Development tools, apart from the platform: the data generator and the local Kafka broker."""
