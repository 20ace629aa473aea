"""Variational Bayes (VB-EM) for HMMs: posterior components over the same
kernels and the same EM loop (see :mod:`fasthmm.variational.models`)."""

from .models import VariationalCategoricalHMM, VariationalGaussianHMM

__all__ = ["VariationalCategoricalHMM", "VariationalGaussianHMM"]
