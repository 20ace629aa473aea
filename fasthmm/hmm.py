"""hmmlearn's ``hmmlearn.hmm`` names, so that ``from fasthmm import hmm`` is a
drop-in for ``from hmmlearn import hmm``."""

from .models import GMMHMM, CategoricalHMM, GaussianHMM, MultinomialHMM, PoissonHMM

__all__ = [
    "CategoricalHMM",
    "GaussianHMM",
    "GMMHMM",
    "MultinomialHMM",
    "PoissonHMM",
]
