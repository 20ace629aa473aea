"""hmmlearn's ``hmmlearn.hmm`` names with hmmlearn 0.3.3's semantics, so that
``from fasthmm import hmm`` is a drop-in for ``from hmmlearn import hmm``.

The same models as ``fasthmm.GaussianHMM``, ... with hmmlearn's
initialisation and random draws, ``min_covar`` at initialisation only,
hmmlearn's ``covars_`` getter, convergence monitor and sampling, and loading
of hmmlearn's pickles (see :mod:`fasthmm._hmmlearn_compat` and
docs/guide.md, "hmmlearn's semantics or fasthmm's").
"""

from . import models
from ._hmmlearn_compat import (
    HmmlearnCovars,
    HmmlearnMonitor,
    HmmlearnSemantics,
    HmmlearnSymbols,
)

#: What hmmlearn pickles as ``hmmlearn.base.ConvergenceMonitor`` loads as.
ConvergenceMonitor = HmmlearnMonitor


class CategoricalHMM(HmmlearnSymbols, HmmlearnSemantics, models.CategoricalHMM):
    __doc__ = models.CategoricalHMM.__doc__
    _registry_name = "hmm.CategoricalHMM"


class GaussianHMM(HmmlearnCovars, HmmlearnSemantics, models.GaussianHMM):
    __doc__ = models.GaussianHMM.__doc__
    _registry_name = "hmm.GaussianHMM"


class GMMHMM(HmmlearnSemantics, models.GMMHMM):
    __doc__ = models.GMMHMM.__doc__
    _registry_name = "hmm.GMMHMM"


class MultinomialHMM(HmmlearnSemantics, models.MultinomialHMM):
    __doc__ = models.MultinomialHMM.__doc__
    _registry_name = "hmm.MultinomialHMM"


class PoissonHMM(HmmlearnSemantics, models.PoissonHMM):
    __doc__ = models.PoissonHMM.__doc__
    _registry_name = "hmm.PoissonHMM"


__all__ = [
    "CategoricalHMM",
    "ConvergenceMonitor",
    "GaussianHMM",
    "GMMHMM",
    "MultinomialHMM",
    "PoissonHMM",
]
