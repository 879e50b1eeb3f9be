"""Speed layer (SPEC section 7): Kafka watch events -> Spark Structured Streaming -> netflix_streaming.

``transforms`` holds the DataFrame functions, ``sink`` the exactly-once micro-batch writer and
``job`` the runnable query (``python -m spark_streaming``).
"""
