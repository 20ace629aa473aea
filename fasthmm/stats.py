"""Sufficient statistics of a batch: what the E-step produces and the M-step reads.

Statistics of disjoint batches add up (``a + b``), which is what lets the
same EM loop run over one array, blocks of a file too large for memory, or
partitions on several machines: only the way the statistics are produced
changes. Adding in a fixed order gives bit-identical results.
"""

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Stats:
    """Expected sufficient statistics of one or more sequences.

    Attributes
    ----------
    start : ndarray of shape (n_components,)
        Posterior probability of each first state, summed over sequences.
    trans : ndarray of shape (n_components, n_components)
        Expected transition counts, summed over time and sequences.
    emission : dict of str to ndarray
        The emission family's statistics (see
        :meth:`fasthmm.emissions.Emission.suff_stats`); summed key by key.
    log_likelihood : float
        Log-likelihood of the sequences under the parameters of the E-step.
    n_sequences : int
    n_samples : int
    """

    start: np.ndarray
    trans: np.ndarray
    emission: dict = field(default_factory=dict)
    log_likelihood: float = 0.0
    n_sequences: int = 0
    n_samples: int = 0

    def __add__(self, other):
        if not isinstance(other, Stats):
            return NotImplemented
        if self.emission.keys() != other.emission.keys():
            raise ValueError(
                "cannot add statistics of different emission families: keys "
                f"{sorted(self.emission)} and {sorted(other.emission)}"
            )
        return Stats(
            start=self.start + other.start,
            trans=self.trans + other.trans,
            emission={k: v + other.emission[k] for k, v in self.emission.items()},
            log_likelihood=self.log_likelihood + other.log_likelihood,
            n_sequences=self.n_sequences + other.n_sequences,
            n_samples=self.n_samples + other.n_samples,
        )

    def __radd__(self, other):
        # sum() starts from 0.
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented
