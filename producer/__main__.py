"""`python -m producer`: the same as `netflix-lambda produce`."""

import argparse
import sys

from netflix_core.settings import load_settings
from producer.command import add_arguments, run

parser = argparse.ArgumentParser(prog="producer", description="Replay watch events into Kafka.")
add_arguments(parser)
sys.exit(run(parser.parse_args(), load_settings()))
