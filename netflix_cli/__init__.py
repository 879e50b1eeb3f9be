"""`netflix-lambda`: the command line, the top layer (it may use every package below it)."""
