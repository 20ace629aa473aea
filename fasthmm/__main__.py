"""``python -m fasthmm ...``: the command line (see :mod:`fasthmm.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
