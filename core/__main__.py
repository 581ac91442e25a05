"""``python -m core ...``: the command-line entry point (also the ``optimization-dashboard`` script)."""

from __future__ import annotations

import sys

from core.cli import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m core"))
