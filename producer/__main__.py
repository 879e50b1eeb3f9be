"""`python -m producer`: the same as `netflix-lambda produce`."""

import sys

from netflix_assets.cli import main

sys.exit(main(["produce", *sys.argv[1:]]))
