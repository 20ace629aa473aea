"""hmmlearn's ``hmmlearn.vhmm`` names with hmmlearn 0.3.3's semantics, so that
``from fasthmm import vhmm`` is a drop-in for ``from hmmlearn import vhmm``.

The same models as ``fasthmm.VariationalGaussianHMM`` and
``fasthmm.VariationalCategoricalHMM`` with hmmlearn's convergence monitor,
sampling stream and pickles (see :mod:`fasthmm._hmmlearn_compat`).
"""

from . import variational
from ._hmmlearn_compat import (
    HmmlearnSymbols,
    HmmlearnVariational,
)


class VariationalCategoricalHMM(
    HmmlearnSymbols, HmmlearnVariational, variational.VariationalCategoricalHMM
):
    __doc__ = variational.VariationalCategoricalHMM.__doc__
    _registry_name = "vhmm.VariationalCategoricalHMM"


class VariationalGaussianHMM(HmmlearnVariational, variational.VariationalGaussianHMM):
    __doc__ = variational.VariationalGaussianHMM.__doc__
    _registry_name = "vhmm.VariationalGaussianHMM"


__all__ = ["VariationalCategoricalHMM", "VariationalGaussianHMM"]
