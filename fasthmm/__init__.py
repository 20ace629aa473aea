"""fasthmm: Hidden Markov Models with Numba-compiled EM and Viterbi."""

from ._threads import prefer_passive_waiting

prefer_passive_waiting()  # before Numba starts its OpenMP threads

# ruff: noqa: E402

from . import hmm, vhmm  # noqa: E402,F401  (hmmlearn's namespaces, loadable)
from ._progress import set_progress
from ._validation import NotFittedError
from ._version import __version__
from .base import BaseHMM, ConvergenceMonitor
from .inference import (
    forward,
    forward_backward,
    forward_filter,
    stream_filter,
    viterbi,
)
from .io import load_model as load
from .models import GMMHMM, CategoricalHMM, GaussianHMM, MultinomialHMM, PoissonHMM
from .selection import SelectionResult, select_n_components
from .variational import VariationalCategoricalHMM, VariationalGaussianHMM

__all__ = [
    "BaseHMM",
    "CategoricalHMM",
    "ConvergenceMonitor",
    "GaussianHMM",
    "GMMHMM",
    "MultinomialHMM",
    "NotFittedError",
    "PoissonHMM",
    "SelectionResult",
    "forward",
    "forward_backward",
    "forward_filter",
    "load",
    "select_n_components",
    "set_progress",
    "stream_filter",
    "VariationalCategoricalHMM",
    "VariationalGaussianHMM",
    "viterbi",
    "__version__",
]
