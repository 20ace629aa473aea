"""Hidden semi-Markov models: explicit state durations on Numba kernels.

``GaussianHSMM``, ``CategoricalHSMM`` and ``PoissonHSMM`` replace the
geometric durations of an HMM by a distribution over 1..max_duration steps
(see docs/durations.md). :func:`segments` turns a state path into segments.
"""

from .base import BaseHSMM
from .inference import segments
from .models import CategoricalHSMM, GaussianHSMM, PoissonHSMM

__all__ = ["BaseHSMM", "CategoricalHSMM", "GaussianHSMM", "PoissonHSMM", "segments"]
