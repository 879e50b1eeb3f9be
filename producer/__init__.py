"""The watch-event producer of the speed layer (`netflix-lambda produce`, `python -m producer`)."""

from producer.producer import ProduceSummary, iter_events, produce

__all__ = ["ProduceSummary", "iter_events", "produce"]
