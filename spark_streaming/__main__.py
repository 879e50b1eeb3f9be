"""``python -m spark_streaming`` and ``spark-submit spark_streaming/__main__.py``."""

import sys
from pathlib import Path

if __package__ in (None, ""):
    # spark-submit runs this file as a script: make the project importable as it is with -m.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from spark_streaming.job import cli

if __name__ == "__main__":
    sys.exit(cli())
