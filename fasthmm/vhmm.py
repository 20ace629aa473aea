"""hmmlearn's ``hmmlearn.vhmm`` names, so that ``from fasthmm import vhmm`` is
a drop-in for ``from hmmlearn import vhmm``."""

from .variational import VariationalCategoricalHMM, VariationalGaussianHMM

__all__ = ["VariationalCategoricalHMM", "VariationalGaussianHMM"]
