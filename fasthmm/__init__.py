"""fasthmm: Hidden Markov Models with Numba-compiled EM and Viterbi.

``import fasthmm`` loads what a first fit needs (the emission families of
:mod:`fasthmm.models`, the inference functions, :func:`fasthmm.load`); the
other names (the semi-Markov and variational models, the tagger, model
selection, the hmmlearn namespaces, datasets, plots) are imported the first
time they are used: ``fasthmm.HMMTagger`` and ``from fasthmm import
HMMTagger`` both work, and ``__all__`` / ``dir(fasthmm)`` list them all.
"""

# ruff: noqa: E402

import importlib
import importlib.util

from ._startup import collector_paused, load_cached_kernels_lightly

with collector_paused():  # NumPy's, Numba's and fasthmm's long-lived objects
    from . import _blas_check
    from ._threads import prefer_passive_waiting

    _blas_check.install()  # before Numba loads its first kernel
    prefer_passive_waiting()  # before Numba starts its OpenMP threads
    load_cached_kernels_lightly()

    # models defines and registers the emission families a first fit uses.
    from . import _registry, models  # noqa: F401
    from ._progress import set_progress
    from ._validation import NotFittedError
    from ._version import __version__
    from .base import BaseHMM, ConvergenceMonitor
    from .forecast import forecast_states
    from .inference import (
        forward,
        forward_backward,
        forward_filter,
        stream_filter,
        viterbi,
    )
    from .io import load_model as load

#: Name -> module (relative to fasthmm) of what is imported on first use.
_LAZY = {
    "GaussianHSMM": ".hsmm.models",
    "CategoricalHSMM": ".hsmm.models",
    "PoissonHSMM": ".hsmm.models",
    "RegressionHMM": ".switching",
    "ARHMM": ".switching",
    "MarkovSwitchingAR": ".msar",
    "HMMTagger": ".tagger",
    "SelectionResult": ".selection",
    "select_n_components": ".selection",
    "VariationalCategoricalHMM": ".variational",
    "VariationalGaussianHMM": ".variational",
}

#: Submodules reachable as ``fasthmm.<name>`` without importing them first.
_SUBMODULES = ("datasets", "hmm", "hsmm", "plot", "tagger", "variational", "vhmm")

# The modules that define model classes: families() and fasthmm.load import
# them when asked, so that every family and every saved kind is found.
_registry.import_on_demand(
    "fasthmm" + module
    for module in (
        ".switching",
        ".hsmm.models",
        ".msar",
        ".variational",
        ".hmm",
        ".vhmm",
    )
)

# The families defined so far (fasthmm.models registers them): GaussianHMM,
# CategoricalHMM, ...
globals().update(
    {cls.__name__: cls for cls in _registry.families(loaded=True).values()}
)


def __getattr__(name):
    """Import a lazily exported name or submodule on first use."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module("." + name, __name__)
    elif importlib.util.find_spec(f"{__name__}.{name}") is not None:
        # A submodule not imported yet (``from fasthmm import cli`` asks here
        # first): the import system imports it, no model module needed.
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    else:
        families = {cls.__name__: cls for cls in _registry.families().values()}
        if name not in families:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = families[name]
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))


__all__ = [
    *(cls.__name__ for cls in _registry.families(loaded=True).values()),
    *_LAZY,
    "BaseHMM",
    "ConvergenceMonitor",
    "NotFittedError",
    "forward",
    "forward_backward",
    "forward_filter",
    "forecast_states",
    "load",
    "set_progress",
    "stream_filter",
    "viterbi",
    "__version__",
]
