"""Emission families: each knows only its own parameters (see ``_base``)."""

from ._base import Emission, InvalidParameter
from .categorical import CategoricalEmission
from .gaussian import GaussianEmission
from .gmm import GMMEmission
from .multinomial import MultinomialEmission
from .poisson import PoissonEmission

__all__ = [
    "Emission",
    "InvalidParameter",
    "CategoricalEmission",
    "GaussianEmission",
    "GMMEmission",
    "MultinomialEmission",
    "PoissonEmission",
]
