"""The Numba kernels: pure ``@njit(cache=True, nogil=True)`` functions over float64 / int64 arrays.

``direct``       the forward-backward kernel (every route, long sequences too)
``hmm``          step helpers, the frame of probabilities, Viterbi, sampling
``logspace``     the exact log-space route for the sequences ``hmm`` cannot settle
``expmath``      the vectorised exponential of the shifted log-emissions
``fma``          the fused multiply-add (one rounding) of the recursions
``partition``    how batches are split into blocks (one place, thread-count free)
``categorical``  symbol counts (the categorical statistics)
``gaussian``     Gaussian log-densities (diagonal and Cholesky)
``poisson``      Poisson log-densities

Nothing here validates; the callers (:mod:`fasthmm.inference` and the
emission families) pass checked, contiguous arrays and own every buffer.
"""
