"""hmmlearn's ``hmmlearn.vhmm`` names with hmmlearn 0.3.3's semantics, so that
``from fasthmm import vhmm`` is a drop-in for ``from hmmlearn import vhmm``.

The same models as ``fasthmm.VariationalGaussianHMM`` and
``fasthmm.VariationalCategoricalHMM`` with hmmlearn's convergence monitor,
sampling stream and pickles (see :mod:`fasthmm._hmmlearn_compat`).
"""

from . import variational
from ._hmmlearn_compat import (
    HmmlearnBase,
    HmmlearnSymbols,
    VariationalHmmlearnMonitor,
)


class VariationalCategoricalHMM(
    HmmlearnSymbols, HmmlearnBase, variational.VariationalCategoricalHMM
):
    __doc__ = variational.VariationalCategoricalHMM.__doc__
    _registry_name = "vhmm.VariationalCategoricalHMM"
    _monitor_class = VariationalHmmlearnMonitor


class VariationalGaussianHMM(HmmlearnBase, variational.VariationalGaussianHMM):
    __doc__ = variational.VariationalGaussianHMM.__doc__
    _registry_name = "vhmm.VariationalGaussianHMM"
    _monitor_class = VariationalHmmlearnMonitor


__all__ = ["VariationalCategoricalHMM", "VariationalGaussianHMM"]
