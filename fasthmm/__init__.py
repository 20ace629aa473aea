"""fasthmm: Hidden Markov Models with Numba-compiled EM and Viterbi."""

from ._validation import NotFittedError
from .base import BaseHMM, ConvergenceMonitor
from .inference import forward, forward_backward, forward_filter, viterbi
from .io import load_model as load
from .models import CategoricalHMM, GaussianHMM

__version__ = "0.1.0"

__all__ = [
    "BaseHMM",
    "CategoricalHMM",
    "ConvergenceMonitor",
    "GaussianHMM",
    "NotFittedError",
    "forward",
    "forward_backward",
    "forward_filter",
    "load",
    "viterbi",
    "__version__",
]
