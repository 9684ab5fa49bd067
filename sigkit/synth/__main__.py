"""`python -m sigkit.synth OUT ...` is `sigkit synth OUT ...`."""

import sys

from sigkit.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["synth", *sys.argv[1:]]))
