"""fasthmm: Hidden Markov Models with Numba-compiled EM and Viterbi."""

from ._threads import prefer_passive_waiting

prefer_passive_waiting()  # before Numba starts its OpenMP threads

# ruff: noqa: E402

# models defines and registers the families; hmm and vhmm are hmmlearn's
# namespaces (their classes registered for fasthmm.load).
from . import hmm, models, vhmm  # noqa: F401
from . import switching as _switching  # noqa: F401  (RegressionHMM, ARHMM)
from ._progress import set_progress
from ._registry import families as _families
from ._validation import NotFittedError
from ._version import __version__
from .base import BaseHMM, ConvergenceMonitor
from .forecast import forecast_states
from .hsmm import models as _hsmm_models  # noqa: F401  (semi-Markov families)
from .inference import (
    forward,
    forward_backward,
    forward_filter,
    stream_filter,
    viterbi,
)
from .io import load_model as load
from .msar import MarkovSwitchingAR
from .selection import SelectionResult, select_n_components
from .tagger import HMMTagger
from .variational import VariationalCategoricalHMM, VariationalGaussianHMM

# Every emission family's model (fasthmm.models registers them): GaussianHMM,
# CategoricalHMM, ...
globals().update({cls.__name__: cls for cls in _families().values()})

__all__ = [
    *(cls.__name__ for cls in _families().values()),
    "BaseHMM",
    "ConvergenceMonitor",
    "HMMTagger",
    "MarkovSwitchingAR",
    "NotFittedError",
    "SelectionResult",
    "forward",
    "forward_backward",
    "forward_filter",
    "forecast_states",
    "load",
    "select_n_components",
    "set_progress",
    "stream_filter",
    "VariationalCategoricalHMM",
    "VariationalGaussianHMM",
    "viterbi",
    "__version__",
]
