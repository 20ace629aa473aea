"""Emission families: each knows only its own parameters (see ``_base``)."""

from ._base import Emission, merge_stats
from .categorical import CategoricalEmission
from .gaussian import GaussianEmission
from .gmm import GMMEmission
from .poisson import PoissonEmission

__all__ = [
    "Emission",
    "CategoricalEmission",
    "GaussianEmission",
    "GMMEmission",
    "PoissonEmission",
    "merge_stats",
]
