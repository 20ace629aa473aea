"""fasthmm: Hidden Markov Models with Numba-compiled EM and Viterbi."""

from ._validation import NotFittedError
from .inference import forward, forward_backward, forward_filter, viterbi

__version__ = "0.1.0"

__all__ = [
    "NotFittedError",
    "forward",
    "forward_backward",
    "forward_filter",
    "viterbi",
    "__version__",
]
