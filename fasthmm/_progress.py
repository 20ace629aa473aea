"""Progress on long work (EM iterations, the fits of ``select_n_components``).

Nothing is shown for work that ends within :data:`AFTER_SECONDS`. Past that,
the progress is shown on stderr according to the mode:

- ``"auto"`` (the default): a tqdm bar when tqdm is installed (the
  ``[progress]`` extra), otherwise nothing;
- ``"line"``: one plain line, updated in place (the command line's default);
- ``"off"``: nothing.

The mode is read from the environment variable ``FASTHMM_PROGRESS`` when
fasthmm is imported and set with :func:`set_progress`. A model with
``verbose=True`` prints its own line per iteration instead, and work nested
inside other work (the fits of ``select_n_components``) shows only the outer
progress.
"""

import os
import sys
import time

MODES = ("auto", "line", "off")
#: Work shorter than this (seconds) shows no progress.
AFTER_SECONDS = 2.0

_state = {"mode": os.environ.get("FASTHMM_PROGRESS", "auto"), "depth": 0}
if _state["mode"] not in MODES:
    _state["mode"] = "auto"


def set_progress(mode):
    """Choose how long work shows progress: "auto", "line" or "off".

    Returns the previous mode.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    previous, _state["mode"] = _state["mode"], mode
    return previous


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


class Progress:
    """Progress of ``total`` steps, shown once the work has lasted long enough.

    Use as a context manager around the work; inner ``Progress`` objects
    created inside it stay silent.
    """

    def __init__(self, total, desc, quiet=False):
        self.total, self.desc = total, desc
        self.start = time.perf_counter()
        self.quiet = quiet or _state["mode"] == "off" or _state["depth"] > 0
        self.bar = None
        self.line = False

    def __enter__(self):
        _state["depth"] += 1
        return self

    def __exit__(self, *exc):
        _state["depth"] -= 1
        self.close()

    def restart_clock(self):
        """Count the time from now (e.g. after a first step that compiled)."""
        self.start = time.perf_counter()

    def update(self, done, note=""):
        """Record that ``done`` of ``total`` steps are finished."""
        if self.quiet:
            return
        if self.bar is None and not self.line:
            if time.perf_counter() - self.start < AFTER_SECONDS:
                return
            tqdm = _tqdm() if _state["mode"] == "auto" else None
            if tqdm is not None:
                self.bar = tqdm(total=self.total, desc=self.desc, file=sys.stderr)
            elif _state["mode"] == "line":
                self.line = True
            else:
                self.quiet = True
                return
        if self.bar is not None:
            self.bar.n = done
            self.bar.set_postfix_str(note, refresh=False)
            self.bar.refresh()
        else:
            print(
                f"\r{self.desc}: {done}/{self.total} {note}",
                end="",
                file=sys.stderr,
                flush=True,
            )
        if done >= self.total:
            self.close()

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.line:
            print(file=sys.stderr, flush=True)
            self.line = False
        self.quiet = True
