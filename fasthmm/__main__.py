"""``python -m fasthmm ...``: the command line (see :mod:`fasthmm.cli`)."""

from .cli import main_exit

if __name__ == "__main__":
    main_exit()
