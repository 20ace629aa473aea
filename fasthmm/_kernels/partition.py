"""How a batch is split into blocks for the parallel kernels: every constant here.

Each split depends only on the data's size (never on the thread count), and
partial sums over blocks are added in a fixed order, so every result is the
same for any number of threads.
"""

import numpy as np
from numba.extending import register_jitable

#: Rows per block when turning log-emissions into the shifted frame.
FRAME_ROWS = 256
#: Exponentiated log-emissions a thread keeps at a time when a kernel reads
#: log-emissions directly (a chunk of ``max(1, CHUNK_VALUES // n_components)``
#: rows of one sequence: small enough to stay in the L1 cache).
CHUNK_VALUES = 1024
#: Rows per block of the Gaussian log-density kernels.
DENSITY_ROWS = 1024
#: Fewest rows per block of the weighted sums (statistics of the emissions).
STATS_ROWS = 1024
#: Most blocks of the weighted sums: longer data get longer blocks.
MAX_STATS_BLOCKS = 256
#: Fewest rows for which the symbol counts split their symbols among threads.
MIN_PARALLEL_COUNT_ROWS = 4096
#: Most blocks of whole sequences in a batch kernel.
MAX_SEQUENCE_BLOCKS = 64
#: Sequences at least this long run their forward and backward passes at once
#: (two threads), then posteriors and transition counts in chunks of time.
LONG_SEQUENCE = 16384
#: Time steps per chunk of a long sequence's posteriors and transition counts.
TIME_CHUNK = 4096


def block_bounds(starts, max_blocks=MAX_SEQUENCE_BLOCKS):
    """Split a batch into contiguous blocks of sequences of similar total size.

    The split depends only on the sequence lengths, never on the thread count,
    which is what makes every sum over blocks reproducible.

    Parameters
    ----------
    starts : ndarray of shape (n_sequences + 1,)

    Returns
    -------
    blocks : ndarray of shape (n_blocks + 1,), int64
        Sequence indices where the blocks begin, then ``n_sequences``.
    """
    n_seq = starts.shape[0] - 1
    if n_seq <= max_blocks:
        return np.arange(n_seq + 1, dtype=np.int64)
    targets = np.linspace(0, starts[-1], max_blocks + 1)[1:-1]
    cuts = np.searchsorted(starts, targets)
    return np.unique(np.concatenate(([0], cuts, [n_seq]))).astype(np.int64)


@register_jitable
def row_blocks(n_rows):
    """Rows per block and number of blocks of a weighted sum over ``n_rows`` rows.

    Depends only on ``n_rows``: blocks of at least :data:`STATS_ROWS` rows, at
    most :data:`MAX_STATS_BLOCKS` of them (so the per-block partial sums stay
    small). A Python function that kernels call too: Python callers
    compile nothing.

    Returns
    -------
    rows, n_blocks : int
    """
    rows = max(STATS_ROWS, (n_rows + MAX_STATS_BLOCKS - 1) // MAX_STATS_BLOCKS)
    return rows, max(1, (n_rows + rows - 1) // rows)
