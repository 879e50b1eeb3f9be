"""The project's core: settings, the contract's names and schemas, transforms, lake and warehouse I/O.

It knows nothing of Dagster: the speed layer, the producer and the Dagster code location build on it.
"""
